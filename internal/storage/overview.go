package storage

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
)

// The overview (OverviewStore.Overview) is what a dashboard's first page
// shows: for each plan its newest executions and its run totals over a
// recent window, and the plans whose health is failing.
//
// Definitions shared by every backend:
//
//   - A plan's recent executions are its newest OverviewRecent executions,
//     in any status, newest first (by ID, which is time-ordered).
//   - A plan's totals count its executions that reached a final status
//     inside the window, by finished_at, as RunTotals does for
//     PlanStats; their Duration is nil.
//   - A plan is failing when its latest finished passed, failed or error
//     execution (by finished_at, then ID) failed or errored; cancelled
//     runs say nothing about its health and are left out. It has been
//     failing since the earliest finished_at of its failed and error
//     executions that finished after its latest passed one (or of all
//     of them, if it never passed).

// Bounds of the overview.
const (
	// OverviewRecent is how many of each plan's newest executions the
	// overview lists.
	OverviewRecent = 20
	// DefaultOverviewLimit is the overview's page size, in plans, when
	// none is asked for.
	DefaultOverviewLimit = 50
	// MaxOverviewLimit is the largest page of the overview, in plans.
	MaxOverviewLimit = 100
	// MaxOverviewFailing is the most failing plans the overview lists.
	MaxOverviewFailing = 100
)

// OverviewParams choose one page of the overview.
type OverviewParams struct {
	// Since and Until bound the window of the plans' totals by
	// finished_at: Since is included, Until is not. Both are required;
	// they are kept to the microsecond.
	Since, Until time.Time
	// Limit is the page size, in plans. Defaults to DefaultOverviewLimit;
	// at most MaxOverviewLimit.
	Limit int
	// Cursor is the NextCursor of the previous page, or empty for the
	// first.
	Cursor string
}

// Decode checks p and returns the plan ID after which the page starts
// (uuid.Nil for the first page), the page size, and the window truncated
// to the microsecond. Returns ErrInvalidInput for a malformed cursor, a
// bad window (see CheckStatsWindow) or a negative limit.
func (p *OverviewParams) Decode() (after uuid.UUID, limit int, since, until time.Time, err error) {
	after, err = DecodeUUIDCursor(p.Cursor, ListOverview)
	if err != nil {
		return uuid.Nil, 0, since, until, err
	}
	since, until = p.Since.Truncate(time.Microsecond), p.Until.Truncate(time.Microsecond)
	if err := CheckStatsWindow(since, until); err != nil {
		return uuid.Nil, 0, since, until, err
	}
	switch {
	case p.Limit < 0:
		return uuid.Nil, 0, since, until, fmt.Errorf("%w: limit %d is negative", ErrInvalidInput, p.Limit)
	case p.Limit == 0:
		limit = DefaultOverviewLimit
	default:
		limit = min(p.Limit, MaxOverviewLimit)
	}
	return after, limit, since, until, nil
}

// ExecutionBrief is the part of an execution that a list of runs shows.
type ExecutionBrief struct {
	ID         uuid.UUID
	Status     ExecutionStatus
	Trigger    ExecutionTrigger
	CreatedAt  time.Time
	FinishedAt *time.Time
	// DurationMS is the run's duration in milliseconds (see the notes on
	// statistics), or nil when it has none.
	DurationMS *int64
}

// PlanOverview is one plan's line of the overview.
type PlanOverview struct {
	PlanID uuid.UUID
	Name   string
	// Recent are the plan's newest executions, newest first, at most
	// OverviewRecent; empty if it has none.
	Recent []ExecutionBrief
	// Totals count the plan's final runs in the window. Duration is nil.
	Totals RunTotals
}

// FailingPlan is a plan whose latest finished run failed or errored.
type FailingPlan struct {
	PlanID uuid.UUID
	Name   string
	// Status is the status of the plan's latest finished passed, failed
	// or error execution: failed or error.
	Status ExecutionStatus
	// ExecutionID is that execution.
	ExecutionID uuid.UUID
	// Since is when the plan started failing: see the overview's notes.
	Since time.Time
}

