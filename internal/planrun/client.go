package planrun

import (
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/astro-runner/astro-runner/internal/netguard"
	"github.com/astro-runner/astro-runner/internal/plan"
)

// MaxRedirects is how many redirects a client from NewHTTPClient follows
// before it gives up.
const MaxRedirects = 10

// MaxResponseHeaderBytes bounds the headers of one response that a client
// from NewHTTPClient reads: 128 KiB. A target that sends more fails the
// step with an error saying "server response headers exceeded 131072
// bytes", and no more of the response is read. (Go's default is 10 MB.)
const MaxResponseHeaderBytes = 128 << 10

// The idle connections the runner's client keeps: enough per host that
// many workers running plans against one target reuse their connections
// instead of dialling one per request (each idle connection holds a few
// kilobytes of buffers, and is closed after 90 s unused).
const (
	maxIdleConns        = 256
	maxIdleConnsPerHost = 128
)

// NewHTTPClient returns a client for running plans. It dials through the
// policy (a nil policy is netguard's default: link-local addresses denied),
// never uses a proxy (a proxy would connect on its behalf, out of the
// policy's reach), keeps no cookie jar so steps share no hidden state,
// follows at most MaxRedirects redirects, and reads at most
// MaxResponseHeaderBytes of a response's headers. Connections are reused
// across steps and runs. The transport's timeouts are backstops: each step's own
// timeout, applied through the request context, is normally shorter.
func NewHTTPClient(policy *netguard.Policy) *http.Client {
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		Proxy:                  nil,
		DialContext:            policy.DialContext(dialer),
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           maxIdleConns,
		MaxIdleConnsPerHost:    maxIdleConnsPerHost,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ResponseHeaderTimeout:  plan.MaxTimeoutMS * time.Millisecond,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: MaxResponseHeaderBytes,
	}
	return &http.Client{
		Transport: transport,
		CheckRedirect: func(_ *http.Request, via []*http.Request) error {
			if len(via) >= MaxRedirects {
				return fmt.Errorf("stopped after %d redirects", MaxRedirects)
			}
			return nil
		},
	}
}
