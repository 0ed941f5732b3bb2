package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/tracing"
	"github.com/astro-runner/astro-runner/internal/worker"
)

// Queues, job kinds and defaults of the alert jobs.
const (
	// Queue is the queue of deliver_alert and flush_alerts jobs; a
	// dedicated worker pool serves it, so that alerts do not wait behind
	// executions.
	Queue = "astro.alerts"
	// DeliverKind is the job kind that delivers one message to one
	// channel; Deliverer.Handle runs it.
	DeliverKind = "deliver_alert"
	// FlushKind is the job kind that sends, once the minimum interval has
	// passed, what a rule held back for a plan; Evaluator.HandleFlush runs
	// it.
	FlushKind = "flush_alerts"
	// DefaultMaxAttempts is how many attempts one delivery gets before it
	// is discarded, when Evaluator.MaxAttempts is not set.
	DefaultMaxAttempts = 12
	// DefaultMinInterval is the default minimum interval between two
	// messages of one rule for one plan (ASTRO_ALERT_MIN_INTERVAL).
	DefaultMinInterval = 5 * time.Minute
)

// Evaluator decides, when an execution finishes, which alert rules send a
// message, and enqueues the deliveries in the transaction that finished
// the execution: a message is never lost, and never sent for an execution
// whose finish rolled back.
//
// # Rule semantics
//
// Each rule keeps one state per plan (storage.AlertState). For each
// finished execution with status passed, failed or error (cancelled
// executions are ignored), with threshold = max(1,
// rule.AfterConsecutiveFailures):
//
//   - passed: the consecutive failures go back to 0 and the rule stops
//     alerting. If it was alerting and the rule has on_recovery, the event
//     is execution.recovered.
//   - failed or error: the consecutive failures grow by one. If the rule
//     was not alerting and they reach the threshold, the rule starts
//     alerting, and the event is execution.failed if the rule has
//     on_failure, after_consecutive_failures > 0 or every_failure. If it
//     was already alerting and the rule has every_failure, the event is
//     execution.failed again.
//
// An event is sent unless the rule sent a message for the plan less than
// MinInterval ago. Then it is suppressed instead: the state counts it, and
// a flush_alerts job is due at the end of the interval. A sent message
// carries the count of suppressed ones (then reset), and the state
// remembers what it told (alerting or not) and when.
//
// When the flush job runs, it sends one message about the plan's last
// execution, carrying the suppressed count, if messages were suppressed
// and either what the receivers were last told is no longer true (the
// rule started alerting, or stopped, and the rule's on_failure or
// on_recovery asks for that message), or the rule has every_failure and
// is still alerting. Otherwise the count waits for the next message. So a
// recovery that came within the interval is still told, late, and a
// flapping plan sends at most one message per rule and plan per interval.
//
// Each message goes to every channel of the rule as its own deliver_alert
// job on Queue, with its own delivery ID.
type Evaluator struct {
	// Store is the store that HandleFlush works on.
	Store storage.Store
	// MinInterval is the least time between two messages of one rule for
	// one plan; 0 means no limit. See DefaultMinInterval.
	MinInterval time.Duration
	// MaxAttempts is the attempts of each deliver_alert and flush_alerts
	// job; <= 0 means DefaultMaxAttempts.
	MaxAttempts int
	// PublicURL is the base of the execution links in messages:
	// PublicURL + "/execution/" + id.
	PublicURL string
	// Logger receives the evaluator's logs. Defaults to slog.Default().
	Logger *slog.Logger
	// Now tells the time. Defaults to time.Now.
	Now func() time.Time
}

func (e *Evaluator) now() time.Time {
	if e.Now == nil {
		return time.Now()
	}
	return e.Now()
}

func (e *Evaluator) logger() *slog.Logger {
	if e.Logger == nil {
		return slog.Default()
	}
	return e.Logger
}

func (e *Evaluator) maxAttempts() int {
	if e.MaxAttempts <= 0 {
		return DefaultMaxAttempts
	}
	return e.MaxAttempts
}

