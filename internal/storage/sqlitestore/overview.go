package sqlitestore

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/astro-runner/astro-runner/gen/sqlite"
	"github.com/astro-runner/astro-runner/internal/storage"
)

// Overview returns one page of the overview in one read-only snapshot:
// one query for the page (each plan's newest executions by a LIMIT probe of
// its index), and on the first page one for the failing plans. See
// storage.OverviewStore.
func (s *Store) Overview(ctx context.Context, p *storage.OverviewParams) (*storage.Overview, error) {
	after, limit, since, until, err := p.Decode()
	if err != nil {
		return nil, fmt.Errorf("overview: %w", err)
	}
	out := &storage.Overview{Failing: []*storage.FailingPlan{}}
	err = s.readSnapshot(ctx, func(db sqlite.DBTX) error {
		rows, err := s.q.OverviewPage(ctx, db, &sqlite.OverviewPageParams{
			AfterID: after.String(), MaxPlans: int64(limit + 1), MaxRecent: storage.OverviewRecent,
			Since: since.UnixMicro(), Until: until.UnixMicro(),
		})
		if err != nil {
			return interpretError(err)
		}
		page := make([]storage.OverviewRow, 0, len(rows))
		for _, r := range rows {
			row := storage.OverviewRow{PlanID: uuid.MustParse(r.PlanID), Name: r.Name, Totals: storage.RunTotals{
				Runs: r.Runs, Passed: r.Passed, Failed: r.Failed, Error: r.Error, Cancelled: r.Cancelled,
			}}
			if r.HasExecution != 0 {
				row.Execution = &storage.ExecutionBrief{
					ID: uuid.MustParse(r.ExecutionID), Status: storage.ExecutionStatus(r.Status),
					Trigger: storage.ExecutionTrigger(r.ExecutionTrigger), CreatedAt: fromMicros(r.CreatedAt),
				}
				if r.Finished != 0 {
					t := fromMicros(r.FinishedAt)
					row.Execution.FinishedAt = &t
				}
				if r.HasDuration != 0 {
					d := r.DurationMs
					row.Execution.DurationMS = &d
				}
			}
			page = append(page, row)
		}
		out.Plans, out.NextCursor = storage.OverviewPage(page, limit)
		if p.Cursor != "" {
			return nil
		}
		failing, err := s.q.OverviewFailing(ctx, db, storage.MaxOverviewFailing)
		if err != nil {
			return interpretError(err)
		}
		for _, r := range failing {
			out.Failing = append(out.Failing, &storage.FailingPlan{
				PlanID: uuid.MustParse(r.PlanID), Name: r.Name, Status: storage.ExecutionStatus(r.Status),
				ExecutionID: uuid.MustParse(r.ExecutionID), Since: fromMicros(r.FailingSince),
			})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("overview: %w", err)
	}
	return out, nil
}

// ExecutionPickup reports the pick-up latency of the newest executions, in
// one query on the primary key. See storage.OverviewStore.
func (s *Store) ExecutionPickup(ctx context.Context) ([]*storage.QueuePickup, error) {
	rows, err := s.q.ExecutionPickup(ctx, s.read, storage.PickupSample)
	if err != nil {
		return nil, fmt.Errorf("execution pick-up: %w", interpretError(err))
	}
	sample := make([]storage.PickupRow, 0, len(rows))
	for _, r := range rows {
		sample = append(sample, storage.PickupRow{Queue: r.Queue, WaitUS: r.WaitUs})
	}
	return storage.PickupOf(sample), nil
}
