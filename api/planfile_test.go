package api

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2"
	"github.com/stretchr/testify/require"
)

// TestParsePlanBodyAgreesWithCreatePlan sends each body to create-plan and
// to ParsePlanBody: both accept it, or both refuse it with the same status
// and the same located messages.
func TestParsePlanBodyAgreesWithCreatePlan(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withEnvAllow("CI_TOKEN"))
	steps := func(url string) string {
		return `{"steps":[{"name":"s","request":{"method":"GET","url":"` + url + `"}}]}`
	}
	cases := []struct {
		name string
		body string
	}{
		{"valid", `{"name":"ok-1","labels":{"team":"qa"},"document":` + validDocument + `}`},
		{"valid with env", `{"name":"ok-2","document":` + steps("https://x.test/{{env.CI_TOKEN}}") + `}`},
		{"not JSON", `{"name":`},
		{"not UTF-8", "{\"name\":\"\xff\",\"document\":" + validDocument + "}"},
		{"too deep", `{"name":"deep","document":` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `}`},
		{"empty name", `{"name":"","document":` + validDocument + `}`},
		{"missing document", `{"name":"x"}`},
		{"unknown field", `{"name":"x","nmae":"y","document":` + validDocument + `}`},
		{"wrong case", `{"name":"x","Name":"y","document":` + validDocument + `}`},
		{"bad label key", `{"name":"x","labels":{"a:b":"c","":"d"},"document":` + validDocument + `}`},
		{"NUL in name", `{"name":"a\u0000b","document":` + validDocument + `}`},
		{"bad method", `{"name":"x","document":{"steps":[{"name":"s","request":{"method":"FETCH","url":"https://x.test"}}]}}`},
		{"undeclared variable", `{"name":"x","document":` + steps("{{nope}}/x") + `}`},
		{"env not allowed", `{"name":"x","document":` + steps("https://x.test/{{env.HOME}}") + `}`},
		{"no steps", `{"name":"x","document":{"steps":[]}}`},
		{"too large", `{"name":"x","description":"` + strings.Repeat("a", maxPlanBodyBytes) + `","document":` + validDocument + `}`},
	}
	for _, c := range cases {
		res := e.request(http.MethodPost, "/plan", c.body)
		body, err := ParsePlanBody([]byte(c.body), []string{"CI_TOKEN"})
		if res.Status == http.StatusCreated {
			require.NoError(t, err, c.name)
			require.NotEmpty(t, body.Name, c.name)
			continue
		}
		require.Error(t, err, "%s: the API said %d %s", c.name, res.Status, res.Body)
		var em *huma.ErrorModel
		require.True(t, errors.As(err, &em), c.name)
		p := res.problem(t)
		require.Equal(t, p.Status, em.Status, "%s: %s", c.name, res.Body)
		var want, got []string
		for _, d := range p.Errors {
			want = append(want, d.Location+": "+d.Message)
		}
		for _, d := range em.Errors {
			got = append(got, d.Location+": "+d.Message)
		}
		require.ElementsMatch(t, want, got, c.name)
		if len(p.Errors) == 0 {
			require.Equal(t, p.Detail, em.Detail, c.name)
		}
	}
}
