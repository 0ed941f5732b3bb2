package sqlitestore

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/astro-runner/astro-runner/gen/sqlite"
	"github.com/astro-runner/astro-runner/internal/storage"
)

// PlanStats summarises one plan's runs over a window, in one read
// snapshot. SQLite has no percentile function: the executions of the
// window are added up in Go by the aggregate function astro_run_totals
// (statsfunc.go). See storage.StatsStore.
func (s *Store) PlanStats(ctx context.Context, in *storage.PlanStatsParams) (*storage.PlanStats, error) {
	p := in.WithDefaults()
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("plan %s stats: %w", p.PlanID, err)
	}
	var out *storage.PlanStats
	err := s.readSnapshot(ctx, func(db sqlite.DBTX) error {
		if _, err := s.q.PlanGetByID(ctx, db, p.PlanID.String()); err != nil {
			return interpretError(err)
		}
		v, err := s.q.PlanStatsTotals(ctx, db, &sqlite.PlanStatsTotalsParams{
			BucketUs: storage.BucketMicros(p.Bucket), PlanID: p.PlanID.String(),
			Since: p.Since.UnixMicro(), Until: p.Until.UnixMicro(), Trigger: nullString(string(p.Trigger)),
		})
		if err != nil {
			return interpretError(err)
		}
		totals, err := decodeRunTotals(v)
		if err != nil {
			return err
		}
		out = &storage.PlanStats{Totals: totals.Totals, Series: p.Series(totals.Series)}

		summaries, err := s.q.PlanStatsSteps(ctx, db, &sqlite.PlanStatsStepsParams{
			PlanID: p.PlanID.String(), Since: p.Since.UnixMicro(), Until: p.Until.UnixMicro(),
			Trigger: nullString(string(p.Trigger)), MaxRuns: int64(p.StepRuns),
		})
		if err != nil {
			return interpretError(err)
		}
		var steps storage.StepCounter
		for _, sum := range summaries {
			decoded, err := storage.DecodeStepSummaries([]byte(sum.String))
			if err != nil {
				return err
			}
			steps.Add(decoded)
		}
		out.Steps = steps.Stats()
		out.StepRuns = int64(len(summaries))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("plan %s stats: %w", p.PlanID, err)
	}
	return out, nil
}

// GlobalStats summarises every plan's runs over a window, in one read
// snapshot, adding up the totals with astro_run_totals as PlanStats does. See
// storage.StatsStore.
func (s *Store) GlobalStats(ctx context.Context, in *storage.GlobalStatsParams) (*storage.GlobalStats, error) {
	p := in.WithDefaults()
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("global stats: %w", err)
	}
	var out *storage.GlobalStats
	err := s.readSnapshot(ctx, func(db sqlite.DBTX) error {
		v, err := s.q.GlobalStatsTotals(ctx, db, &sqlite.GlobalStatsTotalsParams{
			Since: p.Since.UnixMicro(), Until: p.Until.UnixMicro(),
		})
		if err != nil {
			return interpretError(err)
		}
		totals, err := decodeRunTotals(v)
		if err != nil {
			return err
		}
		top, err := s.topFailing(ctx, db, totals.Plans)
		if err != nil {
			return err
		}
		out = &storage.GlobalStats{Totals: totals.Totals, TopFailing: top}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("global stats: %w", err)
	}
	return out, nil
}

// topFailing ranks the plans of counts (by plan ID) that failed: most
// failed and error runs first, then by plan ID, at most
// storage.TopFailingPlans, with their names.
func (s *Store) topFailing(ctx context.Context, db sqlite.DBTX, counts map[string]storage.RunTotals) ([]storage.PlanFailures, error) {
	ids := make([]string, 0, len(counts))
	for id, t := range counts {
		if t.Failed+t.Error > 0 {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b string) int {
		fa, fb := counts[a].Failed+counts[a].Error, counts[b].Failed+counts[b].Error
		if c := cmp.Compare(fb, fa); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	ids = ids[:min(len(ids), storage.TopFailingPlans)]
	out := make([]storage.PlanFailures, 0, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.q.PlanNames(ctx, db, ids)
	if err != nil {
		return nil, interpretError(err)
	}
	names := make(map[string]string, len(rows))
	for _, r := range rows {
		names[r.ID] = r.Name
	}
	for _, id := range ids {
		planID, err := uuid.Parse(id)
		if err != nil {
			return nil, fmt.Errorf("plan id %q: %w", id, err)
		}
		out = append(out, storage.PlanFailures{PlanID: planID, Name: names[id], RunTotals: counts[id]})
	}
	return out, nil
}

// readSnapshot runs fn's reads in one read-only (deferred) transaction on
// the read pool, so that they see one snapshot of the database, or, on a
// transaction-bound Store, in its transaction.
func (s *Store) readSnapshot(ctx context.Context, fn func(db sqlite.DBTX) error) error {
	if s.inTx {
		return fn(s.db)
	}
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin read transaction: %w", interpretError(err))
	}
	defer func() {
		_ = tx.Rollback()
		s.rc.prepareMissed(ctx)
	}()
	return fn(txStmts{tx: tx, cache: s.rc, ctx: ctx})
}
