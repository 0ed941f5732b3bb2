package planrun_test

import (
	"encoding/xml"
	"net"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/plan"
	"github.com/astro-runner/astro-runner/internal/planrun"
)

// Parsed JUnit XML, declared independently of the package's own types.
type xmlSuites struct {
	XMLName  xml.Name   `xml:"testsuites"`
	Name     string     `xml:"name,attr"`
	Tests    int        `xml:"tests,attr"`
	Failures int        `xml:"failures,attr"`
	Errors   int        `xml:"errors,attr"`
	Skipped  int        `xml:"skipped,attr"`
	Suites   []xmlSuite `xml:"testsuite"`
}

type xmlSuite struct {
	Name     string    `xml:"name,attr"`
	Tests    int       `xml:"tests,attr"`
	Failures int       `xml:"failures,attr"`
	Errors   int       `xml:"errors,attr"`
	Skipped  int       `xml:"skipped,attr"`
	Time     string    `xml:"time,attr"`
	Cases    []xmlCase `xml:"testcase"`
}

type xmlCase struct {
	Name      string      `xml:"name,attr"`
	Classname string      `xml:"classname,attr"`
	Time      string      `xml:"time,attr"`
	Failure   *xmlProblem `xml:"failure"`
	Error     *xmlProblem `xml:"error"`
	Skipped   *xmlProblem `xml:"skipped"`
}

type xmlProblem struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

func TestJUnit(t *testing.T) {
	t.Parallel()
	srv := assertionServer(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	refused := "http://" + ln.Addr().String()
	require.NoError(t, ln.Close())

	pass := get(`passes <&> "quoted"`, srv.URL+"/json")
	pass.Assert = &plan.Assert{Status: plan.StatusSpec{200}}
	fail := get("fails", srv.URL+"/json")
	fail.Assert = &plan.Assert{
		Status:   plan.StatusSpec{201},
		JSONPath: []plan.JSONPathAssert{{Path: "$.id", Equals: []byte(`1`)}, {Path: "$.name", Matches: ptr("^Z")}},
	}
	fail.ContinueOnFailure = true
	errs := get("errors", refused)
	skipped := get("skipped", srv.URL+"/json")

	res := run(t, newRunner(), pass, fail, errs, skipped)
	require.Equal(t, []string{planrun.StatusPassed, planrun.StatusFailed, planrun.StatusError, planrun.StatusSkipped}, statuses(res))

	out, err := planrun.JUnit("my plan", res)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(out), "<?xml"))

	var got xmlSuites
	require.NoError(t, xml.Unmarshal(out, &got))
	require.Equal(t, "my plan", got.Name)
	require.Equal(t, [4]int{4, 1, 1, 1}, [4]int{got.Tests, got.Failures, got.Errors, got.Skipped})
	require.Len(t, got.Suites, 1)
	suite := got.Suites[0]
	require.Equal(t, "my plan", suite.Name)
	require.Equal(t, [4]int{4, 1, 1, 1}, [4]int{suite.Tests, suite.Failures, suite.Errors, suite.Skipped})
	require.Regexp(t, `^\d+\.\d{3}$`, suite.Time)
	require.Len(t, suite.Cases, 4)

	c := suite.Cases[0]
	require.Equal(t, `1. passes <&> "quoted"`, c.Name)
	require.Equal(t, "my plan", c.Classname)
	require.Nil(t, c.Failure)
	require.Nil(t, c.Error)
	require.Nil(t, c.Skipped)

	c = suite.Cases[1]
	require.NotNil(t, c.Failure)
	require.Equal(t, "2 of 3 checks failed", c.Failure.Message)
	require.Equal(t, "status: expected status 201, got 200\njsonpath_matches $.name: expected value to match \"^Z\", got \"Ada\"\n", c.Failure.Text)

	c = suite.Cases[2]
	require.NotNil(t, c.Error)
	require.Contains(t, c.Error.Message, "connection refused")

	c = suite.Cases[3]
	require.NotNil(t, c.Skipped)
	require.Equal(t, `step 3 ("errors") errored`, c.Skipped.Message)
}

func TestJUnitRejectsNilResult(t *testing.T) {
	t.Parallel()
	_, err := planrun.JUnit("x", nil)
	require.Error(t, err)
}

func TestJUnitEscapesControlCharacters(t *testing.T) {
	t.Parallel()
	res := &planrun.Result{
		Status: planrun.StatusFailed,
		Steps: []planrun.StepResult{{
			Name:        "nul\x00step",
			Status:      planrun.StatusError,
			Error:       "bad \x01 byte",
			BodyExcerpt: "body\x02",
		}},
		Totals: planrun.Totals{Errors: 1},
	}
	out, err := planrun.JUnit("ctl", res)
	require.NoError(t, err)
	var got xmlSuites
	require.NoError(t, xml.Unmarshal(out, &got), string(out))
	require.Equal(t, 1, got.Errors)
}