// decision is what one execution, or one flush, means for one rule and
// plan.
type decision struct {
	// Event is the message's event, or "" if there is nothing to tell.
	Event string
	// Send says to send the message now, carrying Suppressed.
	Send bool
	// Suppressed is the count of earlier messages not sent, that the
	// message sent carries.
	Suppressed int
	// Flush says that the message was suppressed, so a flush job is due at
	// FlushAt.
	Flush   bool
	FlushAt time.Time
	// RetryIn, for a flush, says that a message is due but the interval
	// has not passed yet: the flush should run again after RetryIn.
	RetryIn time.Duration
}

// failureEvents reports whether a rule tells that it started alerting.
func failureEvents(r *storage.AlertRule) bool {
	return r.OnFailure || r.AfterConsecutiveFailures > 0 || r.EveryFailure
}

// evaluate applies the outcome of one finished execution to the state of
// a rule for its plan, as the Evaluator documentation describes, and
// returns the new state and what to do. It is pure: the caller stores the
// state and enqueues the jobs.
func evaluate(r *storage.AlertRule, st storage.AlertState, execID uuid.UUID, status storage.ExecutionStatus,
	now time.Time, minInterval time.Duration) (storage.AlertState, decision) {
	var d decision
	switch status {
	case storage.ExecutionPassed:
		wasAlerting := st.Alerting
		st.ConsecutiveFailures = 0
		st.Alerting = false
		if wasAlerting && r.OnRecovery {
			d.Event = EventRecovered
		}
	case storage.ExecutionFailed, storage.ExecutionError:
		st.ConsecutiveFailures++
		threshold := max(1, r.AfterConsecutiveFailures)
		switch {
		case !st.Alerting && st.ConsecutiveFailures >= threshold:
			st.Alerting = true
			if failureEvents(r) {
				d.Event = EventFailed
			}
		case st.Alerting && r.EveryFailure:
			d.Event = EventFailed
		}
	default:
		return st, d
	}
	st.LastExecutionID = execID
	st.LastStatus = status
	if d.Event == "" {
		return st, d
	}
	if st.LastSentAt != nil && minInterval > 0 && now.Before(st.LastSentAt.Add(minInterval)) {
		st.Suppressed++
		st.FlushPending = true
		d.Flush = true
		d.FlushAt = st.LastSentAt.Add(minInterval)
		return st, d
	}
	return sent(st, d, now)
}

// sent records in st that the message of d goes out at now.
func sent(st storage.AlertState, d decision, now time.Time) (storage.AlertState, decision) {
	d.Send = true
	d.Suppressed = st.Suppressed
	st.Suppressed = 0
	at := now
	st.LastSentAt = &at
	st.NotifiedAlerting = st.Alerting
	return st, d
}

// flush decides, when a rule's flush job runs for a plan, whether to send
// what was suppressed, as the Evaluator documentation describes, and
// returns the new state and what to do. With a message due before the
// interval has passed (a message was sent since the flush was planned),
// it returns the state unchanged and a decision with RetryIn set.
func flush(r *storage.AlertRule, st storage.AlertState, now time.Time, minInterval time.Duration) (storage.AlertState, decision) {
	var d decision
	if st.Suppressed > 0 && st.LastExecutionID != uuid.Nil {
		switch {
		case st.Alerting && !st.NotifiedAlerting && failureEvents(r):
			d.Event = EventFailed
		case !st.Alerting && st.NotifiedAlerting && r.OnRecovery:
			d.Event = EventRecovered
		case st.Alerting && r.EveryFailure:
			d.Event = EventFailed
		}
	}
	if d.Event == "" {
		st.FlushPending = false
		return st, decision{}
	}
	if st.LastSentAt != nil && minInterval > 0 {
		if due := st.LastSentAt.Add(minInterval); now.Before(due) {
			return st, decision{RetryIn: due.Sub(now)}
		}
	}
	st.FlushPending = false
	return sent(st, d, now)
}

