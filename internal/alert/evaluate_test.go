package alert

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/storage"
)

var (
	t0      = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	execID  = uuid.MustParse("0190c1d0-1b2c-7d3e-9f40-5a6b7c8d9e0f")
	otherID = uuid.MustParse("0190c1d0-1b2c-7d3e-9f40-000000000001")
)

const (
	passed = storage.ExecutionPassed
	failed = storage.ExecutionFailed
	errd   = storage.ExecutionError
)

func at(d time.Duration) *time.Time { t := t0.Add(d); return &t }

// TestEvaluateTransitions checks each transition of the rule semantics on
// its own: the state before, one execution, the state after and what to
// do.
func TestEvaluateTransitions(t *testing.T) {
	t.Parallel()
	onFailure := &storage.AlertRule{OnFailure: true, OnRecovery: true}
	failureOnly := &storage.AlertRule{OnFailure: true}
	recoveryOnly := &storage.AlertRule{OnRecovery: true}
	threshold3 := &storage.AlertRule{AfterConsecutiveFailures: 3, OnRecovery: true}
	every := &storage.AlertRule{EveryFailure: true, OnRecovery: true}
	interval := 5 * time.Minute

	for _, tc := range []struct {
		name     string
		rule     *storage.AlertRule
		st       storage.AlertState
		status   storage.ExecutionStatus
		now      time.Time
		interval time.Duration
		want     storage.AlertState
		wantD    decision
	}{
		{
			name: "first failure ever starts alerting and sends failed", rule: onFailure,
			status: failed, now: t0,
			want:  storage.AlertState{Alerting: true, ConsecutiveFailures: 1, NotifiedAlerting: true, LastSentAt: at(0)},
			wantD: decision{Event: EventFailed, Send: true},
		},
		{
			name: "error counts as a failure", rule: onFailure,
			status: errd, now: t0,
			want:  storage.AlertState{Alerting: true, ConsecutiveFailures: 1, NotifiedAlerting: true, LastSentAt: at(0)},
			wantD: decision{Event: EventFailed, Send: true},
		},
		{
			name: "failure while alerting sends nothing", rule: onFailure,
			st:     storage.AlertState{Alerting: true, ConsecutiveFailures: 1, NotifiedAlerting: true, LastSentAt: at(0)},
			status: failed, now: t0.Add(time.Hour),
			want: storage.AlertState{Alerting: true, ConsecutiveFailures: 2, NotifiedAlerting: true, LastSentAt: at(0)},
		},
		{
			name: "pass after alerting sends recovered", rule: onFailure,
			st:     storage.AlertState{Alerting: true, ConsecutiveFailures: 4, NotifiedAlerting: true, LastSentAt: at(0)},
			status: passed, now: t0.Add(time.Hour),
			want:  storage.AlertState{LastSentAt: at(time.Hour)},
			wantD: decision{Event: EventRecovered, Send: true},
		},
		{
			name: "pass while not alerting sends nothing", rule: onFailure,
			st:     storage.AlertState{LastSentAt: at(0)},
			status: passed, now: t0.Add(time.Hour),
			want: storage.AlertState{LastSentAt: at(0)},
		},
		{
			name: "first pass ever sends nothing", rule: onFailure,
			status: passed, now: t0,
			want: storage.AlertState{},
		},
		{
			name: "without on_recovery a pass ends alerting silently", rule: failureOnly,
			st:     storage.AlertState{Alerting: true, ConsecutiveFailures: 1, NotifiedAlerting: true, LastSentAt: at(0)},
			status: passed, now: t0.Add(time.Hour),
			want: storage.AlertState{NotifiedAlerting: true, LastSentAt: at(0)},
		},
		{
			name: "without on_failure a failure alerts silently", rule: recoveryOnly,
			status: failed, now: t0,
			want: storage.AlertState{Alerting: true, ConsecutiveFailures: 1},
		},
		{
			name: "recovery-only rule tells the recovery", rule: recoveryOnly,
			st:     storage.AlertState{Alerting: true, ConsecutiveFailures: 1},
			status: passed, now: t0,
			want:  storage.AlertState{LastSentAt: at(0)},
			wantD: decision{Event: EventRecovered, Send: true},
		},
		{
			name: "below the threshold only counts", rule: threshold3,
			st:     storage.AlertState{ConsecutiveFailures: 1},
			status: failed, now: t0,
			want: storage.AlertState{ConsecutiveFailures: 2},
		},
		{
			name: "reaching the threshold sends failed without on_failure", rule: threshold3,
			st:     storage.AlertState{ConsecutiveFailures: 2},
			status: failed, now: t0,
			want:  storage.AlertState{Alerting: true, ConsecutiveFailures: 3, NotifiedAlerting: true, LastSentAt: at(0)},
			wantD: decision{Event: EventFailed, Send: true},
		},
		{
			name: "a pass below the threshold resets the count silently", rule: threshold3,
			st:     storage.AlertState{ConsecutiveFailures: 2},
			status: passed, now: t0,
			want: storage.AlertState{},
		},
		{
			name: "every_failure sends each failure while alerting", rule: every,
			st:     storage.AlertState{Alerting: true, ConsecutiveFailures: 1, NotifiedAlerting: true, LastSentAt: at(0)},
			status: failed, now: t0.Add(time.Hour),
			want:  storage.AlertState{Alerting: true, ConsecutiveFailures: 2, NotifiedAlerting: true, LastSentAt: at(time.Hour)},
			wantD: decision{Event: EventFailed, Send: true},
		},
		{
			name: "every_failure alone starts alerting with a message", rule: &storage.AlertRule{EveryFailure: true},
			status: failed, now: t0,
			want:  storage.AlertState{Alerting: true, ConsecutiveFailures: 1, NotifiedAlerting: true, LastSentAt: at(0)},
			wantD: decision{Event: EventFailed, Send: true},
		},
		{
			name: "within the interval an event is suppressed and a flush planned", rule: onFailure,
			st:     storage.AlertState{Alerting: true, ConsecutiveFailures: 1, NotifiedAlerting: true, LastSentAt: at(0)},
			status: passed, now: t0.Add(time.Minute), interval: interval,
			want:  storage.AlertState{NotifiedAlerting: true, LastSentAt: at(0), Suppressed: 1, FlushPending: true},
			wantD: decision{Event: EventRecovered, Flush: true, FlushAt: t0.Add(interval)},
		},
		{
			name: "a second suppression counts and plans the same flush", rule: onFailure,
			st:     storage.AlertState{NotifiedAlerting: true, LastSentAt: at(0), Suppressed: 1, FlushPending: true},
			status: failed, now: t0.Add(2 * time.Minute), interval: interval,
			want: storage.AlertState{Alerting: true, ConsecutiveFailures: 1, NotifiedAlerting: true, LastSentAt: at(0),
				Suppressed: 2, FlushPending: true},
			wantD: decision{Event: EventFailed, Flush: true, FlushAt: t0.Add(interval)},
		},
		{
			name: "after the interval the message carries the suppressed count", rule: onFailure,
			st:     storage.AlertState{NotifiedAlerting: true, LastSentAt: at(0), Suppressed: 2, FlushPending: true},
			status: failed, now: t0.Add(interval), interval: interval,
			want: storage.AlertState{Alerting: true, ConsecutiveFailures: 1, NotifiedAlerting: true,
				LastSentAt: at(interval), FlushPending: true},
			wantD: decision{Event: EventFailed, Send: true, Suppressed: 2},
		},
		{
			name: "no interval never suppresses", rule: every,
			st:     storage.AlertState{Alerting: true, ConsecutiveFailures: 1, NotifiedAlerting: true, LastSentAt: at(0)},
			status: failed, now: t0.Add(time.Millisecond),
			want: storage.AlertState{Alerting: true, ConsecutiveFailures: 2, NotifiedAlerting: true,
				LastSentAt: at(time.Millisecond)},
			wantD: decision{Event: EventFailed, Send: true},
		},
		{
			name: "nothing to tell within the interval is not suppressed", rule: onFailure,
			st:     storage.AlertState{Alerting: true, ConsecutiveFailures: 1, NotifiedAlerting: true, LastSentAt: at(0)},
			status: failed, now: t0.Add(time.Minute), interval: interval,
			want: storage.AlertState{Alerting: true, ConsecutiveFailures: 2, NotifiedAlerting: true, LastSentAt: at(0)},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, d := evaluate(tc.rule, tc.st, execID, tc.status, tc.now, tc.interval)
			tc.want.LastExecutionID = execID
			tc.want.LastStatus = tc.status
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.wantD, d)
		})
	}
}

