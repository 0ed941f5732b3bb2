// Package netguard decides which network destinations test plans may send
// requests to, and enforces the decision when dialling, after DNS
// resolution, on the IP address actually connected to.
//
// # Entries
//
// A policy is built from an allow list (ASTRO_TARGET_ALLOW), a deny list
// (ASTRO_TARGET_DENY) and the built-in deny entries. An entry is one of
//
//   - an address prefix: "10.0.0.0/8", "::1/128";
//   - a single address, the same as a /32 or /128 prefix: "127.0.0.1", "::1";
//   - a host name: "api.example.com";
//   - a domain wildcard, matching subdomains at any depth but not the
//     domain itself: "*.example.com";
//
// optionally followed by a port, which limits the entry to that port:
// "127.0.0.1:18080", "10.0.0.0/8:5432", "api.example.com:443",
// "[::1]:18080", "[fd00::/8]:8080" (IPv6 in brackets when a port follows).
// An entry without a port covers every port. IPv4-mapped IPv6 entries
// ("::ffff:10.0.0.0/104") are stored as the IPv4 prefix they cover.
//
// The built-in deny entries are always present:
//
//	0.0.0.0/8           unspecified ("this network"): connecting to it reaches the local host
//	::/128              unspecified: connecting to it reaches the local host
//	169.254.0.0/16      link-local, including the metadata address 169.254.169.254
//	fe80::/10           link-local
//	fd00:ec2::254/128   cloud metadata (AWS, IPv6)
//	100.100.100.200/32  cloud metadata (Alibaba Cloud)
//
// # Precedence
//
// Every address is unmapped (IPv4-mapped IPv6 becomes IPv4) and stripped of
// its zone before it is checked. The address and the host name are judged
// separately.
//
// Among the address entries that contain the address and match the port,
// the most specific one decides: the longer prefix wins; at equal length an
// entry with a port beats one without; then a configured entry beats a
// built-in one; then deny beats allow.
//
// Among the host entries that match the name and the port, an exact name
// beats any wildcard and a longer wildcard beats a shorter one; then an
// entry with a port beats one without; then deny beats allow.
//
// The destination is denied if either decision is a deny entry: allowing a
// name never admits a denied address it resolves to, and allowing an
// address never admits a denied name. Otherwise it is allowed if either
// decision is an allow entry. If no entry matched at all, it is allowed
// when the allow list is empty and denied ("not in the allow list") when it
// is not.
//
// So a narrower allow entry carves an exception out of a broader deny
// entry, and the reverse: with deny "127.0.0.0/8" and allow
// "127.0.0.1:18080", port 18080 on 127.0.0.1 is allowed and the rest of
// loopback is denied. Because the allow list is then not empty, everything
// else is denied too unless it is allowed: add "0.0.0.0/0, ::/0" to the
// allow list to keep other destinations open. Such broad entries never
// lift a built-in deny entry, which is longer; only an entry at least as
// long does ("0.0.0.0", "::", "169.254.169.254").
package netguard

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// builtinDeny lists the entries every policy denies, in the order of the
// package documentation.
var builtinDeny = []rule{
	builtin("0.0.0.0/8", "unspecified default"),
	builtin("::/128", "unspecified default"),
	builtin("169.254.0.0/16", "link-local default"),
	builtin("fe80::/10", "link-local default"),
	builtin("fd00:ec2::254/128", "cloud metadata default"),
	builtin("100.100.100.200/32", "cloud metadata default"),
}

// builtin returns a built-in deny rule for a prefix.
func builtin(prefix, note string) rule {
	return rule{prefix: netip.MustParsePrefix(prefix), builtin: true, source: prefix, note: note}
}

// rule is one entry of an allow or deny list: an address prefix or a host
// pattern, optionally limited to one port.
type rule struct {
	// prefix is valid for address rules.
	prefix netip.Prefix
	// host is a lower-case host name, or a domain when wildcard is set.
	host     string
	wildcard bool
	// port limits the rule to one port; 0 means every port.
	port uint16
	// allow is set for allow rules; the others deny.
	allow bool
	// builtin is set for the built-in deny rules.
	builtin bool
	// source is the entry as written, for messages.
	source string
	// note qualifies built-in rules in messages.
	note string
}

// matchesAddr reports whether the address rule covers ap. ap's address
// must be unmapped.
func (r *rule) matchesAddr(ap netip.AddrPort) bool {
	return r.prefix.IsValid() && r.prefix.Contains(ap.Addr()) && r.matchesPort(ap.Port())
}

// matchesHost reports whether the host rule covers the normalized host
// name on the port.
func (r *rule) matchesHost(host string, port uint16) bool {
	if r.prefix.IsValid() || host == "" || !r.matchesPort(port) {
		return false
	}
	if r.wildcard {
		return strings.HasSuffix(host, "."+r.host)
	}
	return host == r.host
}

