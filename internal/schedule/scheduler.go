package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/astro-runner/astro-runner/internal/planjob"
	"github.com/astro-runner/astro-runner/internal/storage"
)

// Defaults of Scheduler's fields.
const (
	// DefaultInterval is the longest the scheduler sleeps between looks.
	DefaultInterval = time.Second
	// DefaultBatch is how many schedules one transaction claims.
	DefaultBatch = 1000
	// DefaultStoreTimeout bounds each transaction.
	DefaultStoreTimeout = 30 * time.Second
	// maxJitter spreads the wake-ups of the nodes.
	maxJitter = 50 * time.Millisecond
)

// Scheduler turns due ticks of schedules into executions. Run one per
// process, on every node: claims lock the schedules they take, so each
// tick produces exactly one execution however many schedulers run.
type Scheduler struct {
	// Store is where schedules, executions and jobs live.
	Store storage.Store
	// NowFunc is the clock. Defaults to time.Now.
	NowFunc func() time.Time
	// Interval is the longest sleep between two looks for due schedules;
	// the scheduler also wakes at the earliest next run. Defaults to
	// DefaultInterval.
	Interval time.Duration
	// Batch is how many schedules one transaction claims. Defaults to
	// DefaultBatch.
	Batch int
	// StoreTimeout bounds each store call or transaction. Defaults to
	// DefaultStoreTimeout.
	StoreTimeout time.Duration
	// WakeFunc, when set, is called after executions were enqueued, to
	// make the local workers look for jobs now.
	WakeFunc func()
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// TickResult counts what one call of Tick did.
type TickResult struct {
	// Fired is how many executions it created.
	Fired int
	// Skipped is how many ticks it skipped because the schedule's previous
	// execution was still queued or running (overlap skip).
	Skipped int
	// Existing is how many ticks it found already fired: an execution
	// held the tick's idempotency key (TickKey), so it created none and
	// only advanced the schedule.
	Existing int
}

// TickKey is the idempotency key of the execution of a schedule's tick:
// unique per plan, it backs up the claim's exactly-once.
func TickKey(id uuid.UUID, tick time.Time) string {
	return "schedule:" + id.String() + ":" + strconv.FormatInt(tick.Unix(), 10)
}

func (s *Scheduler) now() time.Time {
	if s.NowFunc != nil {
		return s.NowFunc()
	}
	return time.Now()
}

func (s *Scheduler) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// Tick fires every schedule that is due now, batch by batch, each batch in
// one transaction, until none is due.
func (s *Scheduler) Tick(ctx context.Context) (TickResult, error) {
	var total TickResult
	batch := orDefault(s.Batch, DefaultBatch)
	for {
		r, claimed, err := s.tickBatch(ctx, batch)
		total.Fired += r.Fired
		total.Skipped += r.Skipped
		total.Existing += r.Existing
		if err != nil {
			return total, err
		}
		if claimed < batch {
			return total, nil
		}
	}
}

// tickBatch claims up to batch due schedules and, in the same
// transaction, creates their executions (one ExecutionCreateMany) and
// jobs (one JobEnqueueMany) and advances them (one ScheduleAdvance). A
// tick whose key an execution already holds counts as fired elsewhere: it
// creates nothing, and the schedule only advances.
func (s *Scheduler) tickBatch(ctx context.Context, batch int) (r TickResult, claimed int, err error) {
	ctx, cancel := context.WithTimeout(ctx, orDefault(s.StoreTimeout, DefaultStoreTimeout))
	defer cancel()
	now := s.now()
	err = s.Store.InTx(ctx, func(tx storage.Store) error {
		r = TickResult{}
		due, err := tx.ScheduleClaimDue(ctx, now, batch)
		if err != nil {
			return err
		}
		claimed = len(due)
		adv := make([]*storage.ScheduleAdvanceParams, 0, len(due))
		execs := make([]*storage.ExecutionCreateParams, 0, len(due))
		ticks := make(map[uuid.UUID]tick, len(due))
		for _, d := range due {
			a := &storage.ScheduleAdvanceParams{ID: d.ID, NextRunAt: s.nextRun(d.Schedule, now)}
			adv = append(adv, a)
			if d.Overlap == storage.OverlapSkip &&
				(d.LastExecutionStatus == storage.ExecutionQueued || d.LastExecutionStatus == storage.ExecutionRunning) {
				r.Skipped++
				continue
			}
			execs = append(execs, &storage.ExecutionCreateParams{
				PlanID:         d.PlanID,
				PlanRevision:   d.PlanRevision,
				IdempotencyKey: TickKey(d.ID, d.NextRunAt),
				Variables:      d.Variables,
				Environment:    d.Environment,
				Trigger:        storage.TriggerSchedule,
				ScheduleID:     d.ID,
				Queue:          d.Queue,
			})
			ticks[d.ID] = tick{adv: a, at: d.NextRunAt}
		}
		created, err := tx.ExecutionCreateMany(ctx, execs)
		if err != nil {
			return err
		}
		jobs := make([]*storage.JobEnqueueParams, 0, len(created))
		for _, e := range created {
			tk := ticks[e.ScheduleID]
			tk.adv.Fired, tk.adv.LastRunAt, tk.adv.LastExecutionID = true, tk.at, e.ID
			jobs = append(jobs, planjob.EnqueueParams(e))
		}
		r.Fired, r.Existing = len(created), len(execs)-len(created)
		if _, err := tx.JobEnqueueMany(ctx, jobs); err != nil {
			return err
		}
		return tx.ScheduleAdvance(ctx, adv)
	})
	if err != nil {
		return TickResult{}, 0, fmt.Errorf("fire due schedules: %w", err)
	}
	if r.Fired > 0 && s.WakeFunc != nil {
		s.WakeFunc()
	}
	return r, claimed, nil
}

// tick is a claimed schedule's due tick and its advance, which records the
// tick if an execution is created for it.
type tick struct {
	adv *storage.ScheduleAdvanceParams
	at  time.Time
}

// nextRun returns the schedule's first tick after now, so that a schedule
// that missed ticks (all nodes down) fires once, not once per missed tick.
// A schedule whose expression no longer parses, or never fires again, is
// put off by a year and logged; the API refuses such schedules, so that
// takes a change of the cron library.
func (s *Scheduler) nextRun(sc *storage.Schedule, now time.Time) time.Time {
	spec, err := Parse(sc.Cron, sc.Timezone)
	var next time.Time
	if err == nil {
		next = spec.Next(now)
	}
	if next.IsZero() {
		s.logger().Error("schedule has no next run; putting it off by a year",
			"schedule_id", sc.ID, "cron", sc.Cron, "timezone", sc.Timezone, "error", err)
		return now.Add(365 * 24 * time.Hour)
	}
	return next
}

// Run fires due schedules until ctx ends. It wakes at the earliest next
// run or after Interval, whichever is first, plus a little jitter; a
// failed look is logged and retried after Interval.
func (s *Scheduler) Run(ctx context.Context) {
	interval := orDefault(s.Interval, DefaultInterval)
	for ctx.Err() == nil {
		r, err := s.Tick(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			s.logger().Warn("scheduler: firing due schedules failed; retrying", "error", err)
		case r.Fired > 0 || r.Skipped > 0 || r.Existing > 0:
			s.logger().Debug("scheduler: fired due schedules", "fired", r.Fired, "skipped", r.Skipped, "existing", r.Existing)
		}
		wait := interval
		if err == nil {
			wait = s.untilNext(ctx, interval)
		}
		timer := time.NewTimer(wait + rand.N(maxJitter))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
	}
}

// untilNext returns how long to sleep before the earliest next run, at
// most limit.
func (s *Scheduler) untilNext(ctx context.Context, limit time.Duration) time.Duration {
	ctx, cancel := context.WithTimeout(ctx, orDefault(s.StoreTimeout, DefaultStoreTimeout))
	defer cancel()
	next, err := s.Store.ScheduleNextDue(ctx)
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) && ctx.Err() == nil {
			s.logger().Warn("scheduler: reading the next run failed", "error", err)
		}
		return limit
	}
	return max(0, min(limit, next.Sub(s.now())))
}
