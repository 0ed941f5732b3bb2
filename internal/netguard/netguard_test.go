package netguard_test

import (
	"cmp"
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
	allowList, err := netguard.ParsePolicy("203.0.113.0/24, 2001:db8::/32, api.example.com, *.example.org, 0.0.0.0/0, ::/0", "203.0.113.66, bad.example.org")
	require.NoError(t, err)
	onlyListed, err := netguard.ParsePolicy("203.0.113.0/24, 2001:db8::/32, api.example.com, *.example.org", "")
	require.NoError(t, err)
	// Carve-outs: narrower entries win in both directions, and a port
	// makes an entry narrower. 0.0.0.0/0 and ::/0 keep everything else
	// open, as with an empty allow list.
	carve, err := netguard.ParsePolicy(
		"0.0.0.0/0, ::/0, 127.0.0.1:18080, [::1]:18080, 10.1.0.0/16, 10.1.2.3:5432, ok.corp.example, *.dev.corp.example",
		"127.0.0.0/8, ::1/128, 10.0.0.0/8, 10.1.2.0/24, 10.1.2.3:22, *.corp.example, x.dev.corp.example")
	require.NoError(t, err)
	// Built-in entries are lifted only by an entry at least as long.
	lift, err := netguard.ParsePolicy("0.0.0.0, ::, 169.254.0.0/16, fd00:ec2::254, 100.100.100.200:80, 0.0.0.0/0, ::/0", "")
	require.NoError(t, err)
	broadAllow, err := netguard.ParsePolicy("0.0.0.0/0, ::/0, 0.0.0.0/7, 169.254.169.0/24", "")
	require.NoError(t, err)

	tests := []struct {
		name   string
		policy *netguard.Policy
		host   string
		ip     string
		// port defaults to 80.
		port uint16
		// want is the expected error message, or "" if allowed.
		want string
	}{
		// The default policy: the built-in entries denied, everything
		// else allowed.
		{name: "DefaultUnspecifiedIPv4", policy: defaults, ip: "0.0.0.0", want: "destination 0.0.0.0 is denied by 0.0.0.0/8 (unspecified default)"},
		{name: "DefaultThisNetwork", policy: defaults, ip: "0.1.2.3", want: "destination 0.1.2.3 is denied by 0.0.0.0/8 (unspecified default)"},
		{name: "DefaultThisNetworkTop", policy: defaults, ip: "0.255.255.255", want: "0.0.0.0/8 (unspecified default)"},
		{name: "DefaultJustAboveThisNetwork", policy: defaults, ip: "1.0.0.0"},
		{name: "DefaultUnspecifiedIPv6", policy: defaults, ip: "::", want: "destination :: is denied by ::/128 (unspecified default)"},
		{name: "DefaultIPv6JustAboveUnspecified", policy: defaults, ip: "::2"},
		{name: "DefaultMappedUnspecified", policy: defaults, ip: "::ffff:0.0.0.0", want: "destination 0.0.0.0 is denied by 0.0.0.0/8 (unspecified default)"},
		{name: "DefaultMappedThisNetwork", policy: defaults, ip: "::ffff:0.1.2.3", want: "0.0.0.0/8 (unspecified default)"},
		{name: "DefaultUnspecifiedByName", policy: defaults, host: "zero.example", ip: "0.0.0.0", want: "destination zero.example (0.0.0.0) is denied by 0.0.0.0/8 (unspecified default)"},
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
		{name: "DefaultAWSMetadataIPv6", policy: defaults, ip: "fd00:ec2::254", want: "destination fd00:ec2::254 is denied by fd00:ec2::254/128 (cloud metadata default)"},
		{name: "DefaultAWSMetadataIPv6Neighbour", policy: defaults, ip: "fd00:ec2::253"},
		{name: "DefaultAlibabaMetadata", policy: defaults, ip: "100.100.100.200", want: "destination 100.100.100.200 is denied by 100.100.100.200/32 (cloud metadata default)"},
		{name: "DefaultMappedAlibabaMetadata", policy: defaults, ip: "::ffff:100.100.100.200", want: "100.100.100.200/32 (cloud metadata default)"},
		{name: "DefaultAlibabaMetadataNeighbour", policy: defaults, ip: "100.100.100.201"},
		{name: "DefaultLoopback", policy: defaults, ip: "127.0.0.1"},
		{name: "DefaultMappedLoopback", policy: defaults, ip: "::ffff:127.0.0.1"},
		{name: "DefaultIPv6Loopback", policy: defaults, ip: "::1"},
		{name: "DefaultPublic", policy: defaults, host: "example.com", ip: "93.184.216.34"},
		{name: "DefaultInvalidAddress", policy: defaults, host: "example.com", want: "destination example.com has no valid address"},
		{name: "NilPolicyIsDefault", policy: nil, ip: "169.254.169.254", want: "169.254.0.0/16 (link-local default)"},
		{name: "NilPolicyAllowsLoopback", policy: nil, host: "localhost", ip: "127.0.0.1"},
		{name: "NilPolicyDeniesUnspecified", policy: nil, ip: "::", want: "::/128 (unspecified default)"},
		{name: "ZeroPolicyIsDefault", policy: &netguard.Policy{}, ip: "fe80::abcd", want: "fe80::/10 (link-local default)"},

		// A deny list adds to the defaults.
		{name: "DenyStillDeniesLinkLocal", policy: denyPrivate, ip: "169.254.169.254", want: "169.254.0.0/16 (link-local default)"},
		{name: "DenyStillDeniesUnspecified", policy: denyPrivate, ip: "0.0.0.0", want: "0.0.0.0/8 (unspecified default)"},
		{name: "DenyPrefix", policy: denyPrivate, ip: "10.1.2.3", want: "destination 10.1.2.3 is denied by 10.0.0.0/8"},
		{name: "DenyMappedPrivate", policy: denyPrivate, ip: "::ffff:10.1.2.3", want: "denied by 10.0.0.0/8"},
		{name: "DenySecondPrefix", policy: denyPrivate, ip: "192.168.1.1", want: "denied by 192.168.0.0/16"},
		{name: "DenySingleIP", policy: denyPrivate, ip: "127.0.0.1", want: "denied by 127.0.0.1"},
		{name: "DenyMappedSingleIP", policy: denyPrivate, ip: "::ffff:127.0.0.1", want: "destination 127.0.0.1 is denied by 127.0.0.1"},
		{name: "DenySingleIPNeighbourAllowed", policy: denyPrivate, ip: "127.0.0.2"},
		{name: "DenyIPv6ULA", policy: denyPrivate, ip: "fd12::1", want: "denied by fc00::/7"},
		{name: "DenyMetadataInsideULANamesTheBuiltIn", policy: denyPrivate, ip: "fd00:ec2::254", want: "denied by fd00:ec2::254/128 (cloud metadata default)"},
		{name: "DenyMappedPrefixEntry", policy: denyPrivate, ip: "100.64.1.1", want: "denied by ::ffff:100.64.0.0/106"},
		{name: "DenyWildcardHost", policy: denyPrivate, host: "db.internal.example", ip: "198.51.100.7", want: "destination db.internal.example (198.51.100.7) is denied by *.internal.example"},
		{name: "DenyWildcardDeepHost", policy: denyPrivate, host: "a.b.INTERNAL.example.", ip: "198.51.100.7", want: "denied by *.internal.example"},
		{name: "DenyWildcardNotApex", policy: denyPrivate, host: "internal.example", ip: "198.51.100.7"},
		{name: "DenyWildcardNotSuffixTrick", policy: denyPrivate, host: "evilinternal.example", ip: "198.51.100.7"},
		{name: "DenyOtherwiseAllowed", policy: denyPrivate, ip: "8.8.8.8"},

		// An allow list admits only what it matches; the narrower entry
		// wins, and deny wins a tie.
		{name: "AllowPrefix", policy: onlyListed, ip: "203.0.113.10"},
		{name: "AllowIPv6Prefix", policy: onlyListed, ip: "2001:db8::5"},
		{name: "AllowHost", policy: onlyListed, host: "API.example.com", ip: "8.8.8.8"},
		{name: "AllowWildcard", policy: onlyListed, host: "x.example.org", ip: "8.8.4.4"},
		{name: "AllowWildcardNotApex", policy: onlyListed, host: "example.org", ip: "8.8.4.4", want: "destination example.org (8.8.4.4) is not in the allow list"},
		{name: "AllowMissing", policy: onlyListed, ip: "198.51.100.1", want: "destination 198.51.100.1 is not in the allow list"},
		{name: "AllowMissingIPv6", policy: onlyListed, ip: "2001:db9::1", want: "is not in the allow list"},
		{name: "AllowHostDoesNotMatchIPLiteral", policy: onlyListed, host: "8.8.8.8", ip: "8.8.8.8", want: "not in the allow list"},
		{name: "AllowListStillDeniesUnspecified", policy: onlyListed, host: "api.example.com", ip: "0.0.0.0", want: "destination api.example.com (0.0.0.0) is denied by 0.0.0.0/8 (unspecified default)"},
		{name: "AllowNarrowerDenyWinsIP", policy: allowList, ip: "203.0.113.66", want: "denied by 203.0.113.66"},
		{name: "AllowNarrowerDenyWinsHost", policy: allowList, host: "bad.example.org", ip: "8.8.4.4", want: "denied by bad.example.org"},
		{name: "AllowEverythingElse", policy: allowList, ip: "198.51.100.1"},
		{name: "AllowedHostResolvingToMetadata", policy: allowList, host: "api.example.com", ip: "169.254.169.254", want: "destination api.example.com (169.254.169.254) is denied by 169.254.0.0/16 (link-local default)"},

		// Carve-outs.
		{name: "CarveLoopbackPort", policy: carve, ip: "127.0.0.1", port: 18080},
		{name: "CarveMappedLoopbackPort", policy: carve, ip: "::ffff:127.0.0.1", port: 18080},
		{name: "CarveLoopbackOtherPort", policy: carve, ip: "127.0.0.1", port: 18081, want: "destination 127.0.0.1 is denied by 127.0.0.0/8"},
		{name: "CarveLoopbackOtherAddress", policy: carve, ip: "127.0.0.2", port: 18080, want: "denied by 127.0.0.0/8"},
		{name: "CarveIPv6LoopbackPort", policy: carve, ip: "::1", port: 18080},
		{name: "CarveIPv6LoopbackOtherPort", policy: carve, ip: "::1", port: 80, want: "denied by ::1/128"},
		{name: "CarveUnspecifiedNotLiftedByLoopbackPort", policy: carve, ip: "0.0.0.0", port: 18080, want: "denied by 0.0.0.0/8 (unspecified default)"},
		{name: "CarveAllowInsideDeny", policy: carve, ip: "10.1.9.9"},
		{name: "CarveDenyInsideAllow", policy: carve, ip: "10.1.2.4", want: "denied by 10.1.2.0/24"},
		{name: "CarvePortAllowInsideDeny", policy: carve, ip: "10.1.2.3", port: 5432},
		{name: "CarvePortDenyInsideAllow", policy: carve, ip: "10.1.2.3", port: 22, want: "denied by 10.1.2.3:22"},
		{name: "CarveOuterDeny", policy: carve, ip: "10.2.0.1", want: "denied by 10.0.0.0/8"},
		{name: "CarvePublic", policy: carve, ip: "8.8.8.8"},
		{name: "CarveExactHostInsideWildcardDeny", policy: carve, host: "ok.corp.example", ip: "8.8.8.8"},
		{name: "CarveWildcardDeny", policy: carve, host: "db.corp.example", ip: "8.8.8.8", want: "denied by *.corp.example"},
		{name: "CarveLongerWildcardAllow", policy: carve, host: "a.dev.corp.example", ip: "8.8.8.8"},
		{name: "CarveExactDenyInsideWildcardAllow", policy: carve, host: "x.dev.corp.example", ip: "8.8.8.8", want: "denied by x.dev.corp.example"},
		{name: "CarveAllowedHostOnDeniedAddress", policy: carve, host: "ok.corp.example", ip: "10.2.0.1", want: "destination ok.corp.example (10.2.0.1) is denied by 10.0.0.0/8"},
		{name: "CarveAllowedAddressWithDeniedHost", policy: carve, host: "db.corp.example", ip: "10.1.9.9", want: "denied by *.corp.example"},

		// Lifting built-in entries.
		{name: "LiftUnspecifiedIPv4", policy: lift, ip: "0.0.0.0"},
		{name: "LiftUnspecifiedIPv4OnlyThatAddress", policy: lift, ip: "0.1.2.3", want: "0.0.0.0/8 (unspecified default)"},
		{name: "LiftUnspecifiedIPv6", policy: lift, ip: "::"},
		{name: "LiftMappedUnspecified", policy: lift, ip: "::ffff:0.0.0.0"},
		{name: "LiftLinkLocalByEqualEntry", policy: lift, ip: "169.254.169.254"},
		{name: "LiftAWSMetadataIPv6", policy: lift, ip: "fd00:ec2::254"},
		{name: "LiftAlibabaMetadataOnPort", policy: lift, ip: "100.100.100.200", port: 80},
		{name: "LiftAlibabaMetadataOtherPort", policy: lift, ip: "100.100.100.200", port: 443, want: "100.100.100.200/32 (cloud metadata default)"},
		{name: "LiftIPv6LinkLocalNotListed", policy: lift, ip: "fe80::1", want: "fe80::/10 (link-local default)"},
		{name: "BroadAllowKeepsUnspecified", policy: broadAllow, ip: "0.0.0.0", want: "0.0.0.0/8 (unspecified default)"},
		{name: "BroadAllowKeepsIPv6Unspecified", policy: broadAllow, ip: "::", want: "::/128 (unspecified default)"},
		{name: "BroadAllowKeepsLinkLocal", policy: broadAllow, ip: "169.254.1.1", want: "169.254.0.0/16 (link-local default)"},
		{name: "BroadAllowKeepsAWSMetadata", policy: broadAllow, ip: "fd00:ec2::254", want: "fd00:ec2::254/128 (cloud metadata default)"},
		{name: "BroadAllowKeepsAlibabaMetadata", policy: broadAllow, ip: "100.100.100.200", want: "100.100.100.200/32 (cloud metadata default)"},
		{name: "NarrowerAllowLiftsPartOfLinkLocal", policy: broadAllow, ip: "169.254.169.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var ip netip.Addr
			if tt.ip != "" {
				ip = netip.MustParseAddr(tt.ip)
			}
			port := cmp.Or(tt.port, 80)
			err := tt.policy.Check(tt.host, netip.AddrPortFrom(ip, port))
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
		{name: "URLNotHost", allow: "https://example.com", want: `invalid entry "https://example.com": want an address, CIDR or host name, not a URL`},
		{name: "Space", allow: "exa mple.com", want: `invalid host pattern "exa mple.com"`},
		{name: "BareWildcard", deny: "*", want: `invalid host pattern "*"`},
		{name: "WildcardInMiddle", deny: "a.*.example.com", want: `invalid host pattern "a.*.example.com"`},
		{name: "EmptyLabel", allow: "a..b", want: `invalid host pattern "a..b"`},
		{name: "PortZero", allow: "127.0.0.1:0", want: `invalid port in "127.0.0.1:0": want 1 to 65535`},
		{name: "PortTooBig", allow: "example.com:65536", want: `invalid port in "example.com:65536"`},
		{name: "PortNotNumber", deny: "example.com:http", want: `invalid port in "example.com:http"`},
		{name: "PortEmpty", deny: "10.0.0.1:", want: `invalid port in "10.0.0.1:"`},
		{name: "BracketsUnclosed", allow: "[::1:80", want: `invalid entry "[::1:80": missing ]`},
		{name: "BracketsNoColon", allow: "[::1]80", want: `invalid entry "[::1]80": want [IPv6]:port`},
		{name: "BracketsForIPv4", allow: "[127.0.0.1]:80", want: `invalid entry "[127.0.0.1]:80": brackets are only for IPv6 addresses`},
		{name: "BracketsForHost", deny: "[example.com]", want: `brackets are only for IPv6 addresses`},
		{name: "BracketedBadIPv6", deny: "[::g]:80", want: `invalid IP address "[::g]:80"`},
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

func TestParsePolicyPortEntries(t *testing.T) {
	t.Parallel()
	p, err := netguard.ParsePolicy("127.0.0.1:18080, [::1]:18080, 10.0.0.0/8:5432, [fd12::/16]:8443, api.example.com:443, *.example.org:8080, [::2]", "")
	require.NoError(t, err)
	tests := []struct {
		host string
		dest string
		want bool
	}{
		{dest: "127.0.0.1:18080", want: true},
		{dest: "127.0.0.1:18081"},
		{dest: "[::1]:18080", want: true},
		{dest: "[::1]:18081"},
		{dest: "10.9.9.9:5432", want: true},
		{dest: "10.9.9.9:5433"},
		{dest: "[fd12::1]:8443", want: true},
		{dest: "[fd12::1]:443"},
		{dest: "[::2]:1", want: true},
		{host: "api.example.com", dest: "8.8.8.8:443", want: true},
		{host: "api.example.com", dest: "8.8.8.8:80"},
		{host: "a.example.org", dest: "8.8.8.8:8080", want: true},
		{host: "a.example.org", dest: "8.8.8.8:80"},
	}
	for _, tt := range tests {
		err := p.Check(tt.host, netip.MustParseAddrPort(tt.dest))
		if tt.want {
			require.NoError(t, err, "%s %s", tt.host, tt.dest)
		} else {
			require.Error(t, err, "%s %s", tt.host, tt.dest)
		}
	}
}

func TestParsePolicyIgnoresBlankEntries(t *testing.T) {
	t.Parallel()
	p, err := netguard.ParsePolicy(" , example.com ,, ", ",")
	require.NoError(t, err)
	require.NoError(t, p.Check("example.com", netip.MustParseAddrPort("192.0.2.1:80")))
	require.Error(t, p.Check("other.com", netip.MustParseAddrPort("192.0.2.1:80")))
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
