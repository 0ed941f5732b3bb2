package planrun_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/planrun"
)

// TestManyWorkersReuseTheirConnectionsToOneHost sends two waves of 32
// requests at once to one host through the runner's client: the second
// wave finds the first wave's connections idle and dials none.
func TestManyWorkersReuseTheirConnectionsToOneHost(t *testing.T) {
	t.Parallel()
	const workers = 32
	var arrived sync.WaitGroup
	var dialled atomic.Int64
	gate := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Done()
		<-gate
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dialled.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	client := planrun.NewHTTPClient(nil)
	t.Cleanup(client.CloseIdleConnections)

	wave := func() {
		arrived.Add(workers)
		gate = make(chan struct{})
		var done sync.WaitGroup
		for range workers {
			done.Go(func() {
				res, err := client.Get(srv.URL)
				if !assert.NoError(t, err) {
					arrived.Done()
					return
				}
				_, _ = io.Copy(io.Discard, res.Body)
				_ = res.Body.Close()
			})
		}
		// Every request holds its own connection until all have arrived.
		arrived.Wait()
		close(gate)
		done.Wait()
	}
	wave()
	require.Equal(t, int64(workers), dialled.Load(), "the first wave dials one connection per request")
	wave()
	assert.Equal(t, int64(workers), dialled.Load(), "the second wave reuses them all")
}