func TestEvaluateIgnoresCancelledAndUnfinished(t *testing.T) {
	t.Parallel()
	r := &storage.AlertRule{OnFailure: true, OnRecovery: true}
	st := storage.AlertState{Alerting: true, ConsecutiveFailures: 2, LastExecutionID: otherID, LastStatus: failed}
	for _, s := range []storage.ExecutionStatus{storage.ExecutionCancelled, storage.ExecutionQueued, storage.ExecutionRunning} {
		got, d := evaluate(r, st, execID, s, t0, time.Minute)
		assert.Equal(t, st, got, s)
		assert.Equal(t, decision{}, d, s)
	}
}

// TestFlushDecisions checks what a flush job does with each state.
func TestFlushDecisions(t *testing.T) {
	t.Parallel()
	interval := 5 * time.Minute
	both := &storage.AlertRule{OnFailure: true, OnRecovery: true}
	for _, tc := range []struct {
		name  string
		rule  *storage.AlertRule
		st    storage.AlertState
		now   time.Time
		want  storage.AlertState
		wantD decision
	}{
		{
			name: "a recovery told late", rule: both,
			st:   storage.AlertState{NotifiedAlerting: true, LastSentAt: at(0), Suppressed: 1, FlushPending: true},
			now:  t0.Add(interval),
			want: storage.AlertState{LastSentAt: at(interval)}, wantD: decision{Event: EventRecovered, Send: true, Suppressed: 1},
		},
		{
			name: "a new failure told late", rule: both,
			st:    storage.AlertState{Alerting: true, ConsecutiveFailures: 1, LastSentAt: at(0), Suppressed: 2, FlushPending: true},
			now:   t0.Add(interval + time.Second),
			want:  storage.AlertState{Alerting: true, ConsecutiveFailures: 1, NotifiedAlerting: true, LastSentAt: at(interval + time.Second)},
			wantD: decision{Event: EventFailed, Send: true, Suppressed: 2},
		},
		{
			name: "flapping back to what was told keeps the count", rule: both,
			st: storage.AlertState{Alerting: true, ConsecutiveFailures: 1, NotifiedAlerting: true, LastSentAt: at(0),
				Suppressed: 2, FlushPending: true},
			now: t0.Add(interval),
			want: storage.AlertState{Alerting: true, ConsecutiveFailures: 1, NotifiedAlerting: true, LastSentAt: at(0),
				Suppressed: 2},
		},
		{
			name: "a recovery the rule does not tell keeps the count", rule: &storage.AlertRule{EveryFailure: true},
			st:   storage.AlertState{NotifiedAlerting: true, LastSentAt: at(0), Suppressed: 1, FlushPending: true},
			now:  t0.Add(interval),
			want: storage.AlertState{NotifiedAlerting: true, LastSentAt: at(0), Suppressed: 1},
		},
		{
			name: "a failure the rule does not tell keeps the count", rule: &storage.AlertRule{OnRecovery: true},
			st:   storage.AlertState{Alerting: true, ConsecutiveFailures: 1, LastSentAt: at(0), Suppressed: 1, FlushPending: true},
			now:  t0.Add(interval),
			want: storage.AlertState{Alerting: true, ConsecutiveFailures: 1, LastSentAt: at(0), Suppressed: 1},
		},
		{
			name: "every_failure still alerting sends the count", rule: &storage.AlertRule{EveryFailure: true},
			st: storage.AlertState{Alerting: true, ConsecutiveFailures: 4, NotifiedAlerting: true, LastSentAt: at(0),
				Suppressed: 3, FlushPending: true},
			now: t0.Add(interval),
			want: storage.AlertState{Alerting: true, ConsecutiveFailures: 4, NotifiedAlerting: true,
				LastSentAt: at(interval)},
			wantD: decision{Event: EventFailed, Send: true, Suppressed: 3},
		},
		{
			name: "nothing suppressed sends nothing", rule: both,
			st:   storage.AlertState{NotifiedAlerting: true, LastSentAt: at(0), FlushPending: true},
			now:  t0.Add(interval),
			want: storage.AlertState{NotifiedAlerting: true, LastSentAt: at(0)},
		},
		{
			name: "too early waits for the interval", rule: both,
			st:    storage.AlertState{NotifiedAlerting: true, LastSentAt: at(2 * time.Minute), Suppressed: 1, FlushPending: true},
			now:   t0.Add(interval),
			want:  storage.AlertState{NotifiedAlerting: true, LastSentAt: at(2 * time.Minute), Suppressed: 1, FlushPending: true},
			wantD: decision{RetryIn: 2 * time.Minute},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.st.LastExecutionID, tc.want.LastExecutionID = execID, execID
			got, d := flush(tc.rule, tc.st, tc.now, interval)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.wantD, d)
		})
	}
}

