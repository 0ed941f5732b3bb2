// Package netguard decides which network destinations test plans may send
// requests to, and enforces the decision when dialling, after DNS
// resolution, on the IP address actually connected to.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
)

// linkLocal lists the prefixes every policy denies. They cover the cloud
// metadata address 169.254.169.254.
var linkLocal = []rule{
	{prefix: netip.MustParsePrefix("169.254.0.0/16"), source: "169.254.0.0/16", note: "link-local default"},
	{prefix: netip.MustParsePrefix("fe80::/10"), source: "fe80::/10", note: "link-local default"},
}

// rule is one entry of an allow or deny list: an address prefix or a host
// pattern.
type rule struct {
	// prefix is valid for address rules.
	prefix netip.Prefix
	// host is a lower-case host name, or a domain when wildcard is set.
	host     string
	wildcard bool
	// source is the entry as written, for messages.
	source string
	// note qualifies built-in rules in messages.
	note string
}

// matches reports whether the rule covers the host name or the address.
func (r *rule) matches(host string, ip netip.Addr) bool {
	if r.prefix.IsValid() {
		return ip.IsValid() && r.prefix.Contains(ip)
	}
	if host == "" {
		return false
	}
	if r.wildcard {
		return strings.HasSuffix(host, "."+r.host)
	}
	return host == r.host
}

// String returns the entry as written, with its note.
func (r *rule) String() string {
	if r.note != "" {
		return r.source + " (" + r.note + ")"
	}
	return r.source
}

// Policy decides which destinations may be dialled. Build one with
// ParsePolicy. The zero value, and a nil *Policy, is the default policy:
// link-local addresses are denied and everything else is allowed.
type Policy struct {
	allow []rule
	// deny holds the configured deny rules; linkLocal is checked as well.
	deny []rule
}

// ParsePolicy builds a policy from comma-separated allow and deny lists. An
// entry is a CIDR prefix ("10.0.0.0/8", "::1/128"), a single IP address, a
// host name ("example.com") or a domain wildcard ("*.example.com", which
// matches subdomains at any depth but not example.com itself). Blank entries
// are ignored.
//
// Link-local addresses (169.254.0.0/16 and fe80::/10) are always denied; the
// deny list adds to them. If the allow list is not empty, only destinations
// whose host name or address matches it are allowed. Deny wins over allow.
// The error names the first entry that cannot be parsed.
func ParsePolicy(allow, deny string) (*Policy, error) {
	allowRules, err := parseRules(allow)
	if err != nil {
		return nil, fmt.Errorf("parse allow list: %w", err)
	}
	denyRules, err := parseRules(deny)
	if err != nil {
		return nil, fmt.Errorf("parse deny list: %w", err)
	}
	return &Policy{allow: allowRules, deny: denyRules}, nil
}

func parseRules(list string) ([]rule, error) {
	var rules []rule
	for entry := range strings.SplitSeq(list, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		r, err := parseRule(entry)
		if err != nil {
			return nil, err
		}
		rules = append(rules, r)
	}
	return rules, nil
}

func parseRule(entry string) (rule, error) {
	if strings.Contains(entry, "/") {
		p, err := netip.ParsePrefix(entry)
		if err != nil {
			return rule{}, fmt.Errorf("invalid CIDR %q: %w", entry, err)
		}
		return rule{prefix: unmapPrefix(p.Masked()), source: entry}, nil
	}
	if strings.Contains(entry, ":") || isIPv4Literal(entry) {
		ip, err := netip.ParseAddr(entry)
		if err != nil {
			return rule{}, fmt.Errorf("invalid IP address %q: %w", entry, err)
		}
		if ip.Zone() != "" {
			return rule{}, fmt.Errorf("invalid IP address %q: zones are not supported", entry)
		}
		ip = ip.Unmap()
		return rule{prefix: netip.PrefixFrom(ip, ip.BitLen()), source: entry}, nil
	}
	host := strings.ToLower(strings.TrimSuffix(entry, "."))
	wildcard := false
	if rest, ok := strings.CutPrefix(host, "*."); ok {
		host, wildcard = rest, true
	}
	if !validHostName(host) {
		return rule{}, fmt.Errorf("invalid host pattern %q: want a name like example.com or *.example.com", entry)
	}
	return rule{host: host, wildcard: wildcard, source: entry}, nil
}

// isIPv4Literal reports whether s looks like a dotted IPv4 address, so that
// a malformed one is reported as an address rather than as a host name.
func isIPv4Literal(s string) bool {
	return strings.Trim(s, "0123456789.") == "" && strings.Contains(s, ".")
}

// unmapPrefix turns an IPv4-mapped IPv6 prefix into the IPv4 prefix it
// covers, because Check compares unmapped addresses.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p
}

// validHostName reports whether s is a dot-separated list of labels made of
// letters, digits, hyphens and underscores.
func validHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// BlockedError reports a destination the policy does not allow.
type BlockedError struct {
	// Host is the host name that was dialled, or empty for an address.
	Host string
	// IP is the address that was checked; it is invalid when the host name
	// alone was denied.
	IP netip.Addr
	// Rule is the deny entry that matched, or empty when the destination is
	// not in the allow list or the address is invalid.
	Rule string
}

// Error says which destination was blocked and why.
func (e *BlockedError) Error() string {
	var dest string
	switch {
	case e.Host != "" && e.IP.IsValid():
		dest = e.Host + " (" + e.IP.String() + ")"
	case e.Host != "":
		dest = e.Host
	default:
		dest = e.IP.String()
	}
	switch {
	case e.Rule != "":
		return "destination " + dest + " is denied by " + e.Rule
	case !e.IP.IsValid():
		return "destination " + dest + " has no valid address"
	default:
		return "destination " + dest + " is not in the allow list"
	}
}

