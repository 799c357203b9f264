package reporting

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"directsms/internal/apperr"
)

// MaxURLLength is the longest subscription URL accepted.
const MaxURLLength = 2048

// lookupTimeout bounds the DNS lookup that checks where a new subscription URL points.
const lookupTimeout = 5 * time.Second

// nonPublicPrefixes are ranges beyond what netip's predicates cover that no tenant's receiver
// lives in: "this network", carrier-grade NAT, IETF protocol assignments, benchmarking, the
// reserved class E block, and NAT64 (which maps onto any IPv4 address, private ones included).
var nonPublicPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
}

// IsPublicAddr reports whether a is an address on the public internet: not loopback, private,
// link-local (cloud metadata services live there), unspecified, multicast or reserved.
func IsPublicAddr(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return false
	}
	if a.Is4() && a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return false
	}
	for _, p := range nonPublicPrefixes {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// checkURL validates a subscription URL: absolute http(s) with a host, no credentials (the
// secret is what authenticates), and, unless allowPrivate, a host whose every address is public.
// A host name is resolved now to check that; the dispatcher checks the address it connects to
// again, so a name that later resolves elsewhere is still refused.
func (s *Store) checkURL(ctx context.Context, raw string, allowPrivate bool) (string, error) {
	raw = strings.TrimSpace(raw)
	invalid := func(msg string) error { return apperr.Invalid("url", "invalid_url", msg) }
	if raw == "" {
		return "", invalid("url is required")
	}
	if len(raw) > MaxURLLength {
		return "", invalid(fmt.Sprintf("url is longer than %d characters", MaxURLLength))
	}
	if !storable(raw) {
		return "", invalid("url must be UTF-8 text without NUL characters")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", invalid(fmt.Sprintf("%q is not a URL", raw))
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return "", invalid("url must be an absolute http or https URL, like https://hooks.example.com/directsms")
	}
	if u.User != nil {
		return "", invalid("url must not carry credentials; deliveries are signed with the secret")
	}
	host := u.Hostname()
	if host == "" {
		return "", invalid("url has no host")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", invalid(fmt.Sprintf("url port %q is not a port number", p))
		}
	}
	normalized := u.String()
	if len(normalized) > MaxURLLength {
		return "", invalid(fmt.Sprintf("url is longer than %d characters once escaped", MaxURLLength))
	}
	if allowPrivate {
		return normalized, nil
	}
	private := func() error {
		return apperr.Invalid("url", "private_url", fmt.Sprintf("url host %q is a private, loopback or reserved address; receivers must be reachable on the public internet", host))
	}
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		if !IsPublicAddr(a) {
			return "", private()
		}
		return normalized, nil
	}
	lookupCtx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	addrs, err := s.resolver.LookupIPAddr(lookupCtx, host)
	if err != nil || len(addrs) == 0 {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", invalid(fmt.Sprintf("url host %q does not resolve", host))
	}
	for _, ia := range addrs {
		a, ok := netip.AddrFromSlice(ia.IP)
		if !ok || !IsPublicAddr(a) {
			return "", private()
		}
	}
	return normalized, nil
}

// storable reports whether PostgreSQL can keep s in a text column: valid UTF-8, no NUL.
func storable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// errPrivateAddress is why the dispatcher refused to connect.
var errPrivateAddress = errors.New("the receiver's address is private, loopback or reserved")

// publicOnlyControl is a net.Dialer Control hook that refuses connections to non-public
// addresses: it runs on the address actually dialled, after DNS, so a host that resolves to a
// private address at delivery time is caught too.
func publicOnlyControl(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("parse dialled address: %w", err)
	}
	if !IsPublicAddr(ap.Addr()) {
		return errPrivateAddress
	}
	return nil
}

// dialer returns the dialer deliveries use.
func dialer(allowPrivate bool) *net.Dialer {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		d.Control = publicOnlyControl
	}
	return d
}