// flushPayload is the payload of a flush_alerts job.
type flushPayload struct {
	RuleID uuid.UUID `json:"rule_id"`
	PlanID uuid.UUID `json:"plan_id"`
}

// FlushKey returns the unique key of the flush job of a rule for a plan.
func FlushKey(ruleID, planID uuid.UUID) string {
	return "alert-flush:" + ruleID.String() + ":" + planID.String()
}

// ExecutionFinished runs inside the transaction tx that moved exec to a
// final status. For passed, failed and error it evaluates every rule of
// tx.AlertRulesFor(exec.PlanID, exec.ScheduleID), as the Evaluator
// documentation describes: it locks and updates each rule's state for the
// plan, enqueues one deliver_alert job per channel of each message sent,
// and a flush_alerts job for a suppressed one. A cancelled or unfinished
// execution, or one that a rule's state already counted, changes nothing;
// a rule deleted since it was listed is skipped.
//
// It returns only store errors, wrapped; the caller's transaction then
// rolls back, and with it the execution's finish.
func (e *Evaluator) ExecutionFinished(ctx context.Context, tx storage.Store, exec *storage.Execution) error {
	switch exec.Status {
	case storage.ExecutionPassed, storage.ExecutionFailed, storage.ExecutionError:
	default:
		return nil
	}
	rules, err := tx.AlertRulesFor(ctx, exec.PlanID, exec.ScheduleID)
	if err != nil {
		return fmt.Errorf("alerts: rules of plan %s: %w", exec.PlanID, err)
	}
	if len(rules) == 0 {
		return nil
	}
	now := e.now()
	msg := &messageSource{exec: exec}
	var jobs []*storage.JobEnqueueParams
	// Rules come ordered by ID, so concurrent finishes lock states in one
	// order.
	for _, r := range rules {
		st, err := tx.AlertStateLock(ctx, r.ID, exec.PlanID)
		if errors.Is(err, storage.ErrNotFound) {
			// The rule was deleted since it was listed: it has nothing to
			// say, and must not undo the execution's finish.
			continue
		}
		if err != nil {
			return fmt.Errorf("alerts: lock state of rule %s: %w", r.ID, err)
		}
		if st.LastExecutionID == exec.ID {
			continue // Already counted.
		}
		next, d := evaluate(r, *st, exec.ID, exec.Status, now, e.MinInterval)
		if d.Send {
			if err := msg.load(ctx, tx); err != nil {
				return err
			}
			js, err := e.deliveries(r, msg, &next, d, messageTime(exec, now))
			if err != nil {
				return err
			}
			jobs = append(jobs, js...)
		}
		if d.Flush {
			if err := e.enqueueFlush(ctx, tx, r.ID, exec.PlanID, d.FlushAt); err != nil {
				return err
			}
		}
		if err := tx.AlertStatePut(ctx, &next); err != nil {
			return fmt.Errorf("alerts: store state of rule %s: %w", r.ID, err)
		}
		if d.Send || d.Flush {
			e.logger().InfoContext(ctx, "alert", "rule_id", r.ID, "plan_id", exec.PlanID, "execution_id", exec.ID,
				"event", d.Event, "sent", d.Send, "suppressed", next.Suppressed)
		}
	}
	if len(jobs) > 0 {
		withTraceContext(ctx, jobs)
		if _, err := tx.JobEnqueueMany(ctx, jobs); err != nil {
			return fmt.Errorf("alerts: enqueue deliveries: %w", err)
		}
	}
	return nil
}

// withTraceContext gives jobs the trace context of the span in ctx (the
// execution's, or the flush job's, when the server traces), so that the
// spans of their deliveries link to it.
func withTraceContext(ctx context.Context, jobs []*storage.JobEnqueueParams) {
	tc := tracing.TraceParent(ctx)
	for _, j := range jobs {
		j.TraceContext = tc
	}
}

