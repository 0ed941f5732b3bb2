// Package retention deletes finished executions once they are older than
// their plan's retention, and alert delivery attempts once they are older
// than the server's, so that history kept by unattended runs does not grow
// without end. A Pruner runs on every node; the store makes concurrent
// prunes safe.
package retention

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/astro-runner/astro-runner/internal/storage"
)

// Limits of a retention, the server's (ASTRO_EXECUTION_RETENTION) or a
// plan's.
const (
	// Default is the server's retention when ASTRO_EXECUTION_RETENTION is
	// not set: 30 days.
	Default = 30 * 24 * time.Hour
	// Minimum is the shortest retention other than zero (keep forever).
	Minimum = time.Hour
	// Maximum is the longest retention: 100 years.
	Maximum = 100 * 365 * 24 * time.Hour
)

// Parse reads a retention: a Go duration such as "720h" or "90m", or a
// whole number of days such as "30d". "0" keeps executions forever. Any
// other value under Minimum, over Maximum or negative is an error that
// says what is allowed.
func Parse(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseUint(days, 10, 32)
		if err != nil {
			return 0, fmt.Errorf("%q is not a whole number of days such as 30d", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("%q is not a duration such as 720h or 30d", s)
		}
	}
	switch {
	case d < 0:
		return 0, fmt.Errorf("%q is negative", s)
	case d > 0 && d < Minimum:
		return 0, fmt.Errorf("%q is shorter than %s; 0 keeps executions forever", s, Minimum)
	case d > Maximum:
		return 0, fmt.Errorf("%q is longer than 100 years", s)
	}
	return d, nil
}

// Format writes a retention the way Parse reads it: zero as "0", whole
// days as "30d", anything else as a Go duration.
func Format(d time.Duration) string {
	const day = 24 * time.Hour
	if d == 0 {
		return "0"
	}
	if d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	return d.String()
}

// Store is the part of storage.Store that a Pruner uses.
type Store interface {
	ExecutionPrune(ctx context.Context, p *storage.ExecutionPruneParams) (int64, error)
	AlertDeliveryPrune(ctx context.Context, before time.Time, limit int) (int64, error)
}

// Config tunes a Pruner.
type Config struct {
	// Retention is how long finished executions of a plan without its own
	// retention, and alert delivery attempts, are kept. Zero keeps them
	// forever; plans with their own retention are still pruned.
	Retention time.Duration
	// Interval is how often the pruner runs, plus up to a fifth of it of
	// random jitter so that nodes spread out. Defaults to 1m.
	Interval time.Duration
	// BatchSize is the most executions, or delivery attempts, one store
	// call deletes. Defaults to storage.DefaultPruneLimit (500).
	BatchSize int
	// KeepNewest is how many of each plan's newest executions are kept
	// whatever their age. Defaults to storage.DefaultKeepNewest (100).
	KeepNewest int
	// Pause is the wait between two batches of one run, which leaves the
	// database to the API and the workers. Defaults to 100ms.
	Pause time.Duration
	// StoreTimeout bounds each store call. Defaults to 30s.
	StoreTimeout time.Duration
	// Logger receives the counts. Defaults to slog.Default().
	Logger *slog.Logger
	// NowFunc gives the time that ages are measured from. Defaults to nil:
	// the database's clock, which every node shares, for executions, and
	// this node's clock for delivery attempts.
	NowFunc func() time.Time
}