// denyRules returns the rules that deny a destination: the link-local
// defaults, then the configured ones.
func (p *Policy) denyRules() []rule {
	if p == nil {
		return linkLocal
	}
	return append(linkLocal[:len(linkLocal):len(linkLocal)], p.deny...)
}

// allowRules returns the configured allow rules.
func (p *Policy) allowRules() []rule {
	if p == nil {
		return nil
	}
	return p.allow
}

// Check decides whether a connection to ip, reached through the host name
// host, is allowed. host may be empty or an IP literal. IPv4-mapped IPv6
// addresses are checked as IPv4 and zones are ignored. It returns nil or a
// *BlockedError.
func (p *Policy) Check(host string, ip netip.Addr) error {
	host = normalizeHost(host)
	if !ip.IsValid() {
		return &BlockedError{Host: host}
	}
	ip = ip.Unmap().WithZone("")
	for _, r := range p.denyRules() {
		if r.matches(host, ip) {
			return &BlockedError{Host: host, IP: ip, Rule: r.String()}
		}
	}
	allow := p.allowRules()
	if len(allow) == 0 {
		return nil
	}
	for _, r := range allow {
		if r.matches(host, ip) {
			return nil
		}
	}
	return &BlockedError{Host: host, IP: ip}
}

// checkHost applies the host-name rules alone, before resolution: a denied
// name is refused without a DNS query.
func (p *Policy) checkHost(host string) error {
	host = normalizeHost(host)
	for _, r := range p.denyRules() {
		if r.matches(host, netip.Addr{}) {
			return &BlockedError{Host: host, Rule: r.String()}
		}
	}
	return nil
}

// normalizeHost lower-cases a host name and drops a trailing dot. IP
// literals become empty, because host patterns never match them.
func normalizeHost(host string) string {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if _, err := netip.ParseAddr(host); err == nil {
		return ""
	}
	return host
}

// DialContext returns a dial function for http.Transport.DialContext that
// enforces the policy. It resolves the host with d.Resolver (or
// net.DefaultResolver), refuses the connection if the host name or any of
// its addresses is not allowed, and then dials the checked addresses one by
// one, so a name that resolves differently the second time cannot slip
// past. The dialer's Control hook checks the address actually connected to
// once more. Errors from the policy are, or wrap, *BlockedError.
func (p *Policy) DialContext(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if d == nil {
		d = &net.Dialer{}
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, portText, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("dial %s: %w", addr, err)
		}
		ips, err := p.resolve(ctx, d, network, host)
		if err != nil {
			return nil, err
		}
		port, err := p.port(ctx, d, network, portText)
		if err != nil {
			return nil, err
		}

		guarded := *d
		userControl := d.ControlContext
		plainControl := d.Control
		guarded.Control = nil
		guarded.ControlContext = func(ctx context.Context, network, address string, c syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("check dialled address %s: %w", address, err)
			}
			if err := p.Check(host, ap.Addr()); err != nil {
				return err
			}
			switch {
			case userControl != nil:
				return userControl(ctx, network, address, c)
			case plainControl != nil:
				return plainControl(network, address, c)
			}
			return nil
		}

		var firstErr error
		for _, ip := range ips {
			conn, err := guarded.DialContext(ctx, network, netip.AddrPortFrom(ip, port).String())
			if err == nil {
				return conn, nil
			}
			if firstErr == nil {
				firstErr = err
			}
			if ctx.Err() != nil {
				break
			}
		}
		return nil, firstErr
	}
}

// resolve returns the addresses of host after checking the host name and
// every address against the policy.
func (p *Policy) resolve(ctx context.Context, d *net.Dialer, network, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		if err := p.Check("", ip); err != nil {
			return nil, err
		}
		return []netip.Addr{ip.Unmap()}, nil
	}
	if err := p.checkHost(host); err != nil {
		return nil, err
	}
	resolver := d.Resolver
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	ips, err := resolver.LookupNetIP(ctx, ipNetwork(network), host)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", host, err)
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("resolve %s: no addresses", host)
	}
	for i, ip := range ips {
		if err := p.Check(host, ip); err != nil {
			return nil, err
		}
		ips[i] = ip.Unmap()
	}
	return ips, nil
}

// port parses a numeric port or looks up a service name.
func (p *Policy) port(ctx context.Context, d *net.Dialer, network, text string) (uint16, error) {
	if n, err := strconv.ParseUint(text, 10, 16); err == nil {
		return uint16(n), nil
	}
	resolver := d.Resolver
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	n, err := resolver.LookupPort(ctx, network, text)
	if err != nil {
		return 0, fmt.Errorf("look up port %q: %w", text, err)
	}
	if n < 0 || n > 65535 {
		return 0, fmt.Errorf("look up port %q: %d is out of range", text, n)
	}
	return uint16(n), nil
}

// ipNetwork maps a dial network to the network LookupNetIP expects.
func ipNetwork(network string) string {
	switch network {
	case "tcp4", "udp4":
		return "ip4"
	case "tcp6", "udp6":
		return "ip6"
	}
	return "ip"
}

// IsBlocked reports whether err is, or wraps, a *BlockedError.
func IsBlocked(err error) bool {
	_, ok := errors.AsType[*BlockedError](err)
	return ok
}
