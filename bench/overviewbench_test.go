package main

import (
	"context"
	"database/sql"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/astro-runner/astro-runner/internal/storage"
)

// BenchmarkOverview measures the dashboard's overview (GET /overview's
// first page: 21 plans, each with its newest 20 executions and its runs of
// the last 24 hours, and the failing plans) and the queue's pick-up latency
// (GET /queue/stats) over the executions BenchmarkStats seeds: 100,000 of
// one plan over 7 days and 10,000 of 20 others. ASTRO_BENCH_STATS_ROWS and
// ASTRO_BENCH_PG_URL work as there:
//
//	go test -run '^$' -bench Overview -benchtime 20x
func BenchmarkOverview(b *testing.B) {
	rows := 100_000
	if v := os.Getenv("ASTRO_BENCH_STATS_ROWS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatal(err)
		}
		rows = n
	}
	for _, bk := range []struct {
		name string
		open func(tb testing.TB, rows int) (storage.Store, uuid.UUID, *sql.DB)
	}{
		{"sqlite", statsSQLite},
		{"postgres", statsPostgres},
	} {
		b.Run(bk.name, func(b *testing.B) {
			store, _, _ := bk.open(b, rows)
			ctx := context.Background()
			b.Run("Overview", func(b *testing.B) {
				var ov *storage.Overview
				for b.Loop() {
					until := time.Now()
					var err error
					if ov, err = store.Overview(ctx, &storage.OverviewParams{Since: until.Add(-24 * time.Hour), Until: until}); err != nil {
						b.Fatal(err)
					}
				}
				reportMS(b)
				if len(ov.Plans) != statsPlans+1 || len(ov.Plans[0].Recent) != storage.OverviewRecent {
					b.Fatalf("overview of %d plans", len(ov.Plans))
				}
				b.ReportMetric(float64(len(ov.Failing)), "failing")
			})
			b.Run("ExecutionPickup", func(b *testing.B) {
				for b.Loop() {
					if _, err := store.ExecutionPickup(ctx); err != nil {
						b.Fatal(err)
					}
				}
				reportMS(b)
			})
		})
	}
}
