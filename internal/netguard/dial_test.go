package netguard_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/netguard"
)

// newCountingServer starts a server bound to addr (a loopback address with
// port 0) that answers "ok" and counts the requests it serves.
func newCountingServer(t *testing.T, addr string) (port string, calls *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	calls = new(atomic.Int32)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		_, _ = io.WriteString(w, "ok")
	}))
	require.NoError(t, srv.Listener.Close())
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	return u.Port(), calls
}

// TestDialContextBlocksUnspecifiedAddresses dials the unspecified addresses,
// which the kernel connects to the local host, and checks that a policy
// denying loopback also stops them. The servers listen on loopback only,
// so nothing leaves the machine.
func TestDialContextBlocksUnspecifiedAddresses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		listen string
		host   string
	}{
		{name: "IPv4", listen: "127.0.0.1:0", host: "0.0.0.0"},
		{name: "IPv6", listen: "[::1]:0", host: "[::]"},
		{name: "IPv4MappedIPv6", listen: "127.0.0.1:0", host: "[::ffff:0.0.0.0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			port, calls := newCountingServer(t, tt.listen)
			target := "http://" + tt.host + ":" + port + "/"

			denyLoopback, err := netguard.ParsePolicy("", "127.0.0.0/8, ::1/128")
			require.NoError(t, err)
			_, err = guardedClient(denyLoopback).Get(target)
			require.Error(t, err, "%s reached the loopback server", target)
			require.True(t, netguard.IsBlocked(err), "%s: %v", target, err)
			require.Zero(t, calls.Load())

			// The same URL with the unspecified addresses explicitly
			// allowed reaches the server: the address is what was blocked.
			allowUnspecified, err := netguard.ParsePolicy("0.0.0.0, ::", "")
			require.NoError(t, err)
			resp, err := guardedClient(allowUnspecified).Get(target)
			require.NoError(t, err, target)
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, resp.Body.Close())
			require.NoError(t, err)
			require.Equal(t, "ok", string(body))
			require.EqualValues(t, 1, calls.Load())
		})
	}
}

// TestDialContextCarvesPortOutOfDeniedRange allows one loopback port while
// the rest of loopback stays denied.
func TestDialContextCarvesPortOutOfDeniedRange(t *testing.T) {
	t.Parallel()
	openPort, openCalls := newCountingServer(t, "127.0.0.1:0")
	closedPort, closedCalls := newCountingServer(t, "127.0.0.1:0")

	p, err := netguard.ParsePolicy("0.0.0.0/0, ::/0, 127.0.0.1:"+openPort, "127.0.0.0/8, ::1/128")
	require.NoError(t, err)
	client := guardedClient(p)

	resp, err := client.Get("http://127.0.0.1:" + openPort + "/")
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.EqualValues(t, 1, openCalls.Load())

	_, err = client.Get("http://127.0.0.1:" + closedPort + "/")
	require.ErrorContains(t, err, "destination 127.0.0.1 is denied by 127.0.0.0/8")
	// The carve-out names 127.0.0.1, so 0.0.0.0 on the same port stays
	// denied by the built-in entry.
	_, err = client.Get("http://0.0.0.0:" + openPort + "/")
	require.ErrorContains(t, err, "destination 0.0.0.0 is denied by 0.0.0.0/8 (unspecified default)")
	require.Zero(t, closedCalls.Load())
	require.EqualValues(t, 1, openCalls.Load())
}
