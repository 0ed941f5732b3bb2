package astro

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
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
// 100 ms before the second poll and doubles the wait up to 2 s. A poll that fails for a
// reason that passes (a network error such as a refused or reset connection, or a 502,
// 503 or 504 answer, as while the server restarts) is retried on the same schedule
// until ctx ends; any other error of a poll (such as a *Problem with status 404) is
// returned at once. When ctx ends first it returns ctx's error, wrapped, with the last
// poll's error, if any, in the message.
func (c *Client) WaitExecution(ctx context.Context, id UUID) (*Execution, error) {
	delay := firstPollDelay
	var lastErr error
	for {
		e, err := c.GetExecution(ctx, id)
		switch {
		case err == nil && IsFinal(e):
			return e, nil
		case err != nil && ctx.Err() != nil:
			// The context ended during the poll; its answer may still have arrived
			// (a 503 served as the context was cancelled), but ctx's end is the cause.
			return nil, waitEnded(ctx, id, err)
		case err != nil && !isTransient(err):
			return nil, err
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return nil, waitEnded(ctx, id, lastErr)
		case <-time.After(delay):
		}
		delay = nextPollDelay(delay)
	}
}

// waitEnded returns the error of a wait whose context ended: it wraps ctx's error and
// names the last poll's error, if any, in the message.
func waitEnded(ctx context.Context, id UUID, lastErr error) error {
	if lastErr != nil && !errors.Is(lastErr, ctx.Err()) {
		return fmt.Errorf("astro: wait for execution %s: %w (last poll: %v)", id, ctx.Err(), lastErr)
	}
	return fmt.Errorf("astro: wait for execution %s: %w", id, ctx.Err())
}

// isTransient reports whether a poll's error may pass if the poll is sent again: a
// *Problem with status 502, 503 or 504, or a network error (a refused or reset
// connection, a connection closed before the answer, a timeout). A context's end is
// not transient.
func isTransient(err error) bool {
	var p *Problem
	if errors.As(err, &p) {
		switch p.Status {
		case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var op *net.OpError
	var ne net.Error
	return errors.As(err, &op) || (errors.As(err, &ne) && ne.Timeout()) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
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
