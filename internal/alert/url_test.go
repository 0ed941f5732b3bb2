package alert_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/alert"
	"github.com/astro-runner/astro-runner/internal/netguard"
)

func TestParseURLRefusesBadForms(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, raw, want string
	}{
		{"Relative", "/hook", "must be an absolute URL"},
		{"NoScheme", "hooks.example.com/x", "must be an absolute URL"},
		{"FTP", "ftp://127.0.0.1/x", "must use http or https"},
		{"Mailto", "mailto:ops@example.com", "must use http or https"},
		{"Opaque", "https:127.0.0.1/x", "must be an absolute URL with //"},
		{"NoHost", "https:///x", "must name a host"},
		{"PortOnly", "http://:8080/x", "must name a host"},
		{"UserInfo", "https://user:pw@127.0.0.1/x", "must not carry a user name or password"},
		{"UserOnly", "https://user@127.0.0.1/x", "must not carry a user name or password"},
		{"BadPort", "http://127.0.0.1:99999/x", "invalid port"},
		{"ZeroPort", "http://127.0.0.1:0/x", "invalid port"},
		{"LetterPort", "http://127.0.0.1:abc/x", "is not a valid URL"},
		{"ControlCharacter", "http://127.0.0.1/x\r\nHost: evil", "control character"},
		{"BadEscape", "http://127.0.0.1/%zz", "invalid percent-encoding"},
		{"Space", "http://a b/x", "is not a valid URL"},
		{"TooLong", "http://127.0.0.1/" + strings.Repeat("a", alert.MaxURLBytes), "at most 2048 bytes"},
		// net/http would dial these as 127.0.0.1 (IDNA maps fullwidth and
		// circled digits, and the ideographic full stop).
		{"FullwidthDigits", "http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/x", "must have an ASCII host name"},
		{"IdeographicFullStop", "http://127\u30020\u30020\u30021/x", "must have an ASCII host name"},
		{"EscapedCircledDigits", "http://%E2%91%A0%E2%91%A1%E2%91%A6.0.0.1/x", "must have an ASCII host name"},
		{"UnicodeName", "https://b\u00fccher.example/x", "must have an ASCII host name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := alert.ParseURL(tt.raw)
			var ue *alert.URLError
			require.ErrorAs(t, err, &ue)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "127.0.0.1", "the URL is not quoted")
			assert.Nil(t, ue.Blocked)
		})
	}
}

func TestParseURLAcceptsHTTPAndHTTPS(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{
		"http://127.0.0.1/hook",
		"https://127.0.0.1:8443/services/T0/B0/abc?x=1#f",
		"http://[::1]:9/x",
		"https://hooks.example.com",
		"https://xn--bcher-kva.example/b%C3%BCcher?q=%C3%A9", // an IDN in its ASCII form; the path may be anything
		"http://127.0.0.1/" + strings.Repeat("a", alert.MaxURLBytes-len("http://127.0.0.1/")),
	} {
		u, err := alert.ParseURL(raw)
		require.NoError(t, err, raw)
		assert.NotEmpty(t, u.Hostname())
	}
}

func TestCheckURLAppliesTheNetworkPolicy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	denyLoopback, err := netguard.ParsePolicy("", "127.0.0.0/8, ::1/128")
	require.NoError(t, err)
	denyPort, err := netguard.ParsePolicy("", "127.0.0.1:443")
	require.NoError(t, err)
	denyName, err := netguard.ParsePolicy("", "localhost")
	require.NoError(t, err)

	tests := []struct {
		name   string
		policy *netguard.Policy
		raw    string
		want   string // "" means allowed
	}{
		{"DefaultPolicyAllowsLoopback", nil, "http://127.0.0.1:9/hook", ""},
		{"DefaultPolicyDeniesMetadata", nil, "http://169.254.169.254/latest", "denied by 169.254.0.0/16 (link-local default)"},
		{"DeniedLiteral", denyLoopback, "http://127.0.0.1:9/hook", "destination 127.0.0.1 is denied by 127.0.0.0/8"},
		{"DeniedIPv6Literal", denyLoopback, "http://[::1]:9/hook", "destination ::1 is denied by ::1/128"},
		{"DeniedAfterResolution", denyLoopback, "http://localhost:9/hook", "destination localhost ("},
		{"DeniedName", denyName, "https://LOCALHOST/hook", "destination localhost is denied by localhost"},
		{"DefaultHTTPSPort", denyPort, "https://127.0.0.1/hook", "denied by 127.0.0.1:443"},
		{"OtherPortPasses", denyPort, "https://127.0.0.1:8443/hook", ""},
		{"HTTPPortIs80", denyPort, "http://127.0.0.1/hook", ""},
		{"BadFormBeforePolicy", denyLoopback, "ftp://127.0.0.1/x", "must use http or https"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := alert.CheckURL(ctx, tt.policy, tt.raw)
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			var ue *alert.URLError
			require.ErrorAs(t, err, &ue)
			assert.Contains(t, err.Error(), tt.want)
			if strings.Contains(tt.want, "denied") {
				require.NotNil(t, ue.Blocked)
				assert.True(t, netguard.IsBlocked(err))
				assert.True(t, strings.HasPrefix(err.Error(), "blocked by the network policy: "), err.Error())
			}
		})
	}
}
