package main

import (
	"context"
	"testing"
	"time"

	"github.com/astro-runner/astro-runner/internal/schedule"
	"github.com/astro-runner/astro-runner/internal/storage"
)

// burstSchedules is how many schedules BenchmarkScheduleBurst makes due in
// the same second.
const burstSchedules = 10_000

// BenchmarkScheduleBurst measures the scheduler of one node firing 10,000
// schedules that are due in the same second: one op is one Tick, from the
// first claim until every execution and its job are committed. It reports
// executions created per second. The clock is fake and moves an hour per
// op, so every schedule is due again; overlap is allow, so every tick
// fires.
//
//	cd bench && ASTRO_BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable \
//	  go test -run '^$' -bench ScheduleBurst -benchtime 3x .
func BenchmarkScheduleBurst(b *testing.B) {
	for _, f := range fixtures {
		if f.name == "memory" {
			continue
		}
		b.Run(f.name, func(b *testing.B) {
			fx := f.open(b)
			ctx := context.Background()
			p, err := fx.store.PlanCreate(ctx, &storage.PlanCreateParams{Name: planName(), Labels: benchLabels, Document: benchDoc})
			if err != nil {
				b.Fatal(err)
			}
			clock := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
			err = fx.store.InTx(ctx, func(tx storage.Store) error {
				for range burstSchedules {
					if _, err := tx.ScheduleCreate(ctx, &storage.ScheduleCreateParams{
						PlanID: p.ID, Cron: "@every 1m", Overlap: storage.OverlapAllow, NextRunAt: clock,
					}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			s := &schedule.Scheduler{Store: fx.store, NowFunc: func() time.Time { return clock }}
			fired := 0
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				clock = clock.Add(time.Hour)
				r, err := s.Tick(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if r.Fired != burstSchedules {
					b.Fatalf("fired %d executions, want %d", r.Fired, burstSchedules)
				}
				fired += r.Fired
			}
			b.ReportMetric(float64(fired)/b.Elapsed().Seconds(), "executions/s")
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/burst")
		})
	}
}
