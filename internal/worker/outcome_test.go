package worker

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/astro-runner/astro-runner/internal/storage"
)

func TestOutcomeOf(t *testing.T) {
	t.Parallel()
	p := New(nil, Config{})
	job := &storage.Job{ID: 7, LeaseToken: 3, Attempt: 1, MaxAttempts: 5}
	for _, tc := range []struct {
		name       string
		err, cause error
		want       outcomeKind
		retry      bool
		ended      Outcome
	}{
		{name: "success completes", want: outcomeComplete, ended: OutcomeCompleted},
		{name: "pool lost the lease", err: context.Canceled, cause: ErrJobLeaseLost, want: outcomeDrop, ended: OutcomeLeaseLost},
		{name: "fenced write found the lease lost", err: fmt.Errorf("store result: %w", storage.ErrLeaseLost), want: outcomeDrop, ended: OutcomeLeaseLost},
		{name: "shutdown releases", err: context.Canceled, cause: ErrShutdown, want: outcomeRelease, ended: OutcomeReleased},
		{name: "error retries", err: errors.New("boom"), want: outcomeFail, retry: true, ended: OutcomeFailed},
		{name: "discard does not retry", err: fmt.Errorf("%w: bad payload", ErrDiscard), want: outcomeFail, ended: OutcomeDiscarded},
		{name: "cancelled does not retry", err: context.Canceled, cause: ErrJobCancelled, want: outcomeFail, ended: OutcomeCancelled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := p.outcomeOf(job, tc.err, tc.cause)
			assert.Equal(t, tc.want, got.kind)
			assert.Equal(t, tc.ended, got.ended, "observed outcome")
			if tc.want == outcomeFail {
				assert.Equal(t, tc.retry, got.fail.Retry)
			}
		})
	}
}

func TestRetryInLengthensTheBackoff(t *testing.T) {
	t.Parallel()
	p := New(nil, Config{Retry: storage.RetryPolicy{Base: time.Second, Max: time.Minute}})
	job := &storage.Job{ID: 7, LeaseToken: 3, Attempt: 1, MaxAttempts: 5}
	for _, tc := range []struct {
		name     string
		err      error
		min, max time.Duration
	}{
		{"plain error takes the backoff", errors.New("boom"), time.Second, 1200 * time.Millisecond},
		{"a longer delay wins", RetryIn(30*time.Second, errors.New("429")), 30 * time.Second, 30 * time.Second},
		{"a shorter delay keeps the backoff", RetryIn(time.Millisecond, errors.New("503")), time.Second, 1200 * time.Millisecond},
		{"wrapped still counts", fmt.Errorf("deliver: %w", RetryIn(2*time.Minute, errors.New("429"))), 2 * time.Minute, 2 * time.Minute},
		{"capped at an hour", RetryIn(48*time.Hour, errors.New("429")), MaxRetryDelay, MaxRetryDelay},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := p.outcomeOf(job, tc.err, nil)
			if assert.Equal(t, outcomeFail, got.kind) {
				assert.True(t, got.fail.Retry)
				assert.GreaterOrEqual(t, got.fail.RetryAfter, tc.min)
				assert.LessOrEqual(t, got.fail.RetryAfter, tc.max)
				assert.Equal(t, tc.err.Error(), got.fail.Error)
			}
		})
	}
}

func TestOutcomeOfTheLastAttemptDiscards(t *testing.T) {
	t.Parallel()
	p := New(nil, Config{})
	last := &storage.Job{ID: 7, LeaseToken: 3, Attempt: 5, MaxAttempts: 5}
	got := p.outcomeOf(last, errors.New("boom"), nil)
	assert.True(t, got.fail.Retry, "the store decides; the pool asks for a retry")
	assert.Equal(t, OutcomeDiscarded, got.ended)
}

func TestPickupLatency(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name           string
		created, runAt time.Time
		at             time.Time
		want           time.Duration
	}{
		{"due when created", base, base.Add(-time.Hour), base.Add(3 * time.Second), 3 * time.Second},
		{"due at a later run_at", base, base.Add(time.Minute), base.Add(time.Minute + 250*time.Millisecond), 250 * time.Millisecond},
		{"clocks apart give zero, not a negative", base, base, base.Add(-time.Millisecond), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			job := &storage.Job{CreatedAt: tc.created, RunAt: tc.runAt}
			assert.Equal(t, tc.want, pickupLatency(job, tc.at))
		})
	}
}

func TestOutcomeString(t *testing.T) {
	t.Parallel()
	want := []string{"completed", "failed", "discarded", "cancelled", "released", "lease_lost"}
	for i, name := range want {
		assert.Equal(t, name, Outcome(i).String())
	}
	assert.Equal(t, "unknown", Outcome(len(want)).String())
}
