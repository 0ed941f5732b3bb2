package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/astro-runner/astro-runner/internal/plan"
	"github.com/astro-runner/astro-runner/internal/retention"
	"github.com/astro-runner/astro-runner/internal/runprint"
	astro "github.com/astro-runner/astro-runner/sdk/go"
)

// pushFlags are the flags of astro-runner plan push.
type pushFlags struct {
	remote remoteFlags
	dryRun bool
}

func (c *cli) newPlanCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Manage the plans stored on a server (plan push)",
		Args: usageArgs(func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("unknown plan command %q: want push", args[0])
			}
			return nil
		}),
		RunE: func(*cobra.Command, []string) error {
			return usageError(errors.New("usage: astro-runner plan push --server URL FILE..."))
		},
	}
	cmd.AddCommand(c.newPushCmd())
	return cmd
}

func (c *cli) newPushCmd() *cobra.Command {
	f := &pushFlags{}
	cmd := &cobra.Command{
		Use:   "push --server URL [--token TOKEN] FILE...",
		Short: "Create or update stored plans from plan files, matched by name",
		Long: `Sync plan files to a running server, so that a repository of plan files
can be the source of the server's plans. A plan file holds the JSON that
POST /plan takes: name, description, labels, retention and document; it
must be a regular file (not a device or a pipe) of at most 1 MiB, the
API's limit on a request body.

Every file is first checked here as the API checks it (with this
machine's ASTRO_PLAN_ENV_ALLOW); if any is invalid, nothing is sent.
Then, in order, each file's plan is looked up by its exact name: a plan
that does not exist is created; one that differs (in description,
labels, retention or document, compared by meaning, not by layout: key
order, number notation such as 1e2 for 100, and the defaults the server
fills in are no difference) is updated with If-Match of the revision
just read; one that is the same is left unchanged. A file without
retention asks for the server's default, so it updates a plan that has
its own. If the plan changes on the server between the read and the
write, push reads it again and retries once.

One line per file says what was done: created, updated or unchanged,
with the plan's id and revision. --dry-run reads but writes nothing and
says what it would do.

The token comes from --token, or else from $ASTRO_API_TOKEN.

Exit status: 0 when every file was pushed (or is unchanged); 1 when a
plan kept changing on the server during the push; 2 for bad usage, an
invalid plan file (nothing is then sent) or one the server refuses, a
token the server refuses, a server that cannot be reached, or any other
error answer from the server.`,
		Example: `  astro-runner plan push --server http://127.0.0.1:8080 plans/*.json
  ASTRO_API_TOKEN=s3cret astro-runner plan push --server https://astro.example.com --dry-run plans/*.json`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, files []string) error {
			return c.pushPlans(cmd.Context(), f, files)
		},
	}
	addRemoteFlags(cmd, &f.remote)
	cmd.Flags().BoolVar(&f.dryRun, "dry-run", false, "say what would be created or updated, and change nothing")
	return cmd
}

// errKeptChanging is the error of a plan that changed on the server between
// the read and the write twice in a row.
var errKeptChanging = errors.New("the plan changed on the server while it was being pushed, twice in a row; push again")

// pushPlans is astro-runner plan push.
func (c *cli) pushPlans(ctx context.Context, f *pushFlags, files []string) error {
	cfg, _, err := c.load()
	if err != nil {
		return usageError(err)
	}
	r, err := c.newRemote(&f.remote)
	if err != nil {
		return err
	}
	plans, err := c.loadPushPlans(files, cfg.PlanEnvAllow)
	if err != nil {
		return err
	}
	errOut := &runprint.Printer{W: c.stderr, Color: !c.noColorEnv() && isTerminal(c.stderr)}
	code := exitOK
	for _, p := range plans {
		line, err := r.push(ctx, p, f.dryRun)
		var problem *astro.Problem
		switch {
		case err == nil:
			fmt.Fprintf(c.stdout, "%s: %s\n", p.file, line)
		case errors.Is(err, errKeptChanging):
			fmt.Fprintf(c.stderr, "astro-runner: %s: plan %q: %v\n", p.file, p.body.Name, err)
			code = worst(code, exitFailed)
		case errors.As(err, &problem) && (problem.Status == http.StatusUnprocessableEntity ||
			problem.Status == http.StatusBadRequest || problem.Status == http.StatusRequestEntityTooLarge):
			// The server's rules differ from this machine's, such as its
			// ASTRO_PLAN_ENV_ALLOW.
			details := make([]string, 0, len(problem.Errors))
			for _, d := range problem.Errors {
				details = append(details, d.Location+": "+d.Message)
			}
			errOut.Problem(p.file, "the server refused the plan: "+problem.Detail, details)
			code = worst(code, exitUsage)
		default:
			// Unreachable, a refused token, a server error: the next
			// files would fare no better.
			return r.fail(fmt.Sprintf("%s: push plan %q", p.file, p.body.Name), err)
		}
	}
	if code != exitOK {
		return &exitError{code: code}
	}
	return nil
}

