package groupcommit_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/storage/groupcommit"
)

// TestQueuedCallLeavesWhenItsContextEnds queues a call behind a batch that
// does not end (its transaction is held, as by a lock wait), then ends the
// call's context, as a client that goes away or a deadline does. InTx must
// return the context's error then, having run nothing, as a transaction
// of its own would have; it must not wait for the batch ahead of it.
func TestQueuedCallLeavesWhenItsContextEnds(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, cs *countingStore) {
		g := groupcommit.New(cs, 64)
		first := newWrite(t.Context(), "first")
		firstDone := call(g, first)
		<-cs.held
		ctx, cancel := context.WithCancel(t.Context())
		queued := newWrite(ctx, "queued")
		queuedDone := call(g, queued)
		require.Eventually(t, func() bool { return g.Queued() == 1 }, 10*time.Second, time.Millisecond)
		cancel()
		select {
		case o := <-queuedDone:
			require.ErrorIs(t, o.err, context.Canceled)
		case <-time.After(2 * time.Second):
			close(cs.hold)
			<-queuedDone
			require.FailNow(t, "the queued call waited for the batch ahead of it, past its context")
		}
		close(cs.hold)
		require.NoError(t, (<-firstDone).err)
		assert.Zero(t, queued.runs.Load())
		assert.Zero(t, g.Queued())
		after := newWrite(t.Context(), "after")
		require.NoError(t, g.InTx(after.ctx, after.fn), "the Group still serves")
	})
}

// TestCallsThatGiveUpAtRandomAllReturn runs many calls at once, each with
// a short deadline of its own, so that calls leave the queue, are taken by
// batches, and lead them while others give up. Every call must return,
// having committed if it returned nil and not if it failed for a reason
// other than its deadline, and the Group must end idle.
func TestCallsThatGiveUpAtRandomAllReturn(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, cs *countingStore) {
		close(cs.hold)
		g := groupcommit.New(cs, 8)
		const n = 200
		ws := make([]*write, n)
		outs := make([]<-chan outcome, n)
		for i := range n {
			ctx, cancel := context.WithTimeout(t.Context(), time.Duration(i%7)*time.Millisecond)
			t.Cleanup(cancel)
			ws[i] = newWrite(ctx, fmt.Sprintf("w%d", i))
			outs[i] = call(g, ws[i])
		}
		for i, ch := range outs {
			select {
			case o := <-ch:
				require.Nil(t, o.panicked)
				switch {
				case o.err == nil:
					assert.True(t, ws[i].committed(t, cs), "%s returned nil", ws[i].name)
				case errors.Is(o.err, context.DeadlineExceeded):
					// Perhaps at its COMMIT, whose outcome is then
					// unknown, as for any transaction.
				default:
					assert.False(t, ws[i].committed(t, cs), "%s returned %v", ws[i].name, o.err)
				}
			case <-time.After(30 * time.Second):
				require.FailNow(t, "a call never returned", "call %d", i)
			}
		}
		assert.Zero(t, g.Queued())
		after := newWrite(t.Context(), "after")
		require.NoError(t, g.InTx(after.ctx, after.fn))
	})
}
