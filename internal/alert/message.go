package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/astro-runner/astro-runner/internal/planrun"
	"github.com/astro-runner/astro-runner/internal/storage"
)

// Bounds of a message.
const (
	// maxText bounds each text of a message: names, errors, expected and
	// actual values, messages.
	maxText = 1024
	// maxEventBytes bounds the encoded Event. A message over it loses
	// failed steps from its end, then has its texts cut shorter.
	maxEventBytes = 32 << 10
	// shortText is the bound of each text of a message that was still too
	// large with one failed step.
	shortText = 128
)

// storedResult is the part of an execution's stored result (planjob's
// Result: planrun.Result inline, plus "plan_revision" and "error") that a
// message reads. Captured values and body excerpts are not even decoded.
type storedResult struct {
	Error string       `json:"error"`
	Steps []storedStep `json:"steps"`
}

type storedStep struct {
	Name       string            `json:"name"`
	Status     string            `json:"status"`
	Error      string            `json:"error"`
	Assertions []storedAssertion `json:"assertions"`
}

type storedAssertion struct {
	Kind     string          `json:"kind"`
	Target   string          `json:"target"`
	Expected json.RawMessage `json:"expected"`
	Actual   json.RawMessage `json:"actual"`
	Passed   bool            `json:"passed"`
	Message  string          `json:"message"`
}

// messageSource is what messages about one execution are made from: the
// execution, and, once loaded, its plan's name and its result.
type messageSource struct {
	exec     *storage.Execution
	loaded   bool
	planName string
	result   storedResult
}

// load reads the plan's name from tx and decodes the execution's result,
// once. A plan that is gone leaves the name empty; an unreadable result
// gives no steps.
func (m *messageSource) load(ctx context.Context, tx storage.Store) error {
	if m.loaded {
		return nil
	}
	pl, err := tx.PlanGetByID(ctx, m.exec.PlanID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		return storeError("alerts: load plan "+m.exec.PlanID.String(), err)
	default:
		m.planName = pl.Name
	}
	if len(m.exec.Result) > 0 {
		_ = json.Unmarshal(m.exec.Result, &m.result)
	}
	m.loaded = true
	return nil
}

// event returns the message about the execution, without its rule,
// delivery ID, counts and with texts cut to maxText.
func (m *messageSource) event(publicURL, event string, at time.Time) *Event {
	x := m.exec
	ev := &Event{
		Version:   Version,
		Event:     event,
		CreatedAt: at.UTC(),
		Plan:      EventPlan{ID: x.PlanID, Name: clean(m.planName, maxText), Revision: x.PlanRevision},
		Execution: EventExecution{
			ID:          x.ID,
			URL:         executionURL(publicURL, x.ID),
			Status:      string(x.Status),
			Trigger:     string(x.Trigger),
			Environment: clean(x.Environment, maxText),
			CreatedAt:   x.CreatedAt.UTC(),
			StartedAt:   utc(x.StartedAt),
			FinishedAt:  utc(x.FinishedAt),
		},
		FailedSteps: []FailedStep{},
	}
	if x.ScheduleID != uuid.Nil {
		id := x.ScheduleID
		ev.Execution.ScheduleID = &id
	}
	if x.Status == storage.ExecutionError {
		ev.Execution.Error = clean(m.result.Error, maxText)
	}
	if event != EventRecovered {
		ev.FailedSteps, ev.MoreFailedSteps = failedSteps(m.result.Steps)
	}
	return ev
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// failedSteps summarises the failed and errored steps: at most
// MaxFailedSteps of them, and how many more there are.
func failedSteps(steps []storedStep) ([]FailedStep, int) {
	out := []FailedStep{}
	more := 0
	for i, s := range steps {
		if s.Status != planrun.StatusFailed && s.Status != planrun.StatusError {
			continue
		}
		if len(out) == MaxFailedSteps {
			more++
			continue
		}
		fs := FailedStep{Index: i, Name: clean(s.Name, maxText), Status: s.Status, Error: clean(s.Error, maxText)}
		for _, a := range s.Assertions {
			if a.Passed {
				continue
			}
			fa := &FailedAssertion{
				Kind:     clean(a.Kind, maxText),
				Target:   clean(a.Target, maxText),
				Expected: clean(jsonText(a.Expected), maxText),
				Actual:   clean(jsonText(a.Actual), maxText),
				Message:  clean(a.Message, maxText),
			}
			if a.Kind == planrun.KindCapture {
				fa.Actual = "" // A capture's actual value is the value captured.
			}
			fs.Assertion = fa
			break
		}
		out = append(out, fs)
	}
	return out, more
}

// jsonText returns a JSON value as compact JSON text, or "" for none.
func jsonText(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

// clean returns s as valid UTF-8 without NUL characters (which Postgres
// refuses in JSON), cut to at most limit bytes at a character boundary;
// a cut text ends with "…" within the limit.
func clean(s string, limit int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	return cut(s, limit)
}

// cut returns s, or its longest prefix that ends at a character boundary
// and, followed by "…", fits in limit bytes.
func cut(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	const ellipsis = "…"
	n := max(limit-len(ellipsis), 0)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + ellipsis
}

// encodeEvent encodes ev as compact JSON without HTML escaping, keeping
// it within maxEventBytes: failed steps beyond the size move to
// MoreFailedSteps, and if one step is still too much, every text is cut
// to shortText. ev is changed accordingly.
func encodeEvent(ev *Event) ([]byte, error) {
	for {
		b, err := marshal(ev)
		if err != nil || len(b) <= maxEventBytes {
			return b, err
		}
		switch n := len(ev.FailedSteps); {
		case n > 1:
			keep := n / 2
			ev.MoreFailedSteps += n - keep
			ev.FailedSteps = ev.FailedSteps[:keep]
		default:
			shorten(ev)
			return marshal(ev)
		}
	}
}

// shorten cuts every text of ev to shortText.
func shorten(ev *Event) {
	ev.Plan.Name = cut(ev.Plan.Name, shortText)
	ev.Execution.Environment = cut(ev.Execution.Environment, shortText)
	ev.Execution.Error = cut(ev.Execution.Error, shortText)
	if ev.Rule != nil {
		ev.Rule.Name = cut(ev.Rule.Name, shortText)
	}
	for i := range ev.FailedSteps {
		s := &ev.FailedSteps[i]
		s.Name, s.Error = cut(s.Name, shortText), cut(s.Error, shortText)
		if a := s.Assertion; a != nil {
			a.Kind, a.Target = cut(a.Kind, shortText), cut(a.Target, shortText)
			a.Expected, a.Actual = cut(a.Expected, shortText), cut(a.Actual, shortText)
			a.Message = cut(a.Message, shortText)
		}
	}
}

// marshal encodes v as compact JSON without HTML escaping.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
