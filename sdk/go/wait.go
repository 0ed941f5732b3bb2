package astro

import (
	"context"
	"fmt"
	"time"
)

// Polling delays of WaitExecution: the first is firstPollDelay, each next one twice the
// last, up to maxPollDelay.
const (
	firstPollDelay = 100 * time.Millisecond
	maxPollDelay   = 2 * time.Second
)

// IsFinal reports whether an execution has reached a final status (passed, failed,
// error or cancelled), which it never leaves.
func IsFinal(e *Execution) bool {
	switch string(e.Status) {
	case "passed", "failed", "error", "cancelled":
		return true
	}
	return false
}

// nextPollDelay returns the delay after d: twice d, at most maxPollDelay.
func nextPollDelay(d time.Duration) time.Duration {
	return min(2*d, maxPollDelay)
}

// WaitExecution polls an execution until its status is final and returns it. It waits
// 100 ms before the second poll and doubles the wait up to 2 s. It returns ctx's error,
// wrapped, when ctx ends first, and the first error of a poll (such as a *Problem).
func (c *Client) WaitExecution(ctx context.Context, id UUID) (*Execution, error) {
	delay := firstPollDelay
	for {
		e, err := c.GetExecution(ctx, id)
		if err != nil {
			return nil, err
		}
		if IsFinal(e) {
			return e, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("astro: wait for execution %s: %w", id, ctx.Err())
		case <-time.After(delay):
		}
		delay = nextPollDelay(delay)
	}
}

// RunOptions configures RunPlan. The zero value is ready to use.
type RunOptions struct {
	// IdempotencyKey, when set, is sent with the execute request, so that running the
	// same plan again with the same key returns the first execution instead of a new one.
	IdempotencyKey string
	// Variables, Environment and Queue are passed on as in ExecuteOptions.
	Variables   map[string]string
	Environment string
	Queue       string
}

// RunPlan starts an execution of a plan and waits until it is final, as ExecutePlan
// then WaitExecution. It returns the final execution whatever its status: check Status
// (passed, failed, error or cancelled) and Result. An error means the run could not be
// started or followed, or ctx ended first; the execution then goes on on the server.
func (c *Client) RunPlan(ctx context.Context, planID UUID, opts RunOptions) (*Execution, error) {
	e, err := c.ExecutePlanWith(ctx, planID, ExecuteOptions{
		IdempotencyKey: opts.IdempotencyKey, Variables: opts.Variables, Environment: opts.Environment, Queue: opts.Queue,
	})
	if err != nil {
		return nil, err
	}
	if IsFinal(e) {
		return e, nil
	}
	return c.WaitExecution(ctx, e.Id)
}
