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
	suite := junitSuite{
		Name:     name,
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
			Classname: name,
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
	doc := junitSuites{
		Name:     name,
		Tests:    suite.Tests,
		Failures: suite.Failures,
		Errors:   suite.Errors,
		Skipped:  suite.Skipped,
		Time:     suite.Time,
		Suites:   []junitSuite{suite},
	}
	out, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("junit: marshal: %w", err)
	}
	return append([]byte(xml.Header), append(out, '\n')...), nil
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