// sim runs executions through evaluate and flush jobs through flush, as
// the store and the queue would, and records the messages sent.
type sim struct {
	rule     *storage.AlertRule
	interval time.Duration
	st       storage.AlertState
	now      time.Time
	flushAt  *time.Time
	sent     []string
}

func (s *sim) run(t *testing.T, status storage.ExecutionStatus) {
	t.Helper()
	s.runFlushIfDue(t)
	next, d := evaluate(s.rule, s.st, uuid.Must(uuid.NewV7()), status, s.now, s.interval)
	s.st = next
	if d.Send {
		s.sent = append(s.sent, fmt.Sprintf("%s+%d", d.Event, d.Suppressed))
	}
	if d.Flush && s.flushAt == nil {
		at := d.FlushAt
		s.flushAt = &at
	}
}

func (s *sim) runFlushIfDue(t *testing.T) {
	t.Helper()
	for s.flushAt != nil && !s.now.Before(*s.flushAt) {
		next, d := flush(s.rule, s.st, s.now, s.interval)
		s.st = next
		s.flushAt = nil
		if d.RetryIn > 0 {
			at := s.now.Add(d.RetryIn)
			s.flushAt = &at
			continue
		}
		if d.Send {
			s.sent = append(s.sent, fmt.Sprintf("%s+%d", d.Event, d.Suppressed))
		}
	}
}

