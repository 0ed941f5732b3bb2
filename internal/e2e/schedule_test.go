//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/pgtest"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/pgstore"
	"github.com/astro-runner/astro-runner/internal/storage/sqlitestore"
)

// TestSchedulesFireEachTickOnceAcrossNodes runs schedules of @every 1s on
// several server processes that share one database, each running its own
// scheduler with no leader, and checks from the database that every tick
// of every schedule produced exactly one execution and that no tick is
// missing: consecutive ticks of a schedule are exactly one second apart,
// from the first second after the schedule was created to the last
// second of the run.
func TestSchedulesFireEachTickOnceAcrossNodes(t *testing.T) {
	t.Run("postgres/three-nodes", func(t *testing.T) {
		url := pgtest.URL(t)
		testScheduleNodes(t, map[string]string{"STORAGE_BACKEND": "postgres", "POSTGRESQL_URL": url}, 3, 50, 20*time.Second, false,
			func(ctx context.Context) (storage.Store, error) { return pgstore.Open(ctx, pgstore.Config{URL: url}) })
	})
	t.Run("postgres/one-node-killed", func(t *testing.T) {
		url := pgtest.URL(t)
		testScheduleNodes(t, map[string]string{"STORAGE_BACKEND": "postgres", "POSTGRESQL_URL": url}, 3, 50, 20*time.Second, true,
			func(ctx context.Context) (storage.Store, error) { return pgstore.Open(ctx, pgstore.Config{URL: url}) })
	})
	t.Run("sqlite/two-processes", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "astro.db")
		testScheduleNodes(t, map[string]string{"STORAGE_BACKEND": "sqlite", "SQLITE_PATH": path}, 2, 50, 10*time.Second, false,
			func(ctx context.Context) (storage.Store, error) {
				return sqlitestore.Open(ctx, sqlitestore.Config{Path: path})
			})
	})
}

func testScheduleNodes(t *testing.T, backend map[string]string, nodes, schedules int, run time.Duration, killOne bool,
	open func(context.Context) (storage.Store, error)) {
	target, _ := newOKTarget(t)
	env := map[string]string{"ASTRO_SCHEDULE_MIN_INTERVAL": "1s", "ASTRO_SCHEDULER_INTERVAL": "100ms", "ASTRO_LOG_LEVEL": "info"}
	for k, v := range backend {
		env[k] = v
	}
	var procs []*astro
	for i := range nodes {
		procs = append(procs, startAstro(t, astroConfig{name: fmt.Sprintf("node-%d", i+1), env: env}))
	}
	api := procs[0]
	var p apiPlan
	api.must(http.MethodPost, "/plan", okPlan("scheduled", target), http.StatusCreated).decode(t, &p)
	created := map[string]time.Time{}
	for range schedules {
		var sc struct {
			ID string `json:"id"`
		}
		api.must(http.MethodPost, "/plan/"+p.ID+"/schedule", map[string]any{"cron": "@every 1s", "overlap": "allow"},
			http.StatusCreated).decode(t, &sc)
		created[sc.ID] = time.Now()
	}
	start := time.Now()
	if killOne {
		time.Sleep(run / 2)
		victim := procs[len(procs)-1]
		require.True(t, victim.proc.signal(syscall.SIGKILL, 10*time.Second), "SIGKILL %s", victim.proc.name)
		t.Logf("killed %s after %s", victim.proc.name, time.Since(start).Round(time.Millisecond))
		time.Sleep(run - run/2)
	} else {
		time.Sleep(run)
	}
	end := time.Now()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := open(ctx)
	require.NoError(t, err)
	defer st.Close()
	ticks := map[string][]time.Time{}
	cursor, total := "", 0
	for {
		page, err := st.ExecutionList(ctx, &storage.ExecutionListParams{Trigger: storage.TriggerSchedule, Limit: storage.MaxPageLimit, Cursor: cursor})
		require.NoError(t, err)
		for _, e := range page.Executions {
			tick := tickOf(t, e)
			if tick.After(end) {
				continue
			}
			ticks[e.ScheduleID.String()] = append(ticks[e.ScheduleID.String()], tick)
			total++
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	t.Logf("%d nodes, %d schedules, %s: %d executions", nodes, schedules, end.Sub(start).Round(time.Millisecond), total)
	require.Len(t, ticks, schedules, "every schedule fired")
	for id, ts := range ticks {
		sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
		for i := 1; i < len(ts); i++ {
			d := ts[i].Sub(ts[i-1])
			assert.NotZero(t, d, "schedule %s: tick %s fired twice", id, ts[i])
			assert.Equal(t, time.Second, d, "schedule %s: ticks %s and %s are not consecutive: ticks are missing", id, ts[i-1], ts[i])
		}
		first, last := ts[0], ts[len(ts)-1]
		assert.LessOrEqual(t, first.Sub(created[id]), 2*time.Second, "schedule %s: first tick %s is late", id, first)
		assert.LessOrEqual(t, end.Sub(last), 2*time.Second, "schedule %s: the last tick %s is more than the final second before the end %s", id, last, end)
	}
}

// tickOf returns the tick of a scheduled execution, from its idempotency
// key schedule:<id>:<unix seconds>.
func tickOf(t *testing.T, e *storage.Execution) time.Time {
	t.Helper()
	rest, ok := strings.CutPrefix(e.IdempotencyKey, "schedule:"+e.ScheduleID.String()+":")
	require.True(t, ok, "execution %s: idempotency key %q", e.ID, e.IdempotencyKey)
	sec, err := strconv.ParseInt(rest, 10, 64)
	require.NoError(t, err)
	require.NotEqual(t, uuid.Nil, e.ScheduleID)
	return time.Unix(sec, 0)
}
