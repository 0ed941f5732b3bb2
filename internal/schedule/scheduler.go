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
	// DefaultBackoff is how long a schedule that cannot fire is put off.
	DefaultBackoff = 5 * time.Minute
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
	// Backoff is how long a schedule that cannot fire is put off: one
	// whose cron expression or time zone does not parse on this node, or
	// whose firing fails on its own. Each time is logged at warn with the
	// schedule's ID and the reason. Defaults to DefaultBackoff.
	Backoff time.Duration
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
// one transaction, until none is due. When a batch fails other than for
// an outage, Tick fires its schedules again one per transaction, so that
// one schedule that fails every time (which it puts off by Backoff) does
// not keep the others from firing.
func (s *Scheduler) Tick(ctx context.Context) (TickResult, error) {
	var total TickResult
	batch := orDefault(s.Batch, DefaultBatch)
	for {
		r, claimed, err := s.tickBatch(ctx, batch)
		if err != nil && !outage(ctx, err) && len(claimed) > 0 {
			s.logger().Warn("scheduler: a batch of due schedules failed; firing them one by one",
				"schedules", len(claimed), "error", err)
			r, err = s.tickOneByOne(ctx, len(claimed))
		}
		total.add(r)
		if err != nil {
			return total, err
		}
		if len(claimed) < batch {
			return total, nil
		}
	}
}

func (r *TickResult) add(o TickResult) {
	r.Fired += o.Fired
	r.Skipped += o.Skipped
	r.Existing += o.Existing
}

// outage reports whether err is the database or ctx failing, which
// another try in another shape would not get past, rather than something
// about the schedules.
func outage(ctx context.Context, err error) bool {
	return ctx.Err() != nil || errors.Is(err, storage.ErrUnavailable) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// tickOneByOne fires up to n due schedules, one per transaction. A
// schedule whose transaction fails other than for an outage is put off by
// Backoff and logged, and the others still fire.
func (s *Scheduler) tickOneByOne(ctx context.Context, n int) (TickResult, error) {
	var total TickResult
	for range n {
		r, claimed, err := s.tickBatch(ctx, 1)
		total.add(r)
		switch {
		case err != nil && (outage(ctx, err) || len(claimed) == 0):
			return total, err
		case err != nil:
			if err := s.backOff(ctx, claimed[0], err); err != nil {
				return total, err
			}
		case len(claimed) == 0:
			return total, nil
		}
	}
	return total, nil
}

// backOff puts the schedule id off by Backoff after its firing failed
// with cause, and logs it.
func (s *Scheduler) backOff(ctx context.Context, id uuid.UUID, cause error) error {
	ctx, cancel := context.WithTimeout(ctx, orDefault(s.StoreTimeout, DefaultStoreTimeout))
	defer cancel()
	backoff := orDefault(s.Backoff, DefaultBackoff)
	s.logger().Warn("scheduler: firing a schedule failed; putting it off", "schedule_id", id,
		"backoff", backoff, "error", cause)
	err := s.Store.ScheduleAdvance(ctx, []*storage.ScheduleAdvanceParams{{ID: id, NextRunAt: s.now().Add(backoff)}})
	if err != nil {
		return fmt.Errorf("put off schedule %s: %w", id, err)
	}
	return nil
}

// tickBatch claims up to batch due schedules and, in the same
// transaction, creates their executions (one ExecutionCreateMany) and
// jobs (one JobEnqueueMany) and advances them (one ScheduleAdvance). A
// tick whose key an execution already holds counts as fired elsewhere: it
// creates nothing, and the schedule only advances. A schedule whose
// expression does not parse does not fire: it is put off by Backoff. It
// returns the IDs of the schedules it claimed, also when it fails.
func (s *Scheduler) tickBatch(ctx context.Context, batch int) (r TickResult, claimed []uuid.UUID, err error) {
	ctx, cancel := context.WithTimeout(ctx, orDefault(s.StoreTimeout, DefaultStoreTimeout))
	defer cancel()
	now := s.now()
	err = s.Store.InTx(ctx, func(tx storage.Store) error {
		r = TickResult{}
		due, err := tx.ScheduleClaimDue(ctx, now, batch)
		if err != nil {
			return err
		}
		claimed = make([]uuid.UUID, len(due))
		adv := make([]*storage.ScheduleAdvanceParams, 0, len(due))
		execs := make([]*storage.ExecutionCreateParams, 0, len(due))
		ticks := make(map[uuid.UUID]tick, len(due))
		for i, d := range due {
			claimed[i] = d.ID
			next, ok := s.nextRun(d.Schedule, now)
			a := &storage.ScheduleAdvanceParams{ID: d.ID, NextRunAt: next}
			adv = append(adv, a)
			if !ok {
				continue
			}
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
		return TickResult{}, claimed, fmt.Errorf("fire due schedules: %w", err)
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

// nextRun returns the tick that follows the schedule's due one
// (sc.NextRunAt), so that late handling does not shift the cadence of
// @every; if that is not after now, it returns the first tick after now,
// so that a schedule that missed ticks (all nodes down) fires once, not
// once per missed tick. It reports false, and returns now plus Backoff,
// if the expression or time zone does not parse here (the API refuses
// such schedules, so that takes a change of the cron library or a time
// zone database that lacks the zone): the schedule is then not fired,
// and is logged at warn. A schedule that never fires again is put off
// by a year and logged.
func (s *Scheduler) nextRun(sc *storage.Schedule, now time.Time) (time.Time, bool) {
	spec, err := Parse(sc.Cron, sc.Timezone)
	if err != nil {
		backoff := orDefault(s.Backoff, DefaultBackoff)
		s.logger().Warn("scheduler: schedule does not parse; not firing it, putting it off",
			"schedule_id", sc.ID, "cron", sc.Cron, "timezone", sc.Timezone, "backoff", backoff, "error", err)
		return now.Add(backoff), false
	}
	next := spec.Next(sc.NextRunAt)
	if !next.After(now) {
		next = spec.Next(now)
	}
	if next.IsZero() {
		s.logger().Error("schedule has no next run; putting it off by a year",
			"schedule_id", sc.ID, "cron", sc.Cron, "timezone", sc.Timezone)
		return now.Add(365 * 24 * time.Hour), true
	}
	return next, true
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
