package astro

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strings"
)

// Problem is the error of every answer outside 2xx: the server's RFC 9457 problem
// document, or, for an answer that is not one (from a proxy, say), the status and the
// start of the body. Test for it with errors.As:
//
//	var p *astro.Problem
//	if errors.As(err, &p) && p.Status == http.StatusNotFound { ... }
type Problem struct {
	// Status is the HTTP status code of the answer, such as 404.
	Status int `json:"status"`
	// Title is a short summary of the kind of problem, such as "Not Found".
	Title string `json:"title"`
	// Detail explains this occurrence of the problem.
	Detail string `json:"detail"`
	// Errors lists the individual errors of a request that failed validation (422).
	Errors []ProblemDetail `json:"errors"`
	// RequestID is the answer's X-Request-ID header, to find the server's log lines.
	RequestID string `json:"-"`
}

// ProblemDetail is one error of a Problem, such as one invalid field.
type ProblemDetail struct {
	// Location says where the error is, such as "body.document.steps[0].request.url".
	Location string `json:"location"`
	// Message says what is wrong.
	Message string `json:"message"`
	// Value is the offending value, when the server reports it.
	Value any `json:"value,omitempty"`
}

// Error returns the status, title, detail and each error's location and message.
func (p *Problem) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "astro: %d %s", p.Status, p.Title)
	if p.Detail != "" {
		b.WriteString(": ")
		b.WriteString(p.Detail)
	}
	for _, e := range p.Errors {
		fmt.Fprintf(&b, "; %s: %s", e.Location, e.Message)
	}
	return b.String()
}

// maxProblemText is how much of a body that is not a problem document goes into Detail.
const maxProblemText = 512

// problemFrom makes the *Problem of a non-2xx answer with the given body.
func problemFrom(hr *http.Response, body []byte) *Problem {
	p := &Problem{}
	mediaType, _, _ := mime.ParseMediaType(hr.Header.Get("Content-Type"))
	if strings.HasSuffix(mediaType, "json") {
		if err := json.Unmarshal(body, p); err != nil {
			p = &Problem{}
		}
	}
	if p.Status == 0 && p.Title == "" && p.Detail == "" {
		text := string(body)
		if len(text) > maxProblemText {
			text = strings.ToValidUTF8(text[:maxProblemText], "") + "…"
		}
		p.Detail = strings.TrimSpace(text)
	}
	p.Status = hr.StatusCode
	if p.Title == "" {
		p.Title = http.StatusText(hr.StatusCode)
	}
	p.RequestID = hr.Header.Get("X-Request-ID")
	return p
}
