package storagetest_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/astro-runner/astro-runner/internal/storage"
)

func TestRetryPolicyWithDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   storage.RetryPolicy
		want storage.RetryPolicy
	}{
		{"FillsBaseAndMax", storage.RetryPolicy{Jitter: 0.3}, storage.RetryPolicy{Base: time.Second, Max: 10 * time.Minute, Jitter: 0.3}},
		{"NegativeDurationsGetDefaults", storage.RetryPolicy{Base: -time.Second, Max: -time.Minute, Jitter: 0.3}, storage.RetryPolicy{Base: time.Second, Max: 10 * time.Minute, Jitter: 0.3}},
		{"KeepsGivenValues", storage.RetryPolicy{Base: 2 * time.Second, Max: time.Hour, Jitter: 0.5}, storage.RetryPolicy{Base: 2 * time.Second, Max: time.Hour, Jitter: 0.5}},
		{"KeepsFullJitter", storage.RetryPolicy{Base: time.Second, Max: time.Minute, Jitter: 1}, storage.RetryPolicy{Base: time.Second, Max: time.Minute, Jitter: 1}},
		{"NegativeJitterGetsDefault", storage.RetryPolicy{Base: time.Second, Max: time.Minute, Jitter: -0.1}, storage.RetryPolicy{Base: time.Second, Max: time.Minute, Jitter: 0.2}},
		{"JitterAboveOneGetsDefault", storage.RetryPolicy{Base: time.Second, Max: time.Minute, Jitter: 1.5}, storage.RetryPolicy{Base: time.Second, Max: time.Minute, Jitter: 0.2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, tt.in.WithDefaults())
		})
	}
}

func TestRetryPolicyBackoff(t *testing.T) {
	t.Parallel()
	noJitter := storage.RetryPolicy{Base: time.Second, Max: time.Minute, Jitter: 0}
	tests := []struct {
		name     string
		policy   storage.RetryPolicy
		attempt  int
		min, max time.Duration
	}{
		{"FirstAttemptWaitsBase", noJitter, 1, time.Second, time.Second},
		{"SecondAttemptDoubles", noJitter, 2, 2 * time.Second, 2 * time.Second},
		{"ThirdAttemptDoublesAgain", noJitter, 3, 4 * time.Second, 4 * time.Second},
		{"SixthAttempt", noJitter, 6, 32 * time.Second, 32 * time.Second},
		{"CappedAtMax", noJitter, 7, time.Minute, time.Minute},
		{"HugeAttemptDoesNotOverflow", noJitter, 1_000_000, time.Minute, time.Minute},
		{"AttemptZeroWaitsBase", noJitter, 0, time.Second, time.Second},
		{"NegativeAttemptWaitsBase", noJitter, -3, time.Second, time.Second},
		{"BaseAboveMaxIsCapped", storage.RetryPolicy{Base: 5 * time.Minute, Max: time.Minute}, 1, time.Minute, time.Minute},
		{"MaxNotAPowerOfTwoOfBase", storage.RetryPolicy{Base: 3 * time.Second, Max: 10 * time.Second}, 3, 10 * time.Second, 10 * time.Second},
		// The zero policy: 1s base, 10m cap, and at most 20% jitter.
		{"ZeroPolicyFirstAttempt", storage.RetryPolicy{}, 1, time.Second, 1200 * time.Millisecond},
		{"ZeroPolicyCapped", storage.RetryPolicy{}, 20, 10 * time.Minute, 12 * time.Minute},
		{"JitterAddsUpToItsFraction", storage.RetryPolicy{Base: time.Second, Max: time.Minute, Jitter: 0.5}, 3, 4 * time.Second, 6 * time.Second},
		{"FullJitterAtMostDoubles", storage.RetryPolicy{Base: time.Second, Max: time.Minute, Jitter: 1}, 7, time.Minute, 2 * time.Minute},
		{"InvalidJitterMeansTwentyPercent", storage.RetryPolicy{Base: time.Second, Max: time.Minute, Jitter: 7}, 2, 2 * time.Second, 2400 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Jitter is random: sample enough to hit the edges of a wrong
			// range.
			for range 200 {
				d := tt.policy.Backoff(tt.attempt)
				assert.GreaterOrEqual(t, d, tt.min)
				if !assert.LessOrEqual(t, d, tt.max) {
					return
				}
			}
		})
	}
}

func TestRetryPolicyBackoffJitterVaries(t *testing.T) {
	t.Parallel()
	p := storage.RetryPolicy{Base: time.Second, Max: time.Minute, Jitter: 0.5}
	seen := map[time.Duration]bool{}
	for range 100 {
		seen[p.Backoff(3)] = true
	}
	assert.Greater(t, len(seen), 1, "jitter never changed the wait")
}
