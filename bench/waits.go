package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"time"
)

// serverVersion names the Postgres server, or says there is none.
func (b *backend) serverVersion(ctx context.Context) string {
	if b == nil || b.admin == nil {
		return "Postgres not used"
	}
	var v string
	if err := b.admin.QueryRow(ctx, "SHOW server_version").Scan(&v); err != nil {
		return "Postgres version unknown"
	}
	return "PostgreSQL " + v
}

// waitSampler samples what the benchmark's Postgres backends are doing,
// every 10ms, from pg_stat_activity: on CPU (active, no wait event), waiting
// on a named event, or idle in a transaction. Idle connections are not
// counted.
type waitSampler struct {
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	counts  map[string]int
	samples int
}

func startWaitSampler(ctx context.Context, b *backend) *waitSampler {
	ctx, cancel := context.WithCancel(ctx)
	s := &waitSampler{cancel: cancel, counts: map[string]int{}}
	s.wg.Go(func() {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			rows, err := b.admin.Query(ctx, `
				SELECT state || ' ' || COALESCE(wait_event_type || ':' || wait_event, 'CPU')
				FROM pg_stat_activity
				WHERE datname = $1 AND pid <> pg_backend_pid() AND state NOT IN ('idle')
				  AND query NOT LIKE '%pg_stat_activity%'`, benchDatabase)
			if err != nil {
				continue
			}
			s.samples++
			for rows.Next() {
				var k string
				if rows.Scan(&k) == nil {
					s.counts[k]++
				}
			}
			rows.Close()
		}
	})
	return s
}

// stop ends the sampling and prints the busiest states.
func (s *waitSampler) stop(w io.Writer, system string) {
	s.cancel()
	s.wg.Wait()
	keys := slices.SortedFunc(maps.Keys(s.counts), func(a, b string) int { return cmp.Compare(s.counts[b], s.counts[a]) })
	fmt.Fprintf(w, "pg_stat_activity, %s: %d samples; mean busy backends by state:\n", system, s.samples)
	for i, k := range keys {
		if i == 12 {
			break
		}
		fmt.Fprintf(w, "  %6.2f  %s\n", float64(s.counts[k])/float64(max(s.samples, 1)), k)
	}
}
