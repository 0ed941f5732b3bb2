package api

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
)

// readyTimeout is how long readyz waits for the store to answer.
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
		Description: "Answers 200 if the database answers within 1 s, and 503 otherwise.",
		Tags:        []string{tagHealth},
		Security:    public,
		Errors:      []int{http.StatusUnprocessableEntity, http.StatusServiceUnavailable},
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
		return nil, s.httpError(ctx, fmt.Errorf("ready check: %w", err))
	}
	return &healthOutput{Body: Health{Status: "ok"}}, nil
}
