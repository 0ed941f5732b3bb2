package planrun

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/netguard"
	"github.com/astro-runner/astro-runner/internal/plan"
)

// TestDescribeErrorHidesLocalAddresses checks that step errors name the
// target but never the machine's resolver or local socket address. The
// errors are built by hand: no DNS query or connection is made.
func TestDescribeErrorHidesLocalAddresses(t *testing.T) {
	t.Parallel()
	const resolver = "10.1.2.3:53"
	const local = "10.0.0.5"
	dnsErr := func(text string, notFound, timeout, temporary bool) error {
		return &net.DNSError{
			Err: text, Name: "api.example.com", Server: resolver,
			IsNotFound: notFound, IsTimeout: timeout, IsTemporary: temporary,
		}
	}
	// asTransport wraps err the way http.Client returns a dial error from
	// netguard's DialContext.
	asTransport := func(err error) error {
		return &url.Error{Op: "Get", URL: "http://api.example.com/?token=s3cret", Err: err}
	}
	target := &net.TCPAddr{IP: net.IPv4(203, 0, 113, 9), Port: 443}
	source := &net.TCPAddr{IP: net.ParseIP(local), Port: 41234}
	reset := os.NewSyscallError("read", syscall.ECONNRESET)

	tests := []struct {
		name string
		err  error
		want string
	}{
		{
			name: "DNSNotFound",
			err:  asTransport(fmt.Errorf("resolve api.example.com: %w", dnsErr("no such host", true, false, false))),
			want: "DNS lookup of api.example.com failed: no such host",
		},
		{
			name: "DNSTimeout",
			err:  asTransport(fmt.Errorf("resolve api.example.com: %w", dnsErr("read udp "+local+":5353->"+resolver+": i/o timeout", false, true, true))),
			want: "DNS lookup of api.example.com failed: timed out",
		},
		{
			name: "DNSTemporary",
			err:  asTransport(dnsErr("server misbehaving", false, false, true)),
			want: "DNS lookup of api.example.com failed: temporary failure",
		},
		{
			name: "DNSOther",
			err:  asTransport(dnsErr("unexpected answer from "+resolver, false, false, false)),
			want: "DNS lookup of api.example.com failed",
		},
		{
			name: "DNSInsideDialOpError",
			err:  asTransport(&net.OpError{Op: "dial", Net: "tcp", Err: dnsErr("no such host", true, false, false)}),
			want: "DNS lookup of api.example.com failed: no such host",
		},
		{
			name: "ReadNamesTargetOnly",
			err:  asTransport(&net.OpError{Op: "read", Net: "tcp", Source: source, Addr: target, Err: reset}),
			want: "read tcp 203.0.113.9:443: read: connection reset by peer",
		},
		{
			name: "WrappedReadKeepsContext",
			err:  fmt.Errorf("http2: client connection lost: %w", &net.OpError{Op: "read", Net: "tcp", Source: source, Addr: target, Err: reset}),
			want: "http2: client connection lost: read tcp 203.0.113.9:443: read: connection reset by peer",
		},
		{
			name: "DialUnchanged",
			err: asTransport(&net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1},
				Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}),
			want: "dial tcp 127.0.0.1:1: connect: connection refused",
		},
		{
			name: "Blocked",
			err:  asTransport(&netguard.BlockedError{IP: netip.MustParseAddr("0.0.0.0"), Rule: "0.0.0.0/8 (unspecified default)"}),
			want: "blocked by network policy: destination 0.0.0.0 is denied by 0.0.0.0/8 (unspecified default)",
		},
		{
			name: "OtherDropsURL",
			err:  asTransport(errors.New("tls: handshake failure")),
			want: "tls: handshake failure",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := describeError(context.Background(), context.Background(), &plan.Step{}, tt.err)
			require.Equal(t, tt.want, got)
			require.NotContains(t, got, "10.1.2.3")
			require.NotContains(t, got, local)
			require.NotContains(t, got, "s3cret")
		})
	}
}
