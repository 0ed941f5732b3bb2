package netguard

import (
	"context"
	"net"
)

// CheckURLHostWith is CheckURLHost with the resolver to use, for tests that
// must not reach a real DNS server.
func (p *Policy) CheckURLHostWith(ctx context.Context, resolver *net.Resolver, host string, port uint16) error {
	return p.checkURLHost(ctx, resolver, host, port)
}
