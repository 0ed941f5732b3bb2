package planrun_test

import (
	"encoding/xml"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/planrun"
)

func TestJUnitSuitesSumsSuitesAndReportsPlansThatDidNotRun(t *testing.T) {
	t.Parallel()
	pass := &planrun.Result{Status: planrun.StatusPassed, Steps: []planrun.StepResult{{Name: "a", Status: planrun.StatusPassed, DurationMS: 5}},
		Totals: planrun.Totals{Passed: 1, DurationMS: 5}}
	fail := &planrun.Result{Status: planrun.StatusFailed, Steps: []planrun.StepResult{
		{Name: "b", Status: planrun.StatusFailed, Error: "1 of 1 checks failed", DurationMS: 7},
		{Name: "c", Status: planrun.StatusSkipped},
	}, Totals: planrun.Totals{Failed: 1, Skipped: 1, DurationMS: 1200}}
	out, err := planrun.JUnitSuites("astro-runner", []planrun.JUnitSuite{
		{Name: "one", Result: pass}, {Name: "two", Result: fail}, {Name: "bad.json", Error: "invalid plan: validation failed\nbody.name: expected length >= 1"},
	})
	require.NoError(t, err)
	var doc struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Errors   int    `xml:"errors,attr"`
		Skipped  int    `xml:"skipped,attr"`
		Time     string `xml:"time,attr"`
		Suites   []struct {
			Name  string `xml:"name,attr"`
			Cases []struct {
				Name  string `xml:"name,attr"`
				Error *struct {
					Message string `xml:"message,attr"`
				} `xml:"error"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	require.NoError(t, xml.Unmarshal(out, &doc))
	require.Equal(t, "astro-runner", doc.Name)
	require.Equal(t, 4, doc.Tests)
	require.Equal(t, 1, doc.Failures)
	require.Equal(t, 1, doc.Errors)
	require.Equal(t, 1, doc.Skipped)
	require.Equal(t, "1.205", doc.Time)
	require.Len(t, doc.Suites, 3)
	require.Equal(t, "load plan", doc.Suites[2].Cases[0].Name)
	require.Contains(t, doc.Suites[2].Cases[0].Error.Message, "body.name: expected length >= 1")

	_, err = planrun.JUnitSuites("x", []planrun.JUnitSuite{{Name: "empty"}})
	require.Error(t, err)
}
