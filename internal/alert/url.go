package alert

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/astro-runner/astro-runner/internal/netguard"
)

// MaxURLBytes is the longest channel URL accepted.
const MaxURLBytes = 2048

// URLError says why a channel URL is refused. Its text never quotes the
// URL, which may be secret (a Slack webhook URL is a credential).
type URLError struct {
	// Reason says what is wrong, as a phrase: "must use http or https".
	Reason string
	// Blocked is set when the network policy refuses the URL's host.
	Blocked *netguard.BlockedError
}

// Error returns the reason.
func (e *URLError) Error() string {
	if e.Blocked != nil {
		return "blocked by the network policy: " + e.Blocked.Error()
	}
	return e.Reason
}

// Unwrap returns the policy's error, if any.
func (e *URLError) Unwrap() error {
	if e.Blocked != nil {
		return e.Blocked
	}
	return nil
}

// ParseURL checks the form of a channel URL: at most MaxURLBytes bytes, an
// absolute http or https URL with an ASCII host (net/http maps any other
// host through IDNA before dialling, so CheckURL would judge a name other
// than the one dialled), without user information (put credentials in a
// header or the signing secret instead). It returns the parsed URL, or a
// *URLError.
func ParseURL(raw string) (*url.URL, error) {
	if len(raw) > MaxURLBytes {
		return nil, &URLError{Reason: fmt.Sprintf("must be at most %d bytes long", MaxURLBytes)}
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the URL: give only the reason.
		reason := "is not a valid URL"
		var ue *url.Error
		if errors.As(err, &ue) {
			reason += ": " + describeParseError(ue.Err)
		}
		return nil, &URLError{Reason: reason}
	}
	switch {
	case !u.IsAbs():
		return nil, &URLError{Reason: "must be an absolute URL such as https://hooks.example.com/astro"}
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, &URLError{Reason: "must use http or https"}
	case u.Opaque != "":
		return nil, &URLError{Reason: "must be an absolute URL with // and a host, such as https://hooks.example.com/astro"}
	case u.User != nil:
		return nil, &URLError{Reason: "must not carry a user name or password: use a header or the signing secret"}
	case u.Hostname() == "":
		return nil, &URLError{Reason: "must name a host"}
	case !isASCII(u.Hostname()):
		// net/http dials such a host as IDNA maps it ("１２７.０.０.１"
		// is 127.0.0.1), which CheckURL could not see.
		return nil, &URLError{Reason: "must have an ASCII host name: write an internationalized name in its xn-- form"}
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
			return nil, &URLError{Reason: "has an invalid port: want 1 to 65535"}
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return nil, &URLError{Reason: "has an empty port"}
	}
	return u, nil
}

// isASCII reports whether s holds only ASCII characters.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// describeParseError returns the reason of a url.Parse error without the
// text it quotes.
func describeParseError(err error) string {
	var esc url.EscapeError
	var host url.InvalidHostError
	switch {
	case errors.As(err, &esc):
		return "invalid percent-encoding"
	case errors.As(err, &host):
		return "invalid character in the host"
	case strings.Contains(err.Error(), "control character"):
		return "it holds a control character"
	case strings.Contains(err.Error(), "port"):
		return "invalid port"
	}
	return "it cannot be parsed"
}

// urlPort returns the port that a request to u connects to: its explicit
// port, or 80 for http and 443 for https.
func urlPort(u *url.URL) uint16 {
	if p := u.Port(); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err == nil {
			return uint16(n)
		}
	}
	if u.Scheme == "http" {
		return 80
	}
	return 443
}

// CheckURL checks a channel URL when it is saved: its form (ParseURL), then
// its host and port against the network policy, the same that plan targets
// obey (ASTRO_TARGET_ALLOW, ASTRO_TARGET_DENY), with
// netguard.Policy.CheckURLHost. A nil policy is the default policy. It
// never connects to the host; a name that does not resolve now passes, and
// the policy is applied again on every delivery, when dialling. It returns
// nil or a *URLError, whose Blocked field is set when the policy refused
// the host.
func CheckURL(ctx context.Context, policy *netguard.Policy, raw string) error {
	u, err := ParseURL(raw)
	if err != nil {
		return err
	}
	host := u.Hostname()
	if err := policy.CheckURLHost(ctx, host, urlPort(u)); err != nil {
		var blocked *netguard.BlockedError
		if errors.As(err, &blocked) {
			return &URLError{Blocked: blocked}
		}
		return &URLError{Reason: "cannot be checked against the network policy"}
	}
	return nil
}