// loadPushPlans reads and checks every file, and refuses them all if any is
// invalid, or if two name the same plan.
func (c *cli) loadPushPlans(files []string, envAllow []string) ([]*loadedPlan, error) {
	errOut := &runprint.Printer{W: c.stderr, Color: !c.noColorEnv() && isTerminal(c.stderr)}
	plans := make([]*loadedPlan, len(files))
	invalid := 0
	byName := map[string]string{}
	for i, file := range files {
		p := loadPlan(file, envAllow)
		plans[i] = p
		if p.body == nil {
			errOut.Problem(p.file, p.problem, p.details)
			invalid++
			continue
		}
		if other, ok := byName[p.body.Name]; ok {
			errOut.Problem(p.file, fmt.Sprintf("plan %q is also in %s: each plan name may appear in one file only", p.body.Name, other), nil)
			invalid++
			continue
		}
		byName[p.body.Name] = file
	}
	if invalid > 0 {
		return nil, usageError(fmt.Errorf("%d of %d plan files cannot be pushed; nothing was sent", invalid, len(files)))
	}
	return plans, nil
}

// push creates or updates the plan of one file and says what it did. On a
// race with another writer (a create that finds the name taken, an update
// whose revision is stale or whose plan was deleted) it reads again and
// retries once; a second race gives errKeptChanging.
func (r *remote) push(ctx context.Context, p *loadedPlan, dryRun bool) (string, error) {
	body, err := sdkBody(p.data)
	if err != nil {
		return "", err
	}
	name := p.body.Name
	for attempt := 1; ; attempt++ {
		// raced reports whether err is a race with another writer, and
		// returns errKeptChanging on the second one.
		raced := func(err *error, statuses ...int) bool {
			if !slices.ContainsFunc(statuses, func(s int) bool { return isStatus(*err, s) }) {
				return false
			}
			if attempt > 1 {
				*err = errKeptChanging
				return false
			}
			return true
		}
		found, err := r.findPlan(ctx, name)
		if err != nil {
			return "", err
		}
		if found == nil {
			if dryRun {
				return fmt.Sprintf("would create plan %q", name), nil
			}
			created, err := r.client.CreatePlan(ctx, body)
			if raced(&err, http.StatusConflict) {
				continue
			}
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("created plan %q (id %s, revision %d)", name, created.Id, created.Revision), nil
		}
		stored, err := r.getPlanJSON(ctx, found.Id)
		if raced(&err, http.StatusNotFound) {
			continue
		}
		if err != nil {
			return "", err
		}
		same, err := samePlan(p, stored)
		if err != nil {
			return "", err
		}
		if same {
			return fmt.Sprintf("unchanged plan %q (id %s, revision %d)", name, found.Id, stored.Revision), nil
		}
		if dryRun {
			return fmt.Sprintf("would update plan %q (id %s, revision %d)", name, found.Id, stored.Revision), nil
		}
		updated, err := r.client.UpdatePlan(ctx, found.Id, stored.Revision, body)
		if raced(&err, http.StatusPreconditionFailed, http.StatusNotFound) {
			continue
		}
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("updated plan %q (id %s, revision %d -> %d)", name, found.Id, stored.Revision, updated.Revision), nil
	}
}

// sdkBody decodes a plan file into the SDK's plan body. Numbers in free
// JSON values (a request body, an expected value) keep their text, and an
// assert.status written as a bare number (the shorthand the API still
// accepts) becomes the array the spec describes.
func sdkBody(data []byte) (astro.PlanBody, error) {
	var raw map[string]any
	if err := decodeNumbers(data, &raw); err != nil {
		return astro.PlanBody{}, fmt.Errorf("decode plan file: %w", err)
	}
	plan.NormalizeStatusShorthand(raw["document"])
	normalized, err := json.Marshal(raw)
	if err != nil {
		return astro.PlanBody{}, fmt.Errorf("encode plan file: %w", err)
	}
	var body astro.PlanBody
	if err := decodeNumbers(normalized, &body); err != nil {
		return astro.PlanBody{}, fmt.Errorf("decode plan file: %w", err)
	}
	return body, nil
}

// decodeNumbers decodes JSON into v, keeping numbers as json.Number.
func decodeNumbers(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return dec.Decode(v)
}

// storedPlan is a plan as the server sends it, with its document as sent,
// so that free JSON values keep their numbers' text.
type storedPlan struct {
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Labels      map[string]string `json:"labels"`
	Document    json.RawMessage   `json:"document"`
	Retention   *string           `json:"retention"`
	Revision    int64             `json:"revision"`
}

