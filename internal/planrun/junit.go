package planrun

import (
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
	"time"
)

// junitSuites is the root element of a JUnit report.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

// junitSuite is one plan run.
type junitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Errors    int         `xml:"errors,attr"`
	Skipped   int         `xml:"skipped,attr"`
	Time      string      `xml:"time,attr"`
	Timestamp string      `xml:"timestamp,attr,omitempty"`
	Cases     []junitCase `xml:"testcase"`
}

// junitCase is one step.
type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

// junitProblem is a failure or an error.
type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// junitSkipped marks a step that did not run.
type junitSkipped struct {
	Message string `xml:"message,attr,omitempty"`
}

// JUnit renders a result as a JUnit XML report with one test suite named
// name and one test case per step. A failed step has a <failure> listing
// its failed checks, an errored step an <error>, and a skipped step a
// <skipped/>. The body excerpt of each step that ran is included as
// <system-out>.
func JUnit(name string, res *Result) ([]byte, error) {
	if res == nil {
		return nil, errors.New("junit: nil result")
	}
	return JUnitSuites(name, []JUnitSuite{{Name: name, Result: res}})
}

// JUnitSuite is one test suite of a JUnit report: the result of one plan
// run, or the error that kept a plan from running.
type JUnitSuite struct {
	// Name names the suite and is the class name of its test cases.
	Name string
	// Result is the run's result; each step becomes a test case as in
	// JUnit. Nil when Error is set.
	Result *Result
	// Error, when set, says why the plan did not run. The suite then
	// holds one errored test case named "load plan".
	Error string
}

// JUnitSuites renders several suites as one JUnit XML report named name,
// whose totals are the sums of the suites'. Each suite is rendered as
// JUnit renders its only one.
func JUnitSuites(name string, suites []JUnitSuite) ([]byte, error) {
	doc := junitSuites{Name: name}
	var ms int64
	for i := range suites {
		suite, suiteMS, err := junitSuiteOf(&suites[i])
		if err != nil {
			return nil, err
		}
		doc.Tests += suite.Tests
		doc.Failures += suite.Failures
		doc.Errors += suite.Errors
		doc.Skipped += suite.Skipped
		ms += suiteMS
		doc.Suites = append(doc.Suites, suite)
	}
	doc.Time = seconds(ms)
	out, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("junit: marshal: %w", err)
	}
	return append([]byte(xml.Header), append(out, '\n')...), nil
}

// junitSuiteOf renders one suite and returns its duration in milliseconds.
func junitSuiteOf(s *JUnitSuite) (junitSuite, int64, error) {
	if s.Result == nil {
		if s.Error == "" {
			return junitSuite{}, 0, fmt.Errorf("junit: suite %q has neither a result nor an error", s.Name)
		}
		return junitSuite{
			Name: s.Name, Tests: 1, Errors: 1, Time: seconds(0),
			Cases: []junitCase{{
				Name: "load plan", Classname: s.Name, Time: seconds(0),
				Error: &junitProblem{Message: s.Error, Type: "invalid", Text: s.Error},
			}},
		}, 0, nil
	}
	res := s.Result
	suite := junitSuite{
		Name:     s.Name,
		Tests:    len(res.Steps),
		Failures: res.Totals.Failed,
		Errors:   res.Totals.Errors,
		Skipped:  res.Totals.Skipped,
		Time:     seconds(res.Totals.DurationMS),
	}
	if !res.StartedAt.IsZero() {
		suite.Timestamp = res.StartedAt.UTC().Format(time.RFC3339)
	}
	for i := range res.Steps {
		sr := &res.Steps[i]
		tc := junitCase{
			Name:      fmt.Sprintf("%d. %s", i+1, sr.Name),
			Classname: s.Name,
			Time:      seconds(sr.DurationMS),
			SystemOut: sr.BodyExcerpt,
		}
		switch sr.Status {
		case StatusFailed:
			tc.Failure = &junitProblem{Message: sr.Error, Type: "assertion", Text: failedChecks(sr)}
		case StatusError:
			tc.Error = &junitProblem{Message: sr.Error, Type: "error", Text: sr.Error}
		case StatusSkipped:
			tc.Skipped = &junitSkipped{Message: sr.Error}
		}
		suite.Cases = append(suite.Cases, tc)
	}
	return suite, res.Totals.DurationMS, nil
}

// failedChecks lists a step's failed checks, one a line.
func failedChecks(sr *StepResult) string {
	var b strings.Builder
	for _, a := range sr.Assertions {
		if a.Passed {
			continue
		}
		b.WriteString(a.Kind)
		if a.Target != "" {
			b.WriteString(" " + a.Target)
		}
		b.WriteString(": " + a.Message + "\n")
	}
	return b.String()
}

// seconds formats milliseconds as seconds with three decimals.
func seconds(ms int64) string {
	return fmt.Sprintf("%d.%03d", ms/1000, ms%1000)
}