// messageTime is the time of a message about exec: when it finished.
func messageTime(exec *storage.Execution, now time.Time) time.Time {
	if exec.FinishedAt != nil {
		return *exec.FinishedAt
	}
	return now
}

// enqueueFlush enqueues the flush job of a rule for a plan, due at at. Its
// unique key makes it one job while one waits. A flush job that holds the
// key while it runs has already taken its state lock and done its work
// (its commit is what let this transaction lock the state), so a new job
// then goes in without the key.
func (e *Evaluator) enqueueFlush(ctx context.Context, tx storage.Store, ruleID, planID uuid.UUID, at time.Time) error {
	payload, err := json.Marshal(flushPayload{RuleID: ruleID, PlanID: planID})
	if err != nil {
		return fmt.Errorf("alerts: encode flush job: %w", err)
	}
	p := &storage.JobEnqueueParams{
		Queue: Queue, Kind: FlushKind, Payload: payload, RunAt: at,
		MaxAttempts: e.maxAttempts(), UniqueKey: FlushKey(ruleID, planID),
		TraceContext: tracing.TraceParent(ctx),
	}
	job, err := tx.JobEnqueue(ctx, p)
	if err != nil {
		return fmt.Errorf("alerts: enqueue flush job: %w", err)
	}
	if job.State == storage.JobRunning {
		p.UniqueKey = ""
		if _, err := tx.JobEnqueue(ctx, p); err != nil {
			return fmt.Errorf("alerts: enqueue flush job: %w", err)
		}
	}
	return nil
}

// deliveries builds the message of d about msg for rule r, whose state is
// st, and returns one deliver_alert job per channel of the rule.
func (e *Evaluator) deliveries(r *storage.AlertRule, msg *messageSource, st *storage.AlertState, d decision,
	at time.Time) ([]*storage.JobEnqueueParams, error) {
	ev := msg.event(e.PublicURL, d.Event, at)
	ev.Rule = &EventRule{ID: r.ID, Name: clean(r.Name, maxText)}
	ev.ConsecutiveFailures = st.ConsecutiveFailures
	ev.Suppressed = d.Suppressed
	jobs := make([]*storage.JobEnqueueParams, 0, len(r.ChannelIDs))
	for _, ch := range r.ChannelIDs {
		ev.DeliveryID = uuid.Must(uuid.NewV7())
		body, err := encodeEvent(ev)
		if err != nil {
			return nil, fmt.Errorf("alerts: encode message: %w", err)
		}
		payload, err := marshal(deliverPayload{
			DeliveryID: ev.DeliveryID, ChannelID: ch, RuleID: r.ID, ExecutionID: ev.Execution.ID, Event: body,
		})
		if err != nil {
			return nil, fmt.Errorf("alerts: encode delivery job: %w", err)
		}
		jobs = append(jobs, &storage.JobEnqueueParams{
			Queue: Queue, Kind: DeliverKind, Payload: payload, MaxAttempts: e.maxAttempts(),
		})
	}
	return jobs, nil
}

// errGone ends, rolling it back, the transaction of a flush whose rule or
// plan is gone.
var errGone = errors.New("alert rule or plan gone")

// errFlushEarly is the error of a flush job that ran before the minimum
// interval since the last message passed.
var errFlushEarly = errors.New("a message was sent since this flush was planned; waiting for the minimum interval")

