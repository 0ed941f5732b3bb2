package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// notifyChannel is the channel the jobs_notify trigger signals on every
// statement that inserts jobs, with an empty payload, and the
// jobs_cancel_notify trigger whenever a running job is asked to cancel,
// with cancelPayload.
const notifyChannel = "astro_jobs"

// cancelPayload is the payload of a notification that a running job was
// asked to cancel.
const cancelPayload = "cancel"

// Listen calls wake each time jobs are enqueued, and checkCancels each time
// a running job is asked to cancel, by any node, until ctx ends. It holds
// one dedicated connection, reconnecting with backoff after errors, and
// calls both after each (re)connect so nothing that happened while it was
// not listening waits for the next poll or heartbeat. checkCancels may be
// nil; neither callback may block.
func (s *Store) Listen(ctx context.Context, wake, checkCancels func()) {
	if checkCancels == nil {
		checkCancels = func() {}
	}
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, wake, checkCancels, func() { backoff = 0 })
		if ctx.Err() != nil {
			return
		}
		_ = err // Workers poll meanwhile; the outage is logged by them.
		backoff = min(max(2*backoff, 200*time.Millisecond), 5*time.Second)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (s *Store) listenOnce(ctx context.Context, wake, checkCancels, connected func()) error {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return fmt.Errorf("connect listener: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	connected()
	wake()
	checkCancels()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("wait for notification: %w", err)
		}
		if n.Payload == cancelPayload {
			checkCancels()
		} else {
			wake()
		}
	}
}
