package plan_test

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/astro-runner/astro-runner/internal/plan"
)

// fuzzOpts allows one env variable so that env references can validate.
var fuzzOpts = plan.ValidateOptions{EnvAllow: []string{"HOME"}}

// FuzzDecodeValidate checks that decoding and validating any input never
// panics, that failures are well-formed *ValidationErrors, and that a
// document that validates still validates after a JSON round trip.
func FuzzDecodeValidate(f *testing.F) {
	valid, err := json.Marshal(validDoc())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add([]byte(`{"steps":[{"name":"a","request":{"method":"GET","url":"http://127.0.0.1/"}}]}`))
	f.Add([]byte(`{"variables":{"b":"https://x"},"steps":[{"name":"a","request":{"method":"POST","url":"{{b}}/{{env.HOME}}","headers":{"X":"{{ b }}"},"body":"t {{b}}"},"assert":{"status":[200,201],"jsonpath":[{"path":"$..a[?@.b>1]","equals":1e2}]},"capture":[{"name":"c","regex":"(a)(b)","group":2}]},{"name":"b","request":{"method":"GET","url":"https://h/{{c}}"}}]}`))
	f.Add([]byte(`{"steps":[{"name":"a","request":{"method":"GET","url":"file:///etc/passwd","body":{"k":"\u007b\u007bx}}"}}}]}`))
	f.Add([]byte(`{"steps":[{"name":"a","request":{"method":"GET","url":"http://[fe80::1%25eth0]:80/"},"assert":{"status":null,"headers":[{"name":"A","equals":""}]}}]}`))
	f.Add([]byte(`{"steps":null}`))
	f.Add([]byte(`[]`))

	f.Fuzz(func(t *testing.T, data []byte) {
		var d plan.Document
		if err := json.Unmarshal(data, &d); err != nil {
			return
		}
		err := d.Validate(fuzzOpts)
		if err != nil {
			var verr *plan.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("Validate returned %T, want *plan.ValidationError: %v", err, err)
			}
			if len(verr.Errors) == 0 {
				t.Fatal("ValidationError has no errors")
			}
			for _, fe := range verr.Errors {
				if fe.Location == "" || fe.Message == "" {
					t.Fatalf("incomplete field error %+v", fe)
				}
			}
			_ = err.Error()
			return
		}
		again, err := json.Marshal(&d)
		if err != nil {
			t.Fatalf("marshal valid document: %v", err)
		}
		var d2 plan.Document
		if err := json.Unmarshal(again, &d2); err != nil {
			t.Fatalf("decode re-marshalled document: %v\n%s", err, again)
		}
		if err := d2.Validate(fuzzOpts); err != nil {
			t.Fatalf("re-decoded document no longer validates: %v\nfirst:  %s\nsecond: %s", err, data, again)
		}
		third, err := json.Marshal(&d2)
		if err != nil {
			t.Fatalf("marshal re-decoded document: %v", err)
		}
		if string(third) != string(again) {
			t.Fatalf("round trip is not stable:\n%s\n%s", again, third)
		}
	})
}

