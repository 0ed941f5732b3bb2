package plan_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/humatest"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/plan"
)

// planInput is a request body that embeds a document, as the API does.
type planInput struct {
	Body struct {
		Document plan.Document `json:"document" doc:"The plan." example:"{\"steps\":[{\"name\":\"Health\",\"request\":{\"method\":\"GET\",\"url\":\"https://api.example.com/health\"}}]}"`
	}
}

// planOutput echoes what the handler received after Huma decoded the body.
type planOutput struct {
	Body struct {
		Document plan.Document `json:"document" doc:"The plan as decoded." example:"{}"`
	}
}

// newPlanAPI returns a test API with one operation that accepts a document
// and echoes it back after Validate.
func newPlanAPI(t *testing.T) humatest.TestAPI {
	t.Helper()
	_, api := humatest.New(t)
	huma.Register(api, huma.Operation{
		OperationID: "create-plan",
		Method:      http.MethodPost,
		Path:        "/plans",
		Summary:     "Create a plan",
	}, func(_ context.Context, in *planInput) (*planOutput, error) {
		if err := in.Body.Document.Validate(plan.ValidateOptions{Location: "body.document"}); err != nil {
			verr := err.(*plan.ValidationError)
			return nil, huma.Error422UnprocessableEntity("invalid plan", verr.Details()...)
		}
		out := &planOutput{}
		out.Body.Document = in.Body.Document
		return out, nil
	})
	return api
}

// docJSON builds a request body with one step whose request body and assert
// are given as raw JSON.
func docJSON(request, assert string) string {
	step := `{"name":"s","request":` + request
	if assert != "" {
		step += `,"assert":` + assert
	}
	return `{"document":{"steps":[` + step + `}]}}`
}

