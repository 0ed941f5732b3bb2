package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	astro "github.com/astro-runner/astro-runner/sdk/go"
)

// tokenEnv is the environment variable that exec and plan push read the API
// token from when --token is not given: the variable the server reads its
// own token from.
const tokenEnv = "ASTRO_API_TOKEN"

// requestTimeout bounds each HTTP request that exec and plan push send, so
// that a server that accepts connections but never answers cannot hang CI.
const requestTimeout = 30 * time.Second

// remoteFlags are the flags of the commands that talk to a running server.
type remoteFlags struct {
	server string
	token  string
}

// addRemoteFlags adds --server and --token to cmd.
func addRemoteFlags(cmd *cobra.Command, f *remoteFlags) {
	fl := cmd.Flags()
	fl.StringVar(&f.server, "server", "", "base `URL` of the astro-runner server, such as http://127.0.0.1:8080 (required)")
	fl.StringVar(&f.token, "token", "", "API `TOKEN` sent as a bearer token; defaults to $"+tokenEnv)
}

// remote is a client of a running server, with the URL its messages name.
type remote struct {
	server string
	client *astro.Client
}

// newRemote checks the flags and returns a client of the server. Bad flags
// are usage errors.
func (c *cli) newRemote(f *remoteFlags) (*remote, error) {
	if f.server == "" {
		return nil, usageError(errors.New("--server is required: the base URL of the astro-runner server, such as http://127.0.0.1:8080"))
	}
	u, err := url.Parse(f.server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageError(fmt.Errorf("--server %q: want an http or https URL, such as http://127.0.0.1:8080", f.server))
	}
	token := f.token
	if token == "" {
		token, _ = c.lookup(tokenEnv)
	}
	client, err := astro.New(f.server, astro.WithToken(token),
		astro.WithHTTPClient(&http.Client{Timeout: requestTimeout}))
	if err != nil {
		return nil, usageError(err)
	}
	return &remote{server: f.server, client: client}, nil
}

// fail turns an error from the server, or from trying to reach it, into
// the command's error: exit status 2, as the command could not get a
// verdict. The message says what was being done (what) and, for the usual
// causes, what to check.
func (r *remote) fail(what string, err error) error {
	var p *astro.Problem
	switch {
	case errors.As(err, &p) && p.Status == http.StatusUnauthorized:
		return usageError(fmt.Errorf("%s: the server at %s refused the token (401 %s): pass the API token with --token or $%s",
			what, r.server, p.Detail, tokenEnv))
	case errors.As(err, &p):
		return usageError(fmt.Errorf("%s: %w", what, err))
	default:
		return usageError(fmt.Errorf("%s: cannot reach the server at %s: %w", what, r.server, err))
	}
}

// findPlan returns the plan named exactly name, or nil when there is none.
// The API filters by name prefix, so it reads every page of plans whose
// names start with name.
func (r *remote) findPlan(ctx context.Context, name string) (*astro.Plan, error) {
	opts := astro.ListPlansOptions{Name: name, Limit: 200}
	for {
		page, err := r.client.ListPlans(ctx, opts)
		if err != nil {
			return nil, err
		}
		// Read the page through its JSON form, which does not depend on
		// whether the generator made the list []Plan or *[]Plan.
		var plans struct {
			Plans []astro.Plan `json:"plans"`
		}
		if b, err := json.Marshal(page); err != nil {
			return nil, fmt.Errorf("read plan list: %w", err)
		} else if err := json.Unmarshal(b, &plans); err != nil {
			return nil, fmt.Errorf("read plan list: %w", err)
		}
		for _, p := range plans.Plans {
			if p.Name == name {
				return &p, nil
			}
		}
		if page.NextCursor == "" {
			return nil, nil
		}
		opts.Cursor = page.NextCursor
	}
}

// isStatus reports whether err is a *astro.Problem with the given status.
func isStatus(err error, status int) bool {
	var p *astro.Problem
	return errors.As(err, &p) && p.Status == status
}