func (r *rule) matchesPort(port uint16) bool {
	return r.port == 0 || r.port == port
}

// specificity orders rules that match the same destination, as the package
// documentation describes: the more specific rule compares greater.
func (r *rule) specificity(other *rule) int {
	return cmp.Or(
		cmp.Compare(r.length(), other.length()),
		compareBool(r.port != 0, other.port != 0),
		compareBool(!r.builtin, !other.builtin),
		compareBool(!r.allow, !other.allow),
	)
}

// length ranks the rule within its kind: the prefix length of an address
// rule, and for a host rule the domain's length for a wildcard, above which
// every exact name ranks.
func (r *rule) length() int {
	switch {
	case r.prefix.IsValid():
		return r.prefix.Bits()
	case r.wildcard:
		return len(r.host)
	}
	return 1 << 16
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
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
// the built-in deny entries and nothing else, so every other destination
// is allowed.
type Policy struct {
	// rules holds the configured allow and deny rules; builtinDeny is
	// checked as well.
	rules []rule
	// allowList is set when the allow list is not empty: a destination no
	// rule matches is then denied.
	allowList bool
}

// ParsePolicy builds a policy from comma-separated allow and deny lists,
// whose entries and precedence the package documentation describes. Blank
// entries are ignored. The error names the first entry that cannot be
// parsed.
func ParsePolicy(allow, deny string) (*Policy, error) {
	allowRules, err := parseRules(allow, true)
	if err != nil {
		return nil, fmt.Errorf("parse allow list: %w", err)
	}
	denyRules, err := parseRules(deny, false)
	if err != nil {
		return nil, fmt.Errorf("parse deny list: %w", err)
	}
	return &Policy{rules: append(allowRules, denyRules...), allowList: len(allowRules) > 0}, nil
}

func parseRules(list string, allow bool) ([]rule, error) {
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
		r.allow = allow
		rules = append(rules, r)
	}
	return rules, nil
}

func parseRule(entry string) (rule, error) {
	if strings.Contains(entry, "://") {
		return rule{}, fmt.Errorf("invalid entry %q: want an address, CIDR or host name, not a URL", entry)
	}
	base, port, bracketed, err := splitPort(entry)
	if err != nil {
		return rule{}, err
	}
	if bracketed && !strings.Contains(base, ":") {
		return rule{}, fmt.Errorf("invalid entry %q: brackets are only for IPv6 addresses", entry)
	}
	if strings.Contains(base, "/") {
		p, err := netip.ParsePrefix(base)
		if err != nil {
			return rule{}, fmt.Errorf("invalid CIDR %q: %w", entry, err)
		}
		return rule{prefix: unmapPrefix(p.Masked()), port: port, source: entry}, nil
	}
	if strings.Contains(base, ":") || isIPv4Literal(base) {
		ip, err := netip.ParseAddr(base)
		if err != nil {
			return rule{}, fmt.Errorf("invalid IP address %q: %w", entry, err)
		}
		if ip.Zone() != "" {
			return rule{}, fmt.Errorf("invalid IP address %q: zones are not supported", entry)
		}
		ip = ip.Unmap()
		return rule{prefix: netip.PrefixFrom(ip, ip.BitLen()), port: port, source: entry}, nil
	}
	host := strings.ToLower(strings.TrimSuffix(base, "."))
	wildcard := false
	if rest, ok := strings.CutPrefix(host, "*."); ok {
		host, wildcard = rest, true
	}
	if !validHostName(host) {
		return rule{}, fmt.Errorf("invalid host pattern %q: want a name like example.com or *.example.com", entry)
	}
	return rule{host: host, wildcard: wildcard, port: port, source: entry}, nil
}

