package oidc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"syscall"
)

// ErrFetchRefused means a fetch of issuer keys was refused by the
// [FetchPolicy] before a connection was made. It is wrapped in [ErrFetch].
var ErrFetchRefused = errors.New("oidc: fetch refused by policy")

// FetchPolicy decides which hosts and addresses discovery and JWKS fetches
// may connect to. The zero value (and nil) allows every address except
// link-local and cloud-metadata ones.
//
// With allow entries, a fetch is allowed only if the URL's host is a listed
// host or the dialled address is in a listed prefix. A link-local or
// metadata address is refused unless a prefix entry inside the refused range
// contains it (169.254.169.254/32 or 169.254.0.0/16 allow it, 0.0.0.0/0 does
// not, and neither does a listed host name that resolves to it); a metadata
// host name is refused unless listed exactly. Private and loopback
// addresses are allowed when there are no entries: self-hosted clusters live
// there, and wif fetches the cluster issuers it hosts over loopback.
type FetchPolicy struct {
	hosts    []string // lower case, no trailing dot; "*.example.com" matches subdomains
	prefixes []netip.Prefix
}

// refusedPrefixes are link-local and cloud-metadata addresses: the
// instance metadata services of AWS, GCP, Azure, OpenStack and others
// (169.254.169.254, in 169.254.0.0/16), ECS task metadata (169.254.170.2),
// AWS's IPv6 IMDS, Alibaba Cloud, Oracle Cloud Classic and Azure's
// WireServer.
var refusedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("fd00:ec2::254/128"),
	netip.MustParsePrefix("100.100.100.200/32"),
	netip.MustParsePrefix("192.0.0.192/32"),
	netip.MustParsePrefix("168.63.129.16/32"),
}

// refusedHosts are the names of metadata services.
var refusedHosts = map[string]bool{
	"metadata.google.internal":     true,
	"metadata.goog":                true,
	"metadata":                     true,
	"instance-data":                true,
	"instance-data.ec2.internal":   true,
	"metadata.tencentyun.com":      true,
	"metadata.platformequinix.com": true,
}