// FuzzExpand checks Expand, References and Body.Expand against each other:
// they never panic, agree on which inputs are malformed, leave text without
// references unchanged and never expand an inserted value again.
func FuzzExpand(f *testing.F) {
	f.Add("https://{{host}}/users/{{ id }}", "v")
	f.Add("no templates at all", "x")
	f.Add("{{env.HOME}}{{", "{{")
	f.Add("{{{a}}}", "}}")
	f.Add(`{"a":"{{b}}","{{c}}":[1,"\u007b{d}}"]}`, `"\`)
	f.Add(`"{{a}}"`, "\x00\xff")
	f.Add("}}{{a}}}}", "{{a}}")

	f.Fuzz(func(t *testing.T, s, value string) {
		lookup := func(string) (string, bool) { return value, true }
		refs, rerr := plan.References(s)
		out, eerr := plan.Expand(s, lookup, noLimit)
		if (rerr == nil) != (eerr == nil) {
			t.Fatalf("References error %v but Expand error %v", rerr, eerr)
		}
		if rerr != nil {
			if !errors.Is(rerr, plan.ErrUnclosedTemplate) && !errors.Is(rerr, plan.ErrInvalidReference) {
				t.Fatalf("unexpected error kind: %v", rerr)
			}
		} else {
			if len(refs) == 0 && out != s {
				t.Fatalf("text without references changed: %q -> %q", s, out)
			}
			// Unknown names fail exactly when there are references.
			_, err := plan.Expand(s, func(string) (string, bool) { return "", false }, noLimit)
			if (err != nil) != (len(refs) > 0) {
				t.Fatalf("unknown lookup: err %v with %d refs", err, len(refs))
			}
			if err != nil && !errors.Is(err, plan.ErrUnknownVariable) {
				t.Fatalf("unknown lookup: want ErrUnknownVariable, got %v", err)
			}
			// Inserted values are never expanded again, so a value that is
			// itself a malformed template cannot make Expand fail.
			if _, err := plan.Expand(s, func(string) (string, bool) { return "{{" + value, true }, noLimit); err != nil {
				t.Fatalf("inserted value was expanded: %v", err)
			}
			// Writing each reference back in canonical form is a fixed point.
			canon := func(name string) (string, bool) { return "{{" + name + "}}", true }
			once, err := plan.Expand(s, canon, noLimit)
			if err != nil {
				t.Fatalf("canonical expand: %v", err)
			}
			twice, err := plan.Expand(once, canon, noLimit)
			if err != nil || twice != once {
				t.Fatalf("canonical form is not stable: %q -> %q (%v)", once, twice, err)
			}
			// Every inserted value appears in the output.
			if len(refs) > 0 && !strings.Contains(out, value) {
				t.Fatalf("output %q lacks the value %q", out, value)
			}
			// The limit is exact, and TemplateSize predicts the size.
			checkLimit(t, len(out), func(limit int) error {
				_, err := plan.Expand(s, lookup, limit)
				return err
			})
			size, err := plan.TemplateSize(s, lookup)
			if err != nil || size != len(out) {
				t.Fatalf("TemplateSize = %d, %v; expanded size is %d", size, err, len(out))
			}
		}

		if !json.Valid([]byte(s)) {
			return
		}
		body := plan.Body(s)
		brefs, berr := body.References()
		expanded, err := body.Expand(lookup, noLimit)
		if (berr == nil) != (err == nil) {
			t.Fatalf("Body.References error %v but Body.Expand error %v", berr, err)
		}
		if err != nil {
			return
		}
		if !json.Valid(expanded) {
			t.Fatalf("expanded body is not valid JSON: %q -> %q", s, expanded)
		}
		if len(brefs) == 0 && string(expanded) != s {
			t.Fatalf("body without references changed: %q -> %q", s, expanded)
		}
		if !utf8.ValidString(value) {
			// Sizes are additive only over valid UTF-8; plan variables
			// are always valid.
			return
		}
		sent := len(expanded)
		if text, ok := expanded.Text(); ok {
			sent = len(text)
		}
		checkLimit(t, sent, func(limit int) error {
			_, err := body.Expand(lookup, limit)
			return err
		})
		size, err := body.SentSize(lookup)
		if err != nil || size != sent {
			t.Fatalf("SentSize = %d, %v; sent size is %d for %q", size, err, sent, s)
		}
	})
}

// noLimit lets Expand produce any size.
const noLimit = math.MaxInt

// checkLimit checks that expanding with a limit of exactly size succeeds and
// with one byte less fails with ErrTooLarge.
func checkLimit(t *testing.T, size int, expand func(limit int) error) {
	t.Helper()
	if err := expand(size); err != nil {
		t.Fatalf("limit %d = output size: %v", size, err)
	}
	if size == 0 {
		return
	}
	if err := expand(size - 1); !errors.Is(err, plan.ErrTooLarge) {
		t.Fatalf("limit %d, one below the output size: want ErrTooLarge, got %v", size-1, err)
	}
}