// WithDefaults returns a copy of c with its zero fields set to their
// defaults.
func (c Config) WithDefaults() Config {
	if c.Interval <= 0 {
		c.Interval = time.Minute
	}
	if c.BatchSize <= 0 {
		c.BatchSize = storage.DefaultPruneLimit
	}
	if c.KeepNewest <= 0 {
		c.KeepNewest = storage.DefaultKeepNewest
	}
	if c.Pause <= 0 {
		c.Pause = 100 * time.Millisecond
	}
	if c.StoreTimeout <= 0 {
		c.StoreTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Pruner deletes old finished executions and delivery attempts in small
// batches.
type Pruner struct {
	store Store
	cfg   Config
}

// New returns a Pruner over store.
func New(store Store, cfg Config) *Pruner {
	return &Pruner{store: store, cfg: cfg.WithDefaults()}
}

// Run prunes every Interval, with jitter, until ctx ends: executions,
// then delivery attempts. A failed run is logged and tried again at the
// next interval.
func (p *Pruner) Run(ctx context.Context) {
	for {
		jitter := time.Duration(rand.Int64N(int64(p.cfg.Interval/5) + 1))
		if !sleep(ctx, p.cfg.Interval+jitter) {
			return
		}
		start := time.Now()
		n, err := p.Prune(ctx)
		p.report(ctx, "executions", n, err, start)
		start = time.Now()
		n, err = p.PruneDeliveries(ctx)
		p.report(ctx, "delivery_attempts", n, err, start)
	}
}

// report logs the outcome of pruning what.
func (p *Pruner) report(ctx context.Context, what string, n int64, err error, start time.Time) {
	switch {
	case err != nil && ctx.Err() == nil:
		p.cfg.Logger.Warn("prune old "+what, "pruned", n, "error", err)
	case n > 0:
		p.cfg.Logger.Info("pruned old "+what, what, n, "took", time.Since(start).Round(time.Millisecond))
	default:
		p.cfg.Logger.Debug("no " + what + " to prune")
	}
}

// Prune deletes batches of old finished executions until a batch comes
// back smaller than BatchSize, pausing between batches, and returns how
// many it deleted. A batch smaller than BatchSize means either that nothing
// old is left or that another node holds the rest; either way that node or
// the next run finishes the work.
func (p *Pruner) Prune(ctx context.Context) (int64, error) {
	return p.batches(ctx, "executions", p.batch)
}

// PruneDeliveries deletes batches of alert delivery attempts made more
// than Retention ago, as Prune does executions, and returns how many it
// deleted. With a Retention of zero it keeps them all and does nothing.
// The cutoff is fixed when it starts, from NowFunc or this node's clock.
func (p *Pruner) PruneDeliveries(ctx context.Context) (int64, error) {
	if p.cfg.Retention <= 0 {
		return 0, nil
	}
	now := time.Now()
	if p.cfg.NowFunc != nil {
		now = p.cfg.NowFunc()
	}
	before := now.Add(-p.cfg.Retention)
	return p.batches(ctx, "delivery_attempts", func(ctx context.Context) (int64, error) {
		callCtx, cancel := context.WithTimeout(ctx, p.cfg.StoreTimeout)
		defer cancel()
		n, err := p.store.AlertDeliveryPrune(callCtx, before, p.cfg.BatchSize)
		if err != nil {
			return 0, fmt.Errorf("prune delivery attempts: %w", err)
		}
		return n, nil
	})
}

// batches runs batch until it deletes fewer than BatchSize rows, pausing
// between batches, and returns how many rows it deleted in all.
func (p *Pruner) batches(ctx context.Context, what string, batch func(context.Context) (int64, error)) (int64, error) {
	var total int64
	for {
		n, err := batch(ctx)
		total += n
		if err != nil {
			return total, err
		}
		if n < int64(p.cfg.BatchSize) {
			return total, nil
		}
		p.cfg.Logger.Debug("pruned a batch of old "+what, what, n, "so_far", total)
		if !sleep(ctx, p.cfg.Pause) {
			return total, ctx.Err()
		}
	}
}

func (p *Pruner) batch(ctx context.Context) (int64, error) {
	callCtx, cancel := context.WithTimeout(ctx, p.cfg.StoreTimeout)
	defer cancel()
	params := &storage.ExecutionPruneParams{
		DefaultRetention: p.cfg.Retention,
		KeepNewest:       p.cfg.KeepNewest,
		Limit:            p.cfg.BatchSize,
	}
	if p.cfg.NowFunc != nil {
		params.Now = p.cfg.NowFunc()
	}
	n, err := p.store.ExecutionPrune(callCtx, params)
	if err != nil {
		return 0, fmt.Errorf("prune executions: %w", err)
	}
	return n, nil
}

// sleep waits for d or until ctx ends, and reports whether the wait ran
// its full length.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
