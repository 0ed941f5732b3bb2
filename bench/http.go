package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/astro-runner/astro-runner/api"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/pgstore"
	"github.com/astro-runner/astro-runner/internal/storage/sqlitestore"
)

// httpTarget is a backend to serve the API from, opened fresh.
type httpTarget struct {
	name string
	open func(ctx context.Context) (storage.Store, error)
}

// httpCases load-tests the real API handler, served on 127.0.0.1, on the
// memory backend and on each backend given.
func (r *runner) httpCases(ctx context.Context, pg, sqlite *backend) error {
	targets := []httpTarget{{"memory", func(ctx context.Context) (storage.Store, error) {
		return sqlitestore.Open(ctx, sqlitestore.Config{})
	}}}
	if sqlite != nil {
		targets = append(targets, httpTarget{"sqlite", func(ctx context.Context) (storage.Store, error) {
			return sqlitestore.Open(ctx, sqlitestore.Config{Path: sqlite.freshFile("http")})
		}})
	}
	if pg != nil {
		targets = append(targets, httpTarget{"postgres", func(ctx context.Context) (storage.Store, error) {
			u, err := pg.freshSchema(ctx, "astro_http")
			if err != nil {
				return nil, err
			}
			return pgstore.Open(ctx, pgstore.Config{URL: u, MaxConns: pg.maxConn})
		}})
	}
	c := r.o.httpConcurrency
	for _, t := range targets {
		var rows []*row
		for _, op := range []string{"POST /plan", "GET /plan/{id}"} {
			name := fmt.Sprintf("HTTP %s, %d clients", op, c)
			rows = append(rows,
				&row{workload: name, backend: t.name, w: "–", unit: "req/s", noPeer: true},
				&row{workload: name + ", p50", backend: t.name, w: "–", unit: "ms", noPeer: true},
				&row{workload: name + ", p99", backend: t.name, w: "–", unit: "ms", noPeer: true})
		}
		for round := range r.o.rounds {
			store, err := t.open(ctx)
			if err != nil {
				return fmt.Errorf("HTTP load on %s: %w", t.name, err)
			}
			post, get, err := loadServer(ctx, store, c, r.o.httpDuration)
			_ = store.Close()
			if err != nil {
				return fmt.Errorf("HTTP load on %s: %w", t.name, err)
			}
			for i, res := range []*loadResult{post, get} {
				vs := []float64{res.rate(), ms(res.lat.quantile(0.5)), ms(res.lat.quantile(0.99))}
				for j, v := range vs {
					rw := rows[3*i+j]
					rw.astro = append(rw.astro, v)
					fmt.Fprintf(r.progress, "round %d  %-8s %-44s %14s %s\n", round+1, t.name, rw.workload, format(v, rw.unit), rw.unit)
				}
			}
		}
		r.rows = append(r.rows, rows...)
	}
	return nil
}

// loadResult is one timed load phase.
type loadResult struct {
	requests int
	elapsed  time.Duration
	lat      *latencies
}

func (l *loadResult) rate() float64 { return float64(l.requests) / l.elapsed.Seconds() }

// loadServer serves the API over store on 127.0.0.1 and runs the POST phase
// then the GET phase, each for d with c concurrent clients.
func loadServer(ctx context.Context, store storage.Store, c int, d time.Duration) (post, get *loadResult, err error) {
	// The request log is formatted as in production (JSON, info level) but
	// written nowhere, so the terminal does not slow the server.
	h := api.NewHandler(api.Deps{Store: store, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		_ = srv.Shutdown(context.WithoutCancel(ctx))
		<-served
	}()
	base := "http://" + ln.Addr().String()
	client := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConns: c, MaxIdleConnsPerHost: c, MaxConnsPerHost: c},
	}
	defer client.CloseIdleConnections()

	var (
		idsMu sync.Mutex
		ids   []string
		seq   atomic.Int64
	)
	post, err = load(ctx, c, d, func() error {
		n := seq.Add(1)
		body := fmt.Sprintf(`{"name":"bench-%d","document":{"steps":[{"name":"s","request":{"method":"GET","url":"http://127.0.0.1:1/"}}]}}`, n)
		var created struct {
			ID string `json:"id"`
		}
		if err := call(ctx, client, http.MethodPost, base+"/plan", []byte(body), http.StatusCreated, &created); err != nil {
			return err
		}
		idsMu.Lock()
		ids = append(ids, created.ID)
		idsMu.Unlock()
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("POST /plan: %w", err)
	}
	var next atomic.Int64
	get, err = load(ctx, c, d, func() error {
		id := ids[int(next.Add(1))%len(ids)]
		return call(ctx, client, http.MethodGet, base+"/plan/"+id, nil, http.StatusOK, nil)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("GET /plan/{id}: %w", err)
	}
	return post, get, nil
}

// load runs do from c goroutines until d has passed, timing each call. It
// stops at the first error.
func load(ctx context.Context, c int, d time.Duration, do func() error) (*loadResult, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	deadline := time.Now().Add(d)
	samples := make([][]time.Duration, c)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range c {
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(deadline) {
				t := time.Now()
				if err := do(); err != nil {
					cancel(err)
					return
				}
				samples[i] = append(samples[i], time.Since(t))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	l := &latencies{d: slices.Concat(samples...)}
	slices.Sort(l.d)
	if len(l.d) == 0 {
		return nil, errors.New("no request completed")
	}
	return &loadResult{requests: len(l.d), elapsed: elapsed, lat: l}, nil
}

// call sends one request to the local server and checks its status.
func call(ctx context.Context, client *http.Client, method, url string, body []byte, want int, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d, want %d: %s", method, url, resp.StatusCode, want, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}
