package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/astro-runner/astro-runner/gen/sqlite"
	"github.com/astro-runner/astro-runner/internal/storage"
)

// scanBatch is how many executions one statistics scan query reads: the
// most held in memory at once, as about 30 bytes of text each.
const scanBatch = 10000

// PlanStats summarises one plan's runs over a window, in one read
// snapshot. SQLite has no percentile function: the executions of the
// window are read in batches (scanBatches) and added up in Go, in memory
// bounded by one batch and by the number of distinct durations per
// bucket. See storage.StatsStore.
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
			PlanID: p.PlanID.String(), Until: p.Until.UnixMicro(), Trigger: nullString(string(p.Trigger)), MaxRows: scanBatch,
		}
		err := scanBatches(p.Since.UnixMicro(), scanBatch, func(after, skip int64) (int64, string, error) {
			arg.AfterFinishedAt, arg.Skip = after, skip
			r, err := s.q.PlanStatsScan(ctx, db, arg)
			if err != nil {
				return 0, "", interpretError(err)
			}
			return r.BatchRows, r.Packed, nil
		}, func(finishedAt int64, status storage.ExecutionStatus, d *int64) {
			total.Add(status, d)
			i := storage.BucketOf(fromMicros(finishedAt), p.Bucket)
			c := byBucket[i]
			if c == nil {
				c = &storage.TotalsCounter{}
				byBucket[i] = c
			}
			c.Add(status, d)
		})
		if err != nil {
			return err
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
		arg := &sqlite.GlobalStatsScanParams{Until: p.Until.UnixMicro(), MaxRows: scanBatch}
		err := scanBatches(p.Since.UnixMicro(), scanBatch, func(after, skip int64) (int64, string, error) {
			arg.AfterFinishedAt, arg.Skip = after, skip
			r, err := s.q.GlobalStatsScan(ctx, db, arg)
			if err != nil {
				return 0, "", interpretError(err)
			}
			return r.BatchRows, r.Packed, nil
		}, func(_ int64, status storage.ExecutionStatus, d *int64) { total.Add(status, d) })
		if err != nil {
			return err
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

// scanBatches reads the executions of a window from since on, batch by
// batch, with read, and passes each to add. read returns the first batch
// executions, in (finish time, ID) order, that finished at or after
// after, less the first skip of them, as PlanStatsScan packs them.
// A batch ends amid executions that finished at the same time; the next
// starts at that time and skips those already read.
func scanBatches(since, batch int64, read func(after, skip int64) (int64, string, error),
	add func(finishedAt int64, status storage.ExecutionStatus, duration *int64)) error {
	after, skip := since, int64(0)
	for {
		n, packed, err := read(after, skip)
		if err != nil {
			return err
		}
		var got, last, ties int64
		for rec := range strings.FieldsSeq(packed) {
			finishedAt, status, duration, err := unpackExecution(rec)
			if err != nil {
				return err
			}
			add(finishedAt, status, duration)
			got++
			switch {
			case got == 1 || finishedAt > last:
				last, ties = finishedAt, 1
			case finishedAt == last:
				ties++
			}
		}
		if got != n {
			return fmt.Errorf("stats scan: batch of %d executions unpacked as %d", n, got)
		}
		if n < batch {
			return nil
		}
		if last == after {
			skip += ties
		} else {
			after, skip = last, ties
		}
	}
}

// unpackExecution decodes one "finished_at,status,duration_ms" record of a
// stats scan; duration_ms is empty for none.
func unpackExecution(rec string) (finishedAt int64, status storage.ExecutionStatus, duration *int64, err error) {
	at, rest, ok1 := strings.Cut(rec, ",")
	st, ms, ok2 := strings.Cut(rest, ",")
	if !ok1 || !ok2 {
		return 0, "", nil, fmt.Errorf("stats scan: malformed record %q", rec)
	}
	if finishedAt, err = strconv.ParseInt(at, 10, 64); err != nil {
		return 0, "", nil, fmt.Errorf("stats scan: finish time of %q: %w", rec, err)
	}
	if ms != "" {
		d, err := strconv.ParseInt(ms, 10, 64)
		if err != nil {
			return 0, "", nil, fmt.Errorf("stats scan: duration of %q: %w", rec, err)
		}
		duration = &d
	}
	return finishedAt, storage.ExecutionStatus(st), duration, nil
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
