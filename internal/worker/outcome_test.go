package worker

import (
	"context"
	"errors"
	"fmt"
	"testing"

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
	}{
		{name: "success completes", want: outcomeComplete},
		{name: "pool lost the lease", err: context.Canceled, cause: ErrJobLeaseLost, want: outcomeDrop},
		{name: "fenced write found the lease lost", err: fmt.Errorf("store result: %w", storage.ErrLeaseLost), want: outcomeDrop},
		{name: "shutdown releases", err: context.Canceled, cause: ErrShutdown, want: outcomeRelease},
		{name: "error retries", err: errors.New("boom"), want: outcomeFail, retry: true},
		{name: "discard does not retry", err: fmt.Errorf("%w: bad payload", ErrDiscard), want: outcomeFail},
		{name: "cancelled does not retry", err: context.Canceled, cause: ErrJobCancelled, want: outcomeFail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := p.outcomeOf(job, tc.err, tc.cause)
			assert.Equal(t, tc.want, got.kind)
			if tc.want == outcomeFail {
				assert.Equal(t, tc.retry, got.fail.Retry)
			}
		})
	}
}
