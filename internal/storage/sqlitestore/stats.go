package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/google/uuid"

	"github.com/astro-runner/astro-runner/gen/sqlite"
	"github.com/astro-runner/astro-runner/internal/storage"
)

// scanBatch is how many executions one statistics scan query reads.
const scanBatch = 10000

// PlanStats summarises one plan's runs over a window, in one read
// snapshot. SQLite has no percentile function: the executions of the
// window are read in batches, in finish order, and added up in Go, in
// memory bounded by one batch and by the number of distinct durations. See
// storage.StatsStore.
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
		var total storage.TotalsCounter
		byBucket := map[int64]*storage.TotalsCounter{}
		arg := &sqlite.PlanStatsScanParams{
			PlanID: p.PlanID.String(), AfterFinishedAt: p.Since.UnixMicro(), Until: p.Until.UnixMicro(),
			Trigger: nullString(string(p.Trigger)), MaxRows: scanBatch,
		}
		for {
			rows, err := s.q.PlanStatsScan(ctx, db, arg)
			if err != nil {
				return interpretError(err)
			}
			for _, r := range rows {
				status, d := storage.ExecutionStatus(r.Status), nullInt(r.DurationMs)
				total.Add(status, d)
				i := storage.BucketOf(fromMicros(r.FinishedAt.Int64), p.Bucket)
				c := byBucket[i]
				if c == nil {
					c = &storage.TotalsCounter{}
					byBucket[i] = c
				}
				c.Add(status, d)
			}
			if len(rows) < scanBatch {
				break
			}
			last := rows[len(rows)-1]
			arg.AfterFinishedAt, arg.AfterID = last.FinishedAt.Int64, last.ID
		}
		out = &storage.PlanStats{Totals: total.Totals()}
		series := make(map[int64]storage.RunTotals, len(byBucket))
		for i, c := range byBucket {
			series[i] = c.Totals()
		}
		out.Series = p.Series(series)

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
// snapshot, adding up the totals in Go as PlanStats does. See
// storage.StatsStore.
func (s *Store) GlobalStats(ctx context.Context, in *storage.GlobalStatsParams) (*storage.GlobalStats, error) {
	p := in.WithDefaults()
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("global stats: %w", err)
	}
	var out *storage.GlobalStats
	err := s.readSnapshot(ctx, func(db sqlite.DBTX) error {
		var total storage.TotalsCounter
		arg := &sqlite.GlobalStatsScanParams{AfterFinishedAt: p.Since.UnixMicro(), Until: p.Until.UnixMicro(), MaxRows: scanBatch}
		for {
			rows, err := s.q.GlobalStatsScan(ctx, db, arg)
			if err != nil {
				return interpretError(err)
			}
			for _, r := range rows {
				total.Add(storage.ExecutionStatus(r.Status), nullInt(r.DurationMs))
			}
			if len(rows) < scanBatch {
				break
			}
			last := rows[len(rows)-1]
			arg.AfterFinishedAt, arg.AfterID = last.FinishedAt.Int64, last.ID
		}
		top, err := s.q.GlobalStatsTopFailing(ctx, db, &sqlite.GlobalStatsTopFailingParams{
			Since: p.Since.UnixMicro(), Until: p.Until.UnixMicro(), MaxPlans: storage.TopFailingPlans,
		})
		if err != nil {
			return interpretError(err)
		}
		out = &storage.GlobalStats{Totals: total.Totals(), TopFailing: make([]storage.PlanFailures, 0, len(top))}
		for _, r := range top {
			out.TopFailing = append(out.TopFailing, storage.PlanFailures{PlanID: uuid.MustParse(r.PlanID), Name: r.Name, RunTotals: storage.RunTotals{
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

// nullInt returns a pointer to v's value, or nil for NULL.
func nullInt(v sql.NullInt64) *int64 {
	if !v.Valid {
		return nil
	}
	return &v.Int64
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