func (s *sim) wait(t *testing.T, d time.Duration) {
	t.Helper()
	s.now = s.now.Add(d)
	s.runFlushIfDue(t)
}

// TestSequences runs whole histories: each letter is an execution (P
// passed, F failed, E error), "." lets a minute pass.
func TestSequences(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		rule     storage.AlertRule
		interval time.Duration
		history  string
		want     []string
	}{
		{"fail, fail, pass", storage.AlertRule{OnFailure: true, OnRecovery: true}, 0, "F.F.P",
			[]string{"execution.failed+0", "execution.recovered+0"}},
		{"three failures with a threshold of 3", storage.AlertRule{AfterConsecutiveFailures: 3}, 0, "F.F.F.F",
			[]string{"execution.failed+0"}},
		{"the threshold restarts after a pass", storage.AlertRule{AfterConsecutiveFailures: 2, OnRecovery: true}, 0, "F.P.F.F.P",
			[]string{"execution.failed+0", "execution.recovered+0"}},
		{"every failure", storage.AlertRule{EveryFailure: true}, 0, "F.E.F.P.F",
			[]string{"execution.failed+0", "execution.failed+0", "execution.failed+0", "execution.failed+0"}},
		{"error counts as failure", storage.AlertRule{OnFailure: true}, 0, "E.E",
			[]string{"execution.failed+0"}},
		// Sent at 0; the recovery at 1 min is held and told at 5 min.
		{"a recovery within the interval is told late", storage.AlertRule{OnFailure: true, OnRecovery: true}, 5 * time.Minute,
			"F.P.....", []string{"execution.failed+0", "execution.recovered+1"}},
		// A flapping plan, F and P a minute apart: messages at 0, 5, 10
		// min carry what was held back, and the flush at 15 min tells the
		// final recovery.
		{"flapping sends one message per interval", storage.AlertRule{OnFailure: true, OnRecovery: true}, 5 * time.Minute,
			"F.P.F.P.F.P.F.P.F.P.F.P......",
			[]string{"execution.failed+0", "execution.recovered+4", "execution.failed+4", "execution.recovered+1"}},
		// Flapping that ends where it was last told: nothing more is sent,
		// the count waits.
		{"flapping back to the told state waits", storage.AlertRule{OnFailure: true, OnRecovery: true}, 5 * time.Minute,
			"F.P.F.......", []string{"execution.failed+0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := &sim{rule: &tc.rule, interval: tc.interval, now: t0}
			for _, c := range tc.history {
				switch c {
				case 'P':
					s.run(t, passed)
				case 'F':
					s.run(t, failed)
				case 'E':
					s.run(t, errd)
				case '.':
					s.wait(t, time.Minute)
				}
			}
			assert.Equal(t, tc.want, s.sent)
		})
	}
}

// TestFlappingNeverSendsTwiceWithinTheInterval checks the promise of the
// minimum interval over a long random-looking history.
func TestFlappingNeverSendsTwiceWithinTheInterval(t *testing.T) {
	t.Parallel()
	interval := 5 * time.Minute
	s := &sim{rule: &storage.AlertRule{OnFailure: true, OnRecovery: true, EveryFailure: true}, interval: interval, now: t0}
	var sentAt []time.Time
	pattern := "FPFFPFPPPFFFPFPFPFFPPFPF"
	for i := range 200 {
		n := len(s.sent)
		if pattern[i%len(pattern)] == 'F' {
			s.run(t, failed)
		} else {
			s.run(t, passed)
		}
		if len(s.sent) > n {
			sentAt = append(sentAt, s.now)
		}
		before := len(s.sent)
		s.wait(t, 40*time.Second)
		if len(s.sent) > before {
			sentAt = append(sentAt, s.now)
		}
	}
	require.Greater(t, len(sentAt), 5)
	for i := 1; i < len(sentAt); i++ {
		assert.GreaterOrEqual(t, sentAt[i].Sub(sentAt[i-1]), interval, "messages %d and %d", i-1, i)
	}
	assert.True(t, strings.HasPrefix(s.sent[0], EventFailed))
}
