package netguard_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/netguard"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	defaults, err := netguard.ParsePolicy("", "")
	require.NoError(t, err)
	denyPrivate, err := netguard.ParsePolicy("", "10.0.0.0/8, 192.168.0.0/16,fc00::/7, 127.0.0.1, *.internal.example, ::ffff:100.64.0.0/106")
	require.NoError(t, err)
	allowList, err := netguard.ParsePolicy("203.0.113.0/24, 2001:db8::/32, api.example.com, *.example.org, 169.254.0.0/16", "203.0.113.66, bad.example.org")
	require.NoError(t, err)

	tests := []struct {
		name   string
		policy *netguard.Policy
		host   string
		ip     string
		// want is the expected error message, or "" if allowed.
		want string
	}{
		// The default policy: link-local denied, everything else allowed.
		{name: "DefaultMetadata", policy: defaults, ip: "169.254.169.254", want: "destination 169.254.169.254 is denied by 169.254.0.0/16 (link-local default)"},
		{name: "DefaultMetadataByName", policy: defaults, host: "metadata.google.internal", ip: "169.254.169.254", want: "destination metadata.google.internal (169.254.169.254) is denied by 169.254.0.0/16 (link-local default)"},
		{name: "DefaultLinkLocalLow", policy: defaults, ip: "169.254.0.0", want: "169.254.0.0/16 (link-local default)"},
		{name: "DefaultLinkLocalHigh", policy: defaults, ip: "169.254.255.255", want: "169.254.0.0/16 (link-local default)"},
		{name: "DefaultJustBelowLinkLocal", policy: defaults, ip: "169.253.255.255"},
		{name: "DefaultJustAboveLinkLocal", policy: defaults, ip: "169.255.0.0"},
		{name: "DefaultMappedMetadata", policy: defaults, ip: "::ffff:169.254.169.254", want: "destination 169.254.169.254 is denied by 169.254.0.0/16 (link-local default)"},
		{name: "DefaultMappedMetadataHex", policy: defaults, ip: "::ffff:a9fe:a9fe", want: "169.254.0.0/16 (link-local default)"},
		{name: "DefaultIPv6LinkLocal", policy: defaults, ip: "fe80::1", want: "destination fe80::1 is denied by fe80::/10 (link-local default)"},
		{name: "DefaultIPv6LinkLocalWithZone", policy: defaults, ip: "fe80::1%eth0", want: "fe80::/10 (link-local default)"},
		{name: "DefaultIPv6LinkLocalTop", policy: defaults, ip: "febf:ffff::1", want: "fe80::/10 (link-local default)"},
		{name: "DefaultIPv6AboveLinkLocal", policy: defaults, ip: "fec0::1"},
		{name: "DefaultLoopback", policy: defaults, ip: "127.0.0.1"},
		{name: "DefaultIPv6Loopback", policy: defaults, ip: "::1"},
		{name: "DefaultPublic", policy: defaults, host: "example.com", ip: "93.184.216.34"},
		{name: "DefaultInvalidAddress", policy: defaults, host: "example.com", want: "destination example.com has no valid address"},
		{name: "NilPolicyIsDefault", policy: nil, ip: "169.254.169.254", want: "169.254.0.0/16 (link-local default)"},
		{name: "ZeroPolicyIsDefault", policy: &netguard.Policy{}, ip: "fe80::abcd", want: "fe80::/10 (link-local default)"},

		// A deny list adds to the defaults.
		{name: "DenyStillDeniesLinkLocal", policy: denyPrivate, ip: "169.254.169.254", want: "169.254.0.0/16 (link-local default)"},
		{name: "DenyPrefix", policy: denyPrivate, ip: "10.1.2.3", want: "destination 10.1.2.3 is denied by 10.0.0.0/8"},
		{name: "DenyMappedPrivate", policy: denyPrivate, ip: "::ffff:10.1.2.3", want: "denied by 10.0.0.0/8"},
		{name: "DenySecondPrefix", policy: denyPrivate, ip: "192.168.1.1", want: "denied by 192.168.0.0/16"},
		{name: "DenySingleIP", policy: denyPrivate, ip: "127.0.0.1", want: "denied by 127.0.0.1"},
		{name: "DenySingleIPNeighbourAllowed", policy: denyPrivate, ip: "127.0.0.2"},
		{name: "DenyIPv6ULA", policy: denyPrivate, ip: "fd00:ec2::254", want: "denied by fc00::/7"},
		{name: "DenyMappedPrefixEntry", policy: denyPrivate, ip: "100.64.1.1", want: "denied by ::ffff:100.64.0.0/106"},
		{name: "DenyWildcardHost", policy: denyPrivate, host: "db.internal.example", ip: "198.51.100.7", want: "destination db.internal.example (198.51.100.7) is denied by *.internal.example"},
		{name: "DenyWildcardDeepHost", policy: denyPrivate, host: "a.b.INTERNAL.example.", ip: "198.51.100.7", want: "denied by *.internal.example"},
		{name: "DenyWildcardNotApex", policy: denyPrivate, host: "internal.example", ip: "198.51.100.7"},
		{name: "DenyWildcardNotSuffixTrick", policy: denyPrivate, host: "evilinternal.example", ip: "198.51.100.7"},
		{name: "DenyOtherwiseAllowed", policy: denyPrivate, ip: "8.8.8.8"},

		// An allow list admits only what it matches; deny wins.
		{name: "AllowPrefix", policy: allowList, ip: "203.0.113.10"},
		{name: "AllowIPv6Prefix", policy: allowList, ip: "2001:db8::5"},
		{name: "AllowHost", policy: allowList, host: "API.example.com", ip: "8.8.8.8"},
		{name: "AllowWildcard", policy: allowList, host: "x.example.org", ip: "8.8.4.4"},
		{name: "AllowWildcardNotApex", policy: allowList, host: "example.org", ip: "8.8.4.4", want: "destination example.org (8.8.4.4) is not in the allow list"},
		{name: "AllowMissing", policy: allowList, ip: "198.51.100.1", want: "destination 198.51.100.1 is not in the allow list"},
		{name: "AllowMissingIPv6", policy: allowList, ip: "2001:db9::1", want: "is not in the allow list"},
		{name: "AllowDenyWinsIP", policy: allowList, ip: "203.0.113.66", want: "denied by 203.0.113.66"},
		{name: "AllowDenyWinsHost", policy: allowList, host: "bad.example.org", ip: "8.8.4.4", want: "denied by bad.example.org"},
		{name: "AllowCannotOverrideLinkLocal", policy: allowList, ip: "169.254.169.254", want: "169.254.0.0/16 (link-local default)"},
		{name: "AllowedHostResolvingToMetadata", policy: allowList, host: "api.example.com", ip: "169.254.169.254", want: "destination api.example.com (169.254.169.254) is denied by 169.254.0.0/16 (link-local default)"},
		{name: "AllowHostDoesNotMatchIPLiteral", policy: allowList, host: "8.8.8.8", ip: "8.8.8.8", want: "not in the allow list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var ip netip.Addr
			if tt.ip != "" {
				ip = netip.MustParseAddr(tt.ip)
			}
			err := tt.policy.Check(tt.host, ip)
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			var blocked *netguard.BlockedError
			require.ErrorAs(t, err, &blocked)
			require.Contains(t, err.Error(), tt.want)
			require.True(t, netguard.IsBlocked(err))
		})
	}
}

func TestParsePolicyErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		allow string
		deny  string
		want  string
	}{
		{name: "BadCIDR", allow: "10.0.0.0/33", want: `parse allow list: invalid CIDR "10.0.0.0/33"`},
		{name: "BadCIDRAddress", deny: "10.0.0/8", want: `parse deny list: invalid CIDR "10.0.0/8"`},
		{name: "BadIPv4", deny: "10.0.0.256", want: `parse deny list: invalid IP address "10.0.0.256"`},
		{name: "BadIPv6", allow: "2001:db8:::1", want: `invalid IP address "2001:db8:::1"`},
		{name: "Zone", deny: "fe80::1%eth0", want: `invalid IP address "fe80::1%eth0": zones are not supported`},
		{name: "URLNotHost", allow: "https://example.com", want: `invalid CIDR "https://example.com"`},
		{name: "Space", allow: "exa mple.com", want: `invalid host pattern "exa mple.com"`},
		{name: "BareWildcard", deny: "*", want: `invalid host pattern "*"`},
		{name: "WildcardInMiddle", deny: "a.*.example.com", want: `invalid host pattern "a.*.example.com"`},
		{name: "EmptyLabel", allow: "a..b", want: `invalid host pattern "a..b"`},
		{name: "HostWithPort", allow: "example.com:443", want: `invalid IP address "example.com:443"`},
		{name: "SecondEntryNamed", allow: "example.com, bad_entry!", want: `invalid host pattern "bad_entry!"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := netguard.ParsePolicy(tt.allow, tt.deny)
			require.Nil(t, p)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestParsePolicyIgnoresBlankEntries(t *testing.T) {
	t.Parallel()
	p, err := netguard.ParsePolicy(" , example.com ,, ", ",")
	require.NoError(t, err)
	require.NoError(t, p.Check("example.com", netip.MustParseAddr("192.0.2.1")))
	require.Error(t, p.Check("other.com", netip.MustParseAddr("192.0.2.1")))
}

// newLoopbackServer starts a server on 127.0.0.1 that answers "ok".
func newLoopbackServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv
}

// guardedClient returns a client that dials through the policy.
func guardedClient(p *netguard.Policy) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:       nil,
		DialContext: p.DialContext(&net.Dialer{}),
	}}
}

func TestDialContextBlocksAfterResolution(t *testing.T) {
	t.Parallel()
	srv := newLoopbackServer(t)
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)

	p, err := netguard.ParsePolicy("", "127.0.0.0/8, ::1/128")
	require.NoError(t, err)
	client := guardedClient(p)

	// By name: the name itself is not denied, so the decision is made on the
	// addresses "localhost" resolves to.
	_, err = client.Get("http://localhost:" + u.Port() + "/")
	var blocked *netguard.BlockedError
	require.ErrorAs(t, err, &blocked)
	require.Equal(t, "localhost", blocked.Host)
	require.True(t, blocked.IP.IsLoopback(), "checked address %s", blocked.IP)

	// By address.
	_, err = client.Get(srv.URL)
	require.ErrorAs(t, err, &blocked)
	require.Equal(t, netip.MustParseAddr("127.0.0.1"), blocked.IP)
	require.Contains(t, err.Error(), "destination 127.0.0.1 is denied by 127.0.0.0/8")
}

func TestDialContextBlocksDeniedHostNameBeforeResolution(t *testing.T) {
	t.Parallel()
	srv := newLoopbackServer(t)
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)

	p, err := netguard.ParsePolicy("", "localhost")
	require.NoError(t, err)
	resolver := &net.Resolver{
		PreferGo: true,
		Dial: func(context.Context, string, string) (net.Conn, error) {
			return nil, errors.New("the resolver must not be used")
		},
	}
	dial := p.DialContext(&net.Dialer{Resolver: resolver})
	_, err = dial(context.Background(), "tcp", net.JoinHostPort("localhost", u.Port()))
	var blocked *netguard.BlockedError
	require.ErrorAs(t, err, &blocked)
	require.Equal(t, "destination localhost is denied by localhost", err.Error())
}

func TestDialContextAllowsPermittedDestination(t *testing.T) {
	t.Parallel()
	srv := newLoopbackServer(t)
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)

	p, err := netguard.ParsePolicy("127.0.0.1, localhost", "")
	require.NoError(t, err)
	client := guardedClient(p)
	for _, target := range []string{srv.URL, "http://localhost:" + u.Port() + "/"} {
		resp, err := client.Get(target)
		require.NoError(t, err, target)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, resp.Body.Close())
		require.NoError(t, err)
		require.Equal(t, "ok", string(body))
	}
}

func TestDialContextChecksTheDialledAddress(t *testing.T) {
	t.Parallel()
	srv := newLoopbackServer(t)
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)

	// The allow list admits the name but not its addresses: a connection
	// by name passes because the host matches, while the same address by
	// literal does not.
	p, err := netguard.ParsePolicy("localhost", "")
	require.NoError(t, err)
	var controlled []string
	d := &net.Dialer{Control: func(_, address string, _ syscall.RawConn) error {
		controlled = append(controlled, address)
		return nil
	}}
	dial := p.DialContext(d)
	conn, err := dial(context.Background(), "tcp4", net.JoinHostPort("localhost", u.Port()))
	require.NoError(t, err)
	require.NoError(t, conn.Close())
	require.Equal(t, []string{"127.0.0.1:" + u.Port()}, controlled, "the dialer's own Control hook still runs")

	_, err = dial(context.Background(), "tcp4", u.Host)
	require.ErrorContains(t, err, "destination 127.0.0.1 is not in the allow list")
}