// Overview is one page of the overview.
type Overview struct {
	// Plans are ordered by plan ID.
	Plans []*PlanOverview
	// Failing lists the failing plans, longest failing first, then by
	// plan ID, at most MaxOverviewFailing. It covers every plan, not only
	// the page's, and is filled on the first page only (empty Cursor);
	// later pages leave it empty.
	Failing []*FailingPlan
	// NextCursor is empty on the last page.
	NextCursor string
}

// OverviewStore answers the overview.
type OverviewStore interface {
	// Overview returns one page of the overview, in one read-only
	// snapshot. Returns ErrInvalidInput if p is out of range (see
	// OverviewParams.Decode).
	Overview(ctx context.Context, p *OverviewParams) (*Overview, error)
	// ExecutionPickup reports, per queue, how long executions waited from
	// their creation to their first start: of the newest PickupSample
	// executions, those that started. Queues without one are left out.
	ExecutionPickup(ctx context.Context) ([]*QueuePickup, error)
}

// OverviewRow is one row of a backend's overview page query: a plan, its
// totals, and one of its recent executions, or none (nil Execution) when
// it has none.
type OverviewRow struct {
	PlanID    uuid.UUID
	Name      string
	Totals    RunTotals
	Execution *ExecutionBrief
}

// OverviewPage groups rows, ordered by plan ID and then newest execution
// first, as the page query asked for limit+1 plans returns them, into the
// page's plans and the cursor of the next page.
func OverviewPage(rows []OverviewRow, limit int) (plans []*PlanOverview, next string) {
	for _, r := range rows {
		if len(plans) == 0 || plans[len(plans)-1].PlanID != r.PlanID {
			if len(plans) == limit {
				return plans, EncodeCursor(Cursor{List: ListOverview, ID: plans[limit-1].PlanID.String()})
			}
			plans = append(plans, &PlanOverview{PlanID: r.PlanID, Name: r.Name, Totals: r.Totals, Recent: []ExecutionBrief{}})
		}
		if p := plans[len(plans)-1]; r.Execution != nil && len(p.Recent) < OverviewRecent {
			p.Recent = append(p.Recent, *r.Execution)
		}
	}
	if plans == nil {
		plans = []*PlanOverview{}
	}
	return plans, ""
}

// PickupSample is how many of the newest executions ExecutionPickup reads.
const PickupSample = 1000

// QueuePickup is how long one queue's recent executions waited to be
// picked up: from their creation to their first start.
type QueuePickup struct {
	Queue string
	// Runs counts the executions of the queue in the sample that started.
	Runs int64
	// Latency holds the percentiles of their waits, in milliseconds.
	Latency Percentiles
}

// PickupRow is one started execution of the pick-up sample: its queue and
// its wait in microseconds.
type PickupRow struct {
	Queue  string
	WaitUS int64
}

// PickupOf returns the pick-up latency of each queue of rows, ordered by
// queue, with percentiles interpolated as PlanStats' are. A negative wait
// (a clock that stepped back between nodes) counts as zero.
func PickupOf(rows []PickupRow) []*QueuePickup {
	byQueue := map[string]*Histogram{}
	for _, r := range rows {
		h := byQueue[r.Queue]
		if h == nil {
			h = &Histogram{}
			byQueue[r.Queue] = h
		}
		h.Add(max(r.WaitUS, 0))
	}
	out := make([]*QueuePickup, 0, len(byQueue))
	for q, h := range byQueue {
		p := h.Percentiles()
		out = append(out, &QueuePickup{Queue: q, Runs: h.Len(), Latency: Percentiles{
			P50: p.P50 / 1000, P95: p.P95 / 1000, P99: p.P99 / 1000,
		}})
	}
	slices.SortFunc(out, func(a, b *QueuePickup) int { return cmp.Compare(a.Queue, b.Queue) })
	return out
}
