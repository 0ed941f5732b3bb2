package netguard_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/netguard"
)

// offlineResolver is a resolver that answers only from the hosts file:
// any DNS query fails, and is counted.
func offlineResolver(queries *int) *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(context.Context, string, string) (net.Conn, error) {
			*queries++
			return nil, errors.New("no DNS in this test")
		},
	}
}

func TestCheckURLHost(t *testing.T) {
	t.Parallel()
	defaults, err := netguard.ParsePolicy("", "")
	require.NoError(t, err)
	denyLoopback, err := netguard.ParsePolicy("", "127.0.0.0/8, ::1/128")
	require.NoError(t, err)
	denyNames, err := netguard.ParsePolicy("", "localhost, hooks.example.com, *.corp.example, 10.0.0.0/8")
	require.NoError(t, err)
	portOnly, err := netguard.ParsePolicy("", "127.0.0.1:9")
	require.NoError(t, err)

	tests := []struct {
		name   string
		policy *netguard.Policy
		host   string
		port   uint16
		// want is the expected error text, or "" if allowed.
		want string
		// dns says whether the check may ask a DNS server.
		dns bool
	}{
		{name: "LiteralAllowed", policy: defaults, host: "127.0.0.1", port: 80},
		{name: "LiteralDenied", policy: denyLoopback, host: "127.0.0.1", port: 80, want: "destination 127.0.0.1 is denied by 127.0.0.0/8"},
		{name: "IPv6LiteralInBrackets", policy: denyLoopback, host: "[::1]", port: 443, want: "destination ::1 is denied by ::1/128"},
		{name: "MappedLiteral", policy: denyLoopback, host: "::ffff:127.0.0.1", port: 80, want: "destination 127.0.0.1 is denied by 127.0.0.0/8"},
		{name: "BuiltinMetadata", policy: defaults, host: "169.254.169.254", port: 80, want: "denied by 169.254.0.0/16 (link-local default)"},
		{name: "PrivateLiteralDecidedWithoutDialing", policy: denyNames, host: "10.0.0.1", port: 443, want: "destination 10.0.0.1 is denied by 10.0.0.0/8"},
		{name: "PortRule", policy: portOnly, host: "127.0.0.1", port: 9, want: "denied by 127.0.0.1:9"},
		{name: "PortRuleOtherPort", policy: portOnly, host: "127.0.0.1", port: 10},
		{name: "DeniedNameBeforeResolution", policy: denyNames, host: "hooks.example.com", port: 443, want: "destination hooks.example.com is denied by hooks.example.com"},
		{name: "DeniedWildcardBeforeResolution", policy: denyNames, host: "Hooks.Corp.Example.", port: 443, want: "destination hooks.corp.example is denied by *.corp.example"},
		{name: "DeniedLocalhostName", policy: denyNames, host: "localhost", port: 80, want: "destination localhost is denied by localhost"},
		{name: "ResolvedAddressDenied", policy: denyLoopback, host: "localhost", port: 80, want: "destination localhost (", dns: true},
		{name: "ResolvedAddressAllowed", policy: defaults, host: "localhost", port: 80, dns: true},
		{name: "UnresolvableNameIsAllowed", policy: denyLoopback, host: "nowhere.example", port: 443, dns: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			queries := 0
			err := tt.policy.CheckURLHostWith(context.Background(), offlineResolver(&queries), tt.host, tt.port)
			if !tt.dns {
				assert.Zero(t, queries, "decided without DNS")
			}
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			var blocked *netguard.BlockedError
			require.ErrorAs(t, err, &blocked)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

// TestCheckURLHostResolvesWithTheDefaultResolver checks the exported
// method on localhost, which the hosts file resolves.
func TestCheckURLHostResolvesWithTheDefaultResolver(t *testing.T) {
	t.Parallel()
	p, err := netguard.ParsePolicy("", "127.0.0.0/8, ::1/128")
	require.NoError(t, err)
	err = p.CheckURLHost(context.Background(), "localhost", 8080)
	var blocked *netguard.BlockedError
	require.ErrorAs(t, err, &blocked)
	assert.Equal(t, "localhost", blocked.Host)
	assert.True(t, blocked.IP.IsLoopback())
	require.ErrorAs(t, p.CheckURLHost(context.Background(), "127.0.0.2", 8080), &blocked)
	assert.Equal(t, netip.MustParseAddr("127.0.0.2"), blocked.IP)

	var none *netguard.Policy // The default policy.
	require.NoError(t, none.CheckURLHost(context.Background(), "localhost", 8080))
}