// HandleFlush runs a flush_alerts job; it is a worker.HandlerFunc. In one
// transaction it locks the rule's state for the plan and sends what was
// suppressed, if the Evaluator documentation says so. A rule, plan or
// execution that is gone sends nothing. A flush that comes before the
// minimum interval since the last message passed (a message went out
// since the flush was planned) runs again once it has.
func (e *Evaluator) HandleFlush(ctx context.Context, job *storage.Job) error {
	var p flushPayload
	if err := json.Unmarshal(job.Payload, &p); err != nil || p.RuleID == uuid.Nil || p.PlanID == uuid.Nil {
		return discardError("bad flush_alerts payload")
	}
	log := e.logger().With("rule_id", p.RuleID, "plan_id", p.PlanID)
	var retry time.Duration
	err := e.Store.InTx(ctx, func(tx storage.Store) error {
		retry = 0
		st, err := tx.AlertStateLock(ctx, p.RuleID, p.PlanID)
		if errors.Is(err, storage.ErrNotFound) {
			// The rule or the plan is gone. Roll back: on Postgres a
			// plan found gone has aborted the transaction.
			return errGone
		}
		if err != nil {
			return storeError("lock alert state", err)
		}
		r, err := tx.AlertRuleGetByID(ctx, p.RuleID)
		if errors.Is(err, storage.ErrNotFound) {
			return errGone
		}
		if err != nil {
			return storeError("load alert rule", err)
		}
		next, d := flush(r, *st, e.now(), e.MinInterval)
		if d.RetryIn > 0 {
			retry = d.RetryIn
			return nil
		}
		if d.Send {
			exec, err := tx.ExecutionGetByID(ctx, st.LastExecutionID)
			switch {
			case errors.Is(err, storage.ErrNotFound):
				next = *st // Nothing to tell about; keep the count.
				next.FlushPending = false
				d = decision{}
			case err != nil:
				return storeError("load execution", err)
			default:
				msg := &messageSource{exec: exec}
				if err := msg.load(ctx, tx); err != nil {
					return err
				}
				jobs, err := e.deliveries(r, msg, &next, d, e.now())
				if err != nil {
					return err
				}
				withTraceContext(ctx, jobs)
				if _, err := tx.JobEnqueueMany(ctx, jobs); err != nil {
					return storeError("enqueue deliveries", err)
				}
			}
		}
		if err := tx.AlertStatePut(ctx, &next); err != nil {
			return storeError("store alert state", err)
		}
		if d.Send {
			log.InfoContext(ctx, "alert flushed", "event", d.Event, "execution_id", next.LastExecutionID, "suppressed", d.Suppressed)
		}
		return nil
	})
	if errors.Is(err, errGone) {
		log.DebugContext(ctx, "alert rule or plan gone; nothing to flush")
		return nil
	}
	if err != nil {
		log.WarnContext(ctx, "flush alerts failed", "error", err)
		return readable(err)
	}
	if retry > 0 {
		return worker.RetryIn(retry, errFlushEarly)
	}
	return nil
}

// storeError wraps a store error with what was being done.
func storeError(op string, err error) error {
	return &opError{op: op, err: err}
}

// opError is a store error as a handler reports it: see readable.
type opError struct {
	op  string
	err error
}

func (e *opError) Error() string { return e.op + ": " + e.err.Error() }

func (e *opError) Unwrap() error { return e.err }

// readable returns err as a job's error, which the API shows: its own
// words for a store error, whose text (SQL, connection details) goes to
// the log only.
func readable(err error) error {
	op := "alerts"
	if oe, ok := errors.AsType[*opError](err); ok {
		op = oe.op
	}
	var summary string
	switch {
	case errors.Is(err, storage.ErrUnavailable):
		summary = "storage unavailable"
	case errors.Is(err, context.DeadlineExceeded):
		summary = "storage timed out"
	case errors.Is(err, context.Canceled):
		summary = "cancelled"
	case errors.Is(err, storage.ErrInvalidInput):
		summary = "storage refused the data"
	case errors.Is(err, storage.ErrLeaseLost):
		summary = "lease lost"
	default:
		summary = "storage error"
	}
	return &readableError{text: op + ": " + summary, err: err}
}

// readableError shows text and wraps err for errors.Is.
type readableError struct {
	text string
	err  error
}

func (e *readableError) Error() string { return e.text }

func (e *readableError) Unwrap() error { return e.err }

// publicURL returns the link to an execution.
func executionURL(base string, id uuid.UUID) string {
	return strings.TrimRight(base, "/") + "/execution/" + id.String()
}