// splitPort splits an entry into its address, prefix or host part and its
// port (0 if none). A port follows "]" for IPv6 ("[::1]:80") and the only
// colon otherwise ("10.0.0.1:80", "example.com:443"); an entry with more
// colons and no brackets is IPv6 without a port.
func splitPort(entry string) (base string, port uint16, bracketed bool, err error) {
	var portText string
	if rest, ok := strings.CutPrefix(entry, "["); ok {
		inner, after, found := strings.Cut(rest, "]")
		if !found {
			return "", 0, false, fmt.Errorf("invalid entry %q: missing ]", entry)
		}
		if after == "" {
			return inner, 0, true, nil
		}
		portText, ok = strings.CutPrefix(after, ":")
		if !ok {
			return "", 0, false, fmt.Errorf("invalid entry %q: want [IPv6]:port", entry)
		}
		base, bracketed = inner, true
	} else if strings.Count(entry, ":") == 1 {
		base, portText, _ = strings.Cut(entry, ":")
	} else {
		return entry, 0, false, nil
	}
	n, err := strconv.ParseUint(portText, 10, 16)
	if err != nil || n == 0 {
		return "", 0, false, fmt.Errorf("invalid port in %q: want 1 to 65535", entry)
	}
	return base, uint16(n), bracketed, nil
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

// Check decides whether a connection to dest, reached through the host
// name host, is allowed, by the precedence the package documentation
// describes. host may be empty or an IP literal. IPv4-mapped IPv6 addresses
// are checked as IPv4 and zones are ignored. It returns nil or a
// *BlockedError.
func (p *Policy) Check(host string, dest netip.AddrPort) error {
	host = normalizeHost(host)
	ip := dest.Addr()
	if !ip.IsValid() {
		return &BlockedError{Host: host}
	}
	ip = ip.Unmap().WithZone("")
	dest = netip.AddrPortFrom(ip, dest.Port())
	byAddr := p.decide(func(r *rule) bool { return r.matchesAddr(dest) })
	byHost := p.decide(func(r *rule) bool { return r.matchesHost(host, dest.Port()) })
	for _, r := range []*rule{byAddr, byHost} {
		if r != nil && !r.allow {
			return &BlockedError{Host: host, IP: ip, Rule: r.String()}
		}
	}
	if byAddr != nil || byHost != nil || p == nil || !p.allowList {
		return nil
	}
	return &BlockedError{Host: host, IP: ip}
}

// checkHost applies the host-name rules alone, before resolution: a denied
// name is refused without a DNS query.
func (p *Policy) checkHost(host string, port uint16) error {
	host = normalizeHost(host)
	if r := p.decide(func(r *rule) bool { return r.matchesHost(host, port) }); r != nil && !r.allow {
		return &BlockedError{Host: host, Rule: r.String()}
	}
	return nil
}

// decide returns the most specific rule, built-in or configured, for which
// match reports true, or nil if there is none.
func (p *Policy) decide(match func(*rule) bool) *rule {
	var best *rule
	consider := func(rules []rule) {
		for i := range rules {
			r := &rules[i]
			if match(r) && (best == nil || r.specificity(best) > 0) {
				best = r
			}
		}
	}
	consider(builtinDeny)
	if p != nil {
		consider(p.rules)
	}
	return best
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
		port, err := p.port(ctx, d, network, portText)
		if err != nil {
			return nil, err
		}
		ips, err := p.resolve(ctx, d, network, host, port)
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
			if err := p.Check(host, ap); err != nil {
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

// resolve returns the unmapped addresses of host after checking the host
// name and every address, on port, against the policy.
func (p *Policy) resolve(ctx context.Context, d *net.Dialer, network, host string, port uint16) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		if err := p.Check("", netip.AddrPortFrom(ip, port)); err != nil {
			return nil, err
		}
		return []netip.Addr{ip.Unmap()}, nil
	}
	if err := p.checkHost(host, port); err != nil {
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
		if err := p.Check(host, netip.AddrPortFrom(ip, port)); err != nil {
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

// lookupTimeout bounds the DNS lookup of CheckURLHost.
const lookupTimeout = 2 * time.Second

// CheckURLHost decides, before any connection is made, what the policy
// can decide about a destination saved for later use, such as the URL of
// an alert channel: host is the URL's host (a name, or an IP literal
// without brackets) and port its port.
//
// An IP literal is checked against the address rules. A host name is
// checked against the host rules first, so a denied name is refused
// without a DNS query; then it is resolved with net.DefaultResolver,
// within a short timeout, and each of its addresses is checked with the
// name, as DialContext does. A name that does not resolve (no such host,
// a timeout, no resolver) is allowed: it may resolve later, and the check
// that DialContext makes on every connection still applies then. So a
// nil error means "not refused now", not "always allowed".
//
// It never connects to the destination. It returns nil or a
// *BlockedError.
func (p *Policy) CheckURLHost(ctx context.Context, host string, port uint16) error {
	return p.checkURLHost(ctx, net.DefaultResolver, host, port)
}

// checkURLHost is CheckURLHost with the resolver to use.
func (p *Policy) checkURLHost(ctx context.Context, resolver *net.Resolver, host string, port uint16) error {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if ip, err := netip.ParseAddr(host); err == nil {
		return p.Check("", netip.AddrPortFrom(ip, port))
	}
	if err := p.checkHost(host, port); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	ips, err := resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil // Decided at dial time.
	}
	for _, ip := range ips {
		if err := p.Check(host, netip.AddrPortFrom(ip, port)); err != nil {
			return err
		}
	}
	return nil
}
