package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// notifyChannel is the channel the jobs_notify trigger signals on every
// statement that inserts jobs.
const notifyChannel = "astro_jobs"

// Listen calls wake each time jobs are enqueued, by any node, until ctx
// ends. It holds one dedicated connection, reconnecting with backoff after
// errors, and calls wake after each (re)connect so nothing enqueued while
// it was not listening waits for the next poll.
func (s *Store) Listen(ctx context.Context, wake func()) {
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, wake, func() { backoff = 0 })
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

func (s *Store) listenOnce(ctx context.Context, wake, connected func()) error {
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
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return fmt.Errorf("wait for notification: %w", err)
		}
		wake()
	}
}