// ParseFetchPolicy parses allow entries: host names ("oidc.example.com",
// "*.example.com" for its subdomains), IP addresses and CIDR prefixes
// ("10.0.0.0/8", "fd00::/8"). An entry may hold several, separated by
// commas; empty ones are ignored. Every bad entry is reported.
func ParseFetchPolicy(entries []string) (*FetchPolicy, error) {
	p := &FetchPolicy{}
	var errs []error
	for _, entry := range entries {
		for _, e := range strings.Split(entry, ",") {
			e = strings.TrimSpace(e)
			if e == "" {
				continue
			}
			if err := p.add(e); err != nil {
				errs = append(errs, fmt.Errorf("%q: %w", e, err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *FetchPolicy) add(e string) error {
	if strings.Contains(e, "/") {
		pfx, err := netip.ParsePrefix(e)
		if err != nil {
			return errors.New("not a CIDR prefix")
		}
		p.prefixes = append(p.prefixes, unmapPrefix(pfx).Masked())
		return nil
	}
	if ip, err := netip.ParseAddr(strings.Trim(e, "[]")); err == nil {
		if ip.Zone() != "" {
			return errors.New("an address with a zone")
		}
		ip = ip.Unmap()
		p.prefixes = append(p.prefixes, netip.PrefixFrom(ip, ip.BitLen()))
		return nil
	}
	h := normalizeHost(e)
	name, wild := strings.CutPrefix(h, "*.")
	if !validHostName(name) || (wild && !strings.Contains(name, ".")) {
		return errors.New("not a host name, IP address or CIDR prefix")
	}
	p.hosts = append(p.hosts, h)
	return nil
}

func unmapPrefix(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p
}

// validHostName accepts DNS names of letters, digits, '-' and '_' in
// labels of 1 to 63 characters, at most 253 in all.
func validHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 {
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

func normalizeHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// Restricted reports whether the policy has allow entries.
func (p *FetchPolicy) Restricted() bool {
	return p != nil && (len(p.hosts) > 0 || len(p.prefixes) > 0)
}

// String lists the entries, for logs.
func (p *FetchPolicy) String() string {
	if !p.Restricted() {
		return "any address except link-local and cloud metadata"
	}
	s := append([]string(nil), p.hosts...)
	for _, pfx := range p.prefixes {
		s = append(s, pfx.String())
	}
	return strings.Join(s, ",")
}

// Allow decides whether a fetch of a URL whose host is host may connect to
// ip. It is pure: the dialer calls it with the address actually being
// connected to, so DNS answers cannot get around it.
func (p *FetchPolicy) Allow(host string, ip netip.Addr) error {
	host = normalizeHost(strings.Trim(host, "[]"))
	ip = ip.Unmap().WithZone("")
	if !ip.IsValid() {
		return fmt.Errorf("%w: no address", ErrFetchRefused)
	}
	if refused, ok := refusedPrefix(ip); ok && !p.prefixListedWithin(ip, refused) {
		return fmt.Errorf("%w: %s (%s) is a link-local or cloud metadata address", ErrFetchRefused, host, ip)
	}
	if refusedHosts[host] && !p.hostListedExactly(host) {
		return fmt.Errorf("%w: %s is a cloud metadata host", ErrFetchRefused, host)
	}
	if !p.Restricted() || p.hostListed(host) || p.prefixListed(ip) {
		return nil
	}
	return fmt.Errorf("%w: %s (%s) is not in the issuer fetch allow-list", ErrFetchRefused, host, ip)
}

// allowName decides what can be decided before host is resolved: a
// metadata name, or a host missing from a policy that lists only hosts.
func (p *FetchPolicy) allowName(host string) error {
	host = normalizeHost(strings.Trim(host, "[]"))
	if _, err := netip.ParseAddr(host); err == nil {
		return nil // decided at dial time
	}
	switch {
	case refusedHosts[host] && !p.hostListedExactly(host):
		return fmt.Errorf("%w: %s is a cloud metadata host", ErrFetchRefused, host)
	case p.Restricted() && len(p.prefixes) == 0 && !p.hostListed(host):
		return fmt.Errorf("%w: %s is not in the issuer fetch allow-list", ErrFetchRefused, host)
	}
	return nil
}

func (p *FetchPolicy) hostListedExactly(host string) bool {
	return p != nil && slices.Contains(p.hosts, host)
}

func (p *FetchPolicy) hostListed(host string) bool {
	if p == nil {
		return false
	}
	for _, h := range p.hosts {
		if suffix, wild := strings.CutPrefix(h, "*"); wild {
			if strings.HasSuffix(host, suffix) && len(host) > len(suffix) {
				return true
			}
		} else if h == host {
			return true
		}
	}
	return false
}

func (p *FetchPolicy) prefixListed(ip netip.Addr) bool {
	if p == nil {
		return false
	}
	for _, pfx := range p.prefixes {
		if pfx.Contains(ip) {
			return true
		}
	}
	return false
}

// prefixListedWithin reports whether an entry containing ip lies inside
// the refused range, so that it names the range explicitly.
func (p *FetchPolicy) prefixListedWithin(ip netip.Addr, refused netip.Prefix) bool {
	if p == nil {
		return false
	}
	for _, pfx := range p.prefixes {
		if pfx.Contains(ip) && pfx.Bits() >= refused.Bits() && refused.Contains(pfx.Addr()) {
			return true
		}
	}
	return false
}

func refusedPrefix(ip netip.Addr) (netip.Prefix, bool) {
	for _, pfx := range refusedPrefixes {
		if pfx.Contains(ip) {
			return pfx, true
		}
	}
	return netip.Prefix{}, false
}

// DialContext returns a dial function for an http.Transport that applies
// the policy: to the host name before it is resolved, and to every address
// d is about to connect to (in d's Control hook, before connect), so a
// refused address is never connected to.
func (p *FetchPolicy) DialContext(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if err := p.allowName(host); err != nil {
			return nil, err
		}
		dd := *d
		dd.ControlContext = func(ctx context.Context, network, address string, c syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: address %q: %v", ErrFetchRefused, address, err)
			}
			if err := p.Allow(host, ap.Addr()); err != nil {
				return err
			}
			if d.ControlContext != nil {
				return d.ControlContext(ctx, network, address, c)
			}
			return nil
		}
		dd.Control = nil
		return dd.DialContext(ctx, network, addr)
	}
}
