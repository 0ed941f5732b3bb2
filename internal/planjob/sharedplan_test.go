package planjob_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/planjob"
	"github.com/astro-runner/astro-runner/internal/planrun"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/worker"
)

// TestRunsOfOneRevisionShareItsDocumentSafely runs many executions of one
// plan revision at once, each with variables of its own, so that their
// runs share the handler's one decoded document (the doc cache), and its
// every part is read: templates in the URL, headers and body, assertions
// of each kind and captures. Under -race this shows that no run writes to
// the shared document; each result must reflect its own variables only.
func TestRunsOfOneRevisionShareItsDocumentSafely(t *testing.T) {
	t.Parallel()
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Who", r.Header.Get("X-Who"))
		fmt.Fprintf(w, `{"who":%q,"n":[1,2,3]}`, r.URL.Query().Get("who"))
	}))
	t.Cleanup(target.Close)
	st := openStore(t)
	ctx := context.Background()
	doc, err := json.Marshal(map[string]any{
		"variables": map[string]string{"who": "nobody"},
		"steps": []any{
			map[string]any{
				"name": "first",
				"request": map[string]any{
					"method": "POST", "url": target.URL + "/?who={{who}}",
					"headers": map[string]string{"X-Who": "{{who}}"},
					"body":    map[string]any{"who": "{{who}}", "list": []any{"{{who}}", 1}},
				},
				"assert": map[string]any{
					"status":        []int{200, 201},
					"headers":       []any{map[string]any{"name": "Content-Type", "matches": "^application/json"}},
					"body_contains": []string{"who"},
					"jsonpath": []any{
						map[string]any{"path": "$.n", "equals": []int{1, 2, 3}},
						map[string]any{"path": "$.who", "matches": "^w[0-9]+$"},
					},
				},
				"capture": []any{map[string]any{"name": "got", "jsonpath": "$.who"}},
			},
			map[string]any{
				"name":    "second",
				"request": map[string]any{"method": "GET", "url": target.URL + "/?who={{got}}"},
				"assert":  map[string]any{"status": 200, "jsonpath": []any{map[string]any{"path": "$.who", "exists": true}}},
			},
		},
	})
	require.NoError(t, err)
	p, err := st.PlanCreate(ctx, &storage.PlanCreateParams{Name: t.Name(), Document: doc})
	require.NoError(t, err)
	const n = 16
	execs := make([]*storage.Execution, n)
	for i := range execs {
		require.NoError(t, st.InTx(ctx, func(tx storage.Store) error {
			e, err := tx.ExecutionCreate(ctx, &storage.ExecutionCreateParams{
				PlanID: p.ID, PlanRevision: p.Revision, Variables: map[string]string{"who": fmt.Sprintf("w%d", i)},
			})
			if err != nil {
				return err
			}
			execs[i] = e
			_, err = tx.JobEnqueue(ctx, planjob.EnqueueParams(e))
			return err
		}))
	}
	log := slog.New(slog.DiscardHandler)
	pool := worker.New(st, worker.Config{Workers: n, Logger: log, PollInterval: 20 * time.Millisecond})
	(&planjob.Handler{Store: st, Runner: &planrun.Runner{}, Logger: log}).Register(pool)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = pool.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })
	h := &harness{t: t, store: st, pool: pool}
	for i, e := range execs {
		got := h.waitFinal(e)
		require.Equal(t, storage.ExecutionPassed, got.Status, "execution %d: %s", i, got.Result)
		assert.Contains(t, string(got.Result), fmt.Sprintf(`"actual":"w%d"`, i), "execution %d saw its own variables", i)
	}
}