// getPlanJSON reads a plan as the server sends it. Another status than 200
// gives a *astro.Problem.
func (r *remote) getPlanJSON(ctx context.Context, id astro.UUID) (*storedPlan, error) {
	resp, err := r.client.API().GetPlanWithResponse(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("astro: get plan %s: %w", id, err)
	}
	if resp.StatusCode() != http.StatusOK {
		p := &astro.Problem{}
		_ = json.Unmarshal(resp.Body, p)
		p.Status = resp.StatusCode()
		if p.Title == "" {
			p.Title = http.StatusText(p.Status)
		}
		return nil, p
	}
	var sp storedPlan
	if err := json.Unmarshal(resp.Body, &sp); err != nil {
		return nil, fmt.Errorf("astro: get plan %s: decode answer: %w", id, err)
	}
	return &sp, nil
}

// samePlan reports whether the stored plan already says what the file
// says: the same description, labels, retention and document, compared by
// meaning.
func samePlan(p *loadedPlan, stored *storedPlan) (bool, error) {
	if stored.Name != p.body.Name || stored.Description != p.body.Description ||
		!maps.Equal(stored.Labels, map[string]string(p.body.Labels)) ||
		!sameRetention(p.body.Retention, stored.Retention) {
		return false, nil
	}
	var doc plan.Document
	if err := json.Unmarshal(stored.Document, &doc); err != nil {
		return false, fmt.Errorf("decode the stored document: %w", err)
	}
	a, err := canonicalDocument(doc)
	if err != nil {
		return false, err
	}
	b, err := canonicalDocument(p.body.Document)
	if err != nil {
		return false, err
	}
	return bytes.Equal(a, b), nil
}

// sameRetention reports whether a file's retention and a stored one are
// the same by meaning ("336h" is "14d"). A file without one asks for the
// server's default, which only a stored null already is: an update without
// it sets it back to null.
func sameRetention(file, stored *string) bool {
	if file == nil || stored == nil {
		return file == nil && stored == nil
	}
	a, errA := retention.Parse(*file)
	b, errB := retention.Parse(*stored)
	if errA != nil || errB != nil {
		return *file == *stored
	}
	return a == b
}

// canonicalDocument returns the JSON of a document in one form for every
// way of writing it, so that documents that mean the same are the same
// bytes. Each default is made explicit (a step's timeout, a capture's regex
// group): the server stores the defaults a file may leave out. Free JSON
// values (a request body, an expected value) are rewritten with sorted keys
// and numbers in one form, compared by value: Postgres's jsonb sends them
// back with its own key order and 1e2 as 100.
func canonicalDocument(doc plan.Document) ([]byte, error) {
	steps := make([]plan.Step, len(doc.Steps))
	for i, s := range doc.Steps {
		s.TimeoutMS = s.Timeout()
		captures := make([]plan.Capture, len(s.Capture))
		for j, c := range s.Capture {
			c.Group = c.RegexGroup()
			captures[j] = c
		}
		if len(captures) > 0 {
			s.Capture = captures
		}
		steps[i] = s
	}
	doc.Steps = steps
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode document: %w", err)
	}
	var tree any
	if err := decodeNumbers(b, &tree); err != nil {
		return nil, fmt.Errorf("decode document: %w", err)
	}
	// Maps are encoded with sorted keys.
	b, err = json.Marshal(canonicalNumbers(tree))
	if err != nil {
		return nil, fmt.Errorf("encode document: %w", err)
	}
	return b, nil
}

// canonicalNumbers rewrites, in place, every json.Number in a decoded JSON
// value in the form canonicalNumber gives, and returns the value.
func canonicalNumbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		return canonicalNumber(v)
	case map[string]any:
		for k, e := range v {
			v[k] = canonicalNumbers(e)
		}
	case []any:
		for i, e := range v {
			v[i] = canonicalNumbers(e)
		}
	}
	return v
}

// canonicalNumber writes a JSON number in one form for its value: its
// significant digits, without leading or trailing zeros, and a decimal
// exponent, such as 1e2 for 100, 100.0 and 10E+1, and 0 for any zero. It
// is exact, whatever the number of digits, and takes time in proportion
// to the text (no big arithmetic on an exponent such as 1e999999999). A
// number whose exponent does not fit in 32 bits is left as written.
func canonicalNumber(n json.Number) json.Number {
	s := string(n)
	sign, s := "", strings.TrimPrefix(s, "+")
	if rest, ok := strings.CutPrefix(s, "-"); ok {
		sign, s = "-", rest
	}
	var exp int64
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.ParseInt(strings.TrimPrefix(s[i+1:], "+"), 10, 32)
		if err != nil {
			return n
		}
		s, exp = s[:i], e
	}
	whole, frac, _ := strings.Cut(s, ".")
	digits := strings.TrimLeft(whole+frac, "0")
	exp -= int64(len(frac))
	if digits == "" {
		return "0"
	}
	trimmed := strings.TrimRight(digits, "0")
	exp += int64(len(digits) - len(trimmed))
	return json.Number(sign + trimmed + "e" + strconv.FormatInt(exp, 10))
}
