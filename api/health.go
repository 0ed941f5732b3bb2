package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/astro-runner/astro-runner/internal/storage"
)

// readyTimeout is how long readyz waits for the store's Ping, which also
// checks that the store can write.
const readyTimeout = time.Second

// Health is the answer of the health checks.
type Health struct {
	Status string `json:"status" enum:"ok" doc:"Always ok; a failed check answers with a problem instead." example:"ok"`
}

type healthOutput struct {
	Body Health
}

// registerHealth adds the health checks. They never require a token.
func (s *server) registerHealth(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "healthz",
		Method:      http.MethodGet,
		Path:        "/healthz",
		Summary:     "Check liveness",
		Description: "Answers 200 while the process serves requests. It does not touch the database.",
		Tags:        []string{tagHealth},
		Security:    public,
		Errors:      []int{http.StatusUnprocessableEntity},
	}, s.healthz)

	huma.Register(api, huma.Operation{
		OperationID: "readyz",
		Method:      http.MethodGet,
		Path:        "/readyz",
		Summary:     "Check readiness",
		Description: "Answers 200 if the store's ping succeeds within 1 s, and 503 otherwise. The ping covers what the workers " +
			"need, not just a read: the store must also be able to write (a SQLite writer connection can be had; Postgres accepts writes).",
		Tags:     []string{tagHealth},
		Security: public,
		Errors:   []int{http.StatusUnprocessableEntity, http.StatusServiceUnavailable},
	}, s.readyz)
}

func (s *server) healthz(context.Context, *struct{}) (*healthOutput, error) {
	return &healthOutput{Body: Health{Status: "ok"}}, nil
}

func (s *server) readyz(ctx context.Context, _ *struct{}) (*healthOutput, error) {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	// Ping in a goroutine so that a store that ignores its context cannot
	// hold the check past the timeout.
	done := make(chan error, 1)
	go func() { done <- s.deps.Store.Ping(ctx) }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		// Any failure means not ready: 503, never a 500, even when the
		// store does not mark its error as ErrUnavailable.
		if !errors.Is(err, storage.ErrUnavailable) {
			err = fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
		}
		return nil, s.httpError(ctx, fmt.Errorf("ready check: %w", err))
	}
	return &healthOutput{Body: Health{Status: "ok"}}, nil
}
