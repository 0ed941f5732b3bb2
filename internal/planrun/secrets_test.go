package planrun_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/plan"
	"github.com/astro-runner/astro-runner/internal/planrun"
)

// requireNoSecret fails if the encoded result holds the first minLen
// bytes of the secret, raw or JSON-escaped, and so any longer part of its
// start.
func requireNoSecret(t *testing.T, res *planrun.Result, secret string, minLen int) {
	t.Helper()
	data, err := json.Marshal(res)
	require.NoError(t, err)
	text := string(data)
	prefix := secret[:minLen]
	escaped, err := json.Marshal(prefix)
	require.NoError(t, err)
	for _, form := range []string{prefix, strings.Trim(string(escaped), `"`)} {
		if i := strings.Index(text, form); i >= 0 {
			t.Fatalf("the start of the secret leaked: …%s…", text[max(0, i-40):min(len(text), i+len(form)+40)])
		}
	}
}

// secretSteps returns a step that captures secret as api_token from /token
// and a second step that runs the assertions against path.
func secretSteps(url, path string, asserts ...plan.JSONPathAssert) []plan.Step {
	s1 := get("login", url+"/token")
	s1.Capture = []plan.Capture{{Name: "api_token", JSONPath: "$.token"}}
	s2 := get("echo", url+path)
	s2.Assert = &plan.Assert{JSONPath: asserts}
	s2.ContinueOnFailure = true
	return []plan.Step{s1, s2}
}

// TestSecretInStructuredActualIsScrubbed checks that a captured secret that
// a later response echoes inside an object is scrubbed from the Actual
// value, whether the object is small (kept as an object) or large (kept as
// its cut JSON text, with the secret straddling the cut), and from the
// truncated form the result budget keeps.
func TestSecretInStructuredActualIsScrubbed(t *testing.T) {
	t.Parallel()
	secret := "s3cr3t-" + strings.Repeat("x", 40) + "-end"
	// In the large object the secret starts 20 bytes before the 1 KiB cut.
	// The JSON text is {"a":"<pad>","t":"<secret>"}: 6 bytes before the pad
	// and 7 between it and the secret.
	pad := strings.Repeat("p", planrun.MaxEchoBytes-20-13)
	mux := http.NewServeMux()
	mux.HandleFunc("/token", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprintf(w, `{"token":%q}`, secret)
	})
	mux.HandleFunc("/small", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprintf(w, `{"o":{"t":%q,%q:1}}`, secret, secret)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprintf(w, `{"o":{"a":%q,"t":%q,"z":%q}}`, pad, secret, strings.Repeat("z", 5000))
	})
	srv := newServer(t, mux)

	for _, tt := range []struct {
		name, path string
		budget     int
	}{
		{name: "Small", path: "/small"},
		{name: "Big", path: "/big"},
		{name: "SmallTruncated", path: "/small", budget: 1},
		{name: "BigTruncated", path: "/big", budget: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRunner()
			r.MaxResultBytes = tt.budget
			res := run(t, r, secretSteps(srv.URL, tt.path,
				plan.JSONPathAssert{Path: "$.o", Equals: json.RawMessage(`1`)},
				plan.JSONPathAssert{Path: "$.o", Matches: ptr("^never")},
			)...)
			sr := res.Steps[1]
			require.Equal(t, planrun.StatusFailed, sr.Status)
			require.NotNil(t, sr.Assertions[0].Actual)
			requireNoSecret(t, res, secret, 4)
		})
	}
}

// TestSecretWithControlBytesIsScrubbedFromMessages checks that a secret
// holding NUL and other control bytes is scrubbed from messages, where it
// appears quoted with Go escapes (\x00) or JSON escapes (\u0000).
func TestSecretWithControlBytesIsScrubbedFromMessages(t *testing.T) {
	t.Parallel()
	secret := "tok\x00en-\x01123456"
	mux := http.NewServeMux()
	mux.HandleFunc("/token", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "id="+secret)
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, _ *http.Request) {
		data, _ := json.Marshal(map[string]any{"v": "id=" + secret, "o": map[string]string{"t": secret}})
		_, _ = w.Write(data)
	})
	srv := newServer(t, mux)

	s1 := get("login", srv.URL+"/token")
	s1.Capture = []plan.Capture{{Name: "api_token", Regex: `(?s)id=(.*)`}}
	s2 := get("echo", srv.URL+"/echo")
	s2.Assert = &plan.Assert{JSONPath: []plan.JSONPathAssert{
		{Path: "$.v", Equals: json.RawMessage(`"x"`), Matches: ptr("^never")},
		{Path: "$.o", Equals: json.RawMessage(`1`)},
	}}
	res := run(t, newRunner(), s1, s2)
	sr := res.Steps[1]
	require.Equal(t, planrun.StatusFailed, sr.Status)
	for _, a := range sr.Assertions {
		require.False(t, a.Passed)
		require.Contains(t, a.Message, planrun.Redacted)
	}
	data, err := json.Marshal(res)
	require.NoError(t, err)
	for _, form := range []string{`tok\x00en`, `tok\\x00en`, `tok\u0000en`, `tok\\u0000en`, "tok\uFFFDen", "en-"} {
		require.NotContains(t, string(data), form)
	}
}

// TestSecretAfterLongSecretIsScrubbed checks that a secret cut off where a
// long text was first cut leaves no prefix behind once the long secret
// before it is replaced and the rest moves forward into what is kept.
func TestSecretAfterLongSecretIsScrubbed(t *testing.T) {
	t.Parallel()
	first := "first-" + strings.Repeat("a", 40_000)
	second := "second-" + strings.Repeat("b", 40_000)
	mux := http.NewServeMux()
	mux.HandleFunc("/token", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprintf(w, `{"a":%q,"b":%q}`, first, second)
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Echo", first+second)
		_, _ = fmt.Fprintf(w, `{"v":%q}`, first+second)
	})
	srv := newServer(t, mux)

	s1 := get("login", srv.URL+"/token")
	s1.Capture = []plan.Capture{{Name: "token_a", JSONPath: "$.a"}, {Name: "token_b", JSONPath: "$.b"}}
	s2 := get("echo", srv.URL+"/echo")
	s2.Assert = &plan.Assert{
		Headers:  []plan.HeaderAssert{{Name: "X-Echo", Equals: ptr("x")}},
		JSONPath: []plan.JSONPathAssert{{Path: "$", Equals: json.RawMessage(`1`)}},
	}
	res := run(t, newRunner(), s1, s2)
	require.Equal(t, planrun.StatusFailed, res.Steps[1].Status)
	requireNoSecret(t, res, second, 8)
	requireNoSecret(t, res, first, 8)
}
