package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/astro-runner/astro-runner/gen/postgres"
	"github.com/astro-runner/astro-runner/internal/storage"
)

// PlanStats summarises one plan's runs over a window, in SQL
// (percentile_cont), in one read-only snapshot. See storage.StatsStore.
func (s *Store) PlanStats(ctx context.Context, in *storage.PlanStatsParams) (*storage.PlanStats, error) {
	p := in.WithDefaults()
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("plan %s stats: %w", p.PlanID, err)
	}
	var out *storage.PlanStats
	err := s.readSnapshot(ctx, func(db postgres.DBTX) error {
		if _, err := s.q.PlanGetByID(ctx, db, p.PlanID); err != nil {
			return interpretError(err)
		}
		trigger := optional(string(p.Trigger))
		rows, err := s.q.PlanStatsTotals(ctx, db, &postgres.PlanStatsTotalsParams{
			BucketSeconds: p.Bucket.Seconds(), PlanID: p.PlanID, Since: p.Since, Until: p.Until, Trigger: trigger,
		})
		if err != nil {
			return interpretError(err)
		}
		out = &storage.PlanStats{}
		byBucket := make(map[int64]storage.RunTotals, len(rows))
		for _, r := range rows {
			t, err := totals(r.Runs, r.Passed, r.Failed, r.Error, r.Cancelled, r.DurationPercentiles)
			if err != nil {
				return err
			}
			if r.IsTotal {
				out.Totals = t
			} else {
				byBucket[storage.BucketOf(r.Bucket, p.Bucket)] = t
			}
		}
		out.Series = p.Series(byBucket)
		steps, err := s.q.PlanStatsSteps(ctx, db, &postgres.PlanStatsStepsParams{
			PlanID: p.PlanID, Since: p.Since, Until: p.Until, Trigger: trigger, MaxRuns: int32(p.StepRuns),
		})
		if err != nil {
			return interpretError(err)
		}
		out.Steps = make([]storage.StepStats, 0, len(steps))
		for _, r := range steps {
			d, err := storage.PercentilesOf(r.DurationPercentiles)
			if err != nil {
				return err
			}
			out.Steps = append(out.Steps, storage.StepStats{
				Index: int(r.Position), Name: r.Name, Runs: r.Runs,
				Passed: r.Passed, Failed: r.Failed, Error: r.Error, Skipped: r.Skipped, Duration: d,
			})
		}
		out.StepRuns = min(out.Totals.Passed+out.Totals.Failed+out.Totals.Error, int64(p.StepRuns))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("plan %s stats: %w", p.PlanID, err)
	}
	return out, nil
}

// GlobalStats summarises every plan's runs over a window, in SQL, in one
// read-only snapshot. See storage.StatsStore.
func (s *Store) GlobalStats(ctx context.Context, in *storage.GlobalStatsParams) (*storage.GlobalStats, error) {
	p := in.WithDefaults()
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("global stats: %w", err)
	}
	var out *storage.GlobalStats
	err := s.readSnapshot(ctx, func(db postgres.DBTX) error {
		row, err := s.q.GlobalStatsTotals(ctx, db, &postgres.GlobalStatsTotalsParams{Since: p.Since, Until: p.Until})
		if err != nil {
			return interpretError(err)
		}
		t, err := totals(row.Runs, row.Passed, row.Failed, row.Error, row.Cancelled, row.DurationPercentiles)
		if err != nil {
			return err
		}
		top, err := s.q.GlobalStatsTopFailing(ctx, db, &postgres.GlobalStatsTopFailingParams{
			Since: p.Since, Until: p.Until, MaxPlans: storage.TopFailingPlans,
		})
		if err != nil {
			return interpretError(err)
		}
		out = &storage.GlobalStats{Totals: t, TopFailing: make([]storage.PlanFailures, 0, len(top))}
		for _, r := range top {
			out.TopFailing = append(out.TopFailing, storage.PlanFailures{PlanID: r.PlanID, Name: r.Name, RunTotals: storage.RunTotals{
				Runs: r.Runs, Passed: r.Passed, Failed: r.Failed, Error: r.Error, Cancelled: r.Cancelled,
			}})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("global stats: %w", err)
	}
	return out, nil
}

// totals maps the counts and the percentiles of a statistics row.
func totals(runs, passed, failed, errored, cancelled int64, percentiles []float64) (storage.RunTotals, error) {
	d, err := storage.PercentilesOf(percentiles)
	if err != nil {
		return storage.RunTotals{}, err
	}
	return storage.RunTotals{
		Runs: runs, Passed: passed, Failed: failed, Error: errored, Cancelled: cancelled, Duration: d,
	}, nil
}

// readSnapshot runs fn's reads in one read-only REPEATABLE READ
// transaction, so that they see the same executions, with room to sort in
// memory (StatsWorkMem), or, on a transaction-bound Store, in its
// transaction.
func (s *Store) readSnapshot(ctx context.Context, fn func(db postgres.DBTX) error) error {
	if s.inTx {
		return fn(s.db)
	}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly},
		func(tx pgx.Tx) error {
			if err := s.q.StatsWorkMem(ctx, tx); err != nil {
				return interpretError(err)
			}
			return fn(tx)
		})
	return interpretError(err)
}