func TestHumaAcceptsDocuments(t *testing.T) {
	t.Parallel()
	api := newPlanAPI(t)
	tests := []struct {
		name     string
		request  string
		assert   string
		wantBody string
	}{
		{name: "NoBody", request: `{"method":"GET","url":"https://a.example/"}`},
		{name: "StringBody", request: `{"method":"POST","url":"https://a.example/","body":"raw text"}`, wantBody: `"raw text"`},
		{name: "ObjectBody", request: `{"method":"POST","url":"https://a.example/","body":{"a":[1,{"b":null}]}}`, wantBody: `{"a":[1,{"b":null}]}`},
		{name: "ArrayBody", request: `{"method":"POST","url":"https://a.example/","body":[1,"x"]}`, wantBody: `[1,"x"]`},
		{name: "NumberBody", request: `{"method":"POST","url":"https://a.example/","body":12.5}`, wantBody: `12.5`},
		{name: "BoolBody", request: `{"method":"POST","url":"https://a.example/","body":true}`, wantBody: `true`},
		{name: "StatusList", request: `{"method":"GET","url":"https://a.example/"}`, assert: `{"status":[200,201]}`},
		{name: "JSONPathEqualsAnything", request: `{"method":"GET","url":"https://a.example/"}`, assert: `{"jsonpath":[{"path":"$.a","equals":{"x":[1]}},{"path":"$.b","equals":null}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp := api.Post("/plans", strings.NewReader(docJSON(tt.request, tt.assert)))
			require.Equal(t, http.StatusOK, resp.Code, resp.Body.String())
			var out struct {
				Document struct {
					Steps []struct {
						Request struct {
							Body json.RawMessage `json:"body"`
						} `json:"request"`
					} `json:"steps"`
				} `json:"document"`
			}
			require.NoError(t, json.Unmarshal(resp.Body.Bytes(), &out))
			if tt.wantBody != "" {
				require.JSONEq(t, tt.wantBody, string(out.Document.Steps[0].Request.Body))
			}
		})
	}
}

func TestHumaAppliesDefaults(t *testing.T) {
	t.Parallel()
	api := newPlanAPI(t)
	body := `{"document":{"variables":{"b":"https://a.example"},"steps":[{"name":"s","request":{"method":"GET","url":"{{b}}/x"},` +
		`"capture":[{"name":"c","regex":"id=(\\d+)"}]}]}}`
	resp := api.Post("/plans", strings.NewReader(body))
	require.Equal(t, http.StatusOK, resp.Code, resp.Body.String())
	var out struct {
		Document plan.Document `json:"document"`
	}
	require.NoError(t, json.Unmarshal(resp.Body.Bytes(), &out))
	require.Equal(t, plan.DefaultTimeoutMS, out.Document.Steps[0].TimeoutMS)
	require.Equal(t, 1, out.Document.Steps[0].Capture[0].Group)
}

func TestHumaKeepsPropagateTraceAsGiven(t *testing.T) {
	t.Parallel()
	api := newPlanAPI(t)
	body := `{"document":{"steps":[` +
		`{"name":"absent","request":{"method":"GET","url":"https://a.example/"}},` +
		`{"name":"off","request":{"method":"GET","url":"https://a.example/"},"propagate_trace":false},` +
		`{"name":"on","request":{"method":"GET","url":"https://a.example/"},"propagate_trace":true}]}}`
	resp := api.Post("/plans", strings.NewReader(body))
	require.Equal(t, http.StatusOK, resp.Code, resp.Body.String())
	var out struct {
		Document struct {
			Steps []map[string]any `json:"steps"`
		} `json:"document"`
	}
	require.NoError(t, json.Unmarshal(resp.Body.Bytes(), &out))
	require.Len(t, out.Document.Steps, 3)
	require.NotContains(t, out.Document.Steps[0], "propagate_trace", "no default is filled in: the stored plan stays as written")
	require.Equal(t, false, out.Document.Steps[1]["propagate_trace"])
	require.Equal(t, true, out.Document.Steps[2]["propagate_trace"])

	var doc struct {
		Document plan.Document `json:"document"`
	}
	require.NoError(t, json.Unmarshal(resp.Body.Bytes(), &doc))
	require.Equal(t, []bool{true, false, true}, []bool{
		doc.Document.Steps[0].SendsTraceContext(), doc.Document.Steps[1].SendsTraceContext(), doc.Document.Steps[2].SendsTraceContext(),
	})
}

func TestHumaRejectsDocuments(t *testing.T) {
	t.Parallel()
	api := newPlanAPI(t)
	tests := []struct {
		name     string
		body     string
		location string
	}{
		{name: "StatusString", body: docJSON(`{"method":"GET","url":"https://a.example/"}`, `{"status":"200"}`), location: "body.document.steps[0].assert.status"},
		{name: "StatusTooHigh", body: docJSON(`{"method":"GET","url":"https://a.example/"}`, `{"status":[600]}`), location: "body.document.steps[0].assert.status[0]"},
		// The bare integer is a shorthand the schema does not describe:
		// the API rewrites it (NormalizeStatusShorthand) before validating.
		{name: "StatusIntegerWithoutNormalizing", body: docJSON(`{"method":"GET","url":"https://a.example/"}`, `{"status":204}`), location: "body.document.steps[0].assert.status"},
		{name: "StatusEmptyList", body: docJSON(`{"method":"GET","url":"https://a.example/"}`, `{"status":[]}`), location: "body.document.steps[0].assert.status"},
		{name: "MissingMethod", body: docJSON(`{"url":"https://a.example/"}`, ""), location: "body.document.steps[0].request"},
		{name: "BadMethod", body: docJSON(`{"method":"TRACE","url":"https://a.example/"}`, ""), location: "body.document.steps[0].request.method"},
		{name: "NoSteps", body: `{"document":{"steps":[]}}`, location: "body.document.steps"},
		{name: "UnknownField", body: docJSON(`{"method":"GET","url":"https://a.example/","bogus":1}`, ""), location: "body.document.steps[0].request.bogus"},
		{name: "FileURLByValidate", body: docJSON(`{"method":"GET","url":"file:///etc/passwd"}`, ""), location: "body.document.steps[0].request.url"},
		{name: "PropagateTraceNotABoolean", body: `{"document":{"steps":[{"name":"s","request":{"method":"GET","url":"https://a.example/"},"propagate_trace":"no"}]}}`, location: "body.document.steps[0].propagate_trace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp := api.Post("/plans", strings.NewReader(tt.body))
			require.Equal(t, http.StatusUnprocessableEntity, resp.Code, resp.Body.String())
			var problem huma.ErrorModel
			require.NoError(t, json.Unmarshal(resp.Body.Bytes(), &problem))
			var locations []string
			for _, d := range problem.Errors {
				locations = append(locations, d.Location)
			}
			require.Contains(t, locations, tt.location, resp.Body.String())
		})
	}
}

func TestSchemaDocumentsEveryField(t *testing.T) {
	t.Parallel()
	api := newPlanAPI(t)
	schemas := api.OpenAPI().Components.Schemas.Map()
	for _, name := range []string{"Document", "Step", "Request", "Assert", "HeaderAssert", "JSONPathAssert", "Capture"} {
		s, ok := schemas[name]
		require.True(t, ok, "schema %s is missing", name)
		for prop, ps := range s.Properties {
			require.NotEmpty(t, ps.Description, "%s.%s has no doc", name, prop)
			require.NotEmpty(t, ps.Examples, "%s.%s has no example", name, prop)
		}
	}
	status := schemas["Assert"].Properties["status"]
	require.Equal(t, huma.TypeArray, status.Type, "status has one shape, a list of codes")
	require.Empty(t, status.OneOf)
	require.Equal(t, huma.TypeInteger, status.Items.Type)
	body := schemas["Request"].Properties["body"]
	require.Empty(t, body.Type, "body must accept any JSON type")
}

func TestStatusSpecJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		want     plan.StatusSpec
		out      string
	}{
		{name: "BareIntegerIsOneCode", in: `204`, want: plan.StatusSpec{204}, out: `[204]`},
		{name: "ListOfOne", in: `[200]`, want: plan.StatusSpec{200}, out: `[200]`},
		{name: "List", in: `[200, 201]`, want: plan.StatusSpec{200, 201}, out: `[200,201]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got plan.StatusSpec
			require.NoError(t, json.Unmarshal([]byte(tt.in), &got))
			require.Equal(t, tt.want, got)
			b, err := json.Marshal(got)
			require.NoError(t, err)
			require.Equal(t, tt.out, string(b), "a status is always written as an array")
		})
	}
}

func TestNormalizeStatusShorthand(t *testing.T) {
	t.Parallel()
	var doc any
	require.NoError(t, json.Unmarshal([]byte(`{"steps":[{"assert":{"status":200}},{"assert":{"status":[201]}},{"name":"no assert"},"not a step"]}`), &doc))
	plan.NormalizeStatusShorthand(doc)
	b, err := json.Marshal(doc)
	require.NoError(t, err)
	require.JSONEq(t, `{"steps":[{"assert":{"status":[200]}},{"assert":{"status":[201]}},{"name":"no assert"},"not a step"]}`, string(b))
	for _, v := range []any{nil, "text", []any{1}, map[string]any{"steps": "x"}} {
		plan.NormalizeStatusShorthand(v) // must not panic
	}

	// A decoder with UseNumber gives json.Number, which is rewritten too.
	dec := json.NewDecoder(strings.NewReader(`{"steps":[{"assert":{"status":204}}]}`))
	dec.UseNumber()
	require.NoError(t, dec.Decode(&doc))
	plan.NormalizeStatusShorthand(doc)
	b, err = json.Marshal(doc)
	require.NoError(t, err)
	require.JSONEq(t, `{"steps":[{"assert":{"status":[204]}}]}`, string(b))
}
