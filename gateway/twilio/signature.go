package twilio

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/url"
	"slices"
	"strings"
)

// SignatureHeader is the request header that carries Twilio's webhook signature.
const SignatureHeader = "X-Twilio-Signature"

// Signature returns base64(HMAC-SHA1(authToken, S)), the value Twilio puts in
// X-Twilio-Signature. S is url exactly as given followed by every parameter
// sorted by name in byte order, each appended as name+value. A repeated name
// appends name+value once per distinct value, values sorted, as Twilio's SDKs
// do.
//
// Sorting by name and not by the concatenated name+value matters when one
// name is a prefix of another: "Sid" must come before "SidAccount" whatever
// their values are.
func Signature(authToken, url string, params url.Values) string {
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(url))
	mac.Write(signedParams(params))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// signedParams is the part of the signed string after the URL: each name+value, names in byte
// order, a repeated name's distinct values sorted.
func signedParams(params url.Values) []byte {
	names := make([]string, 0, len(params))
	size := 0
	for name, values := range params {
		names = append(names, name)
		for _, v := range values {
			size += len(name) + len(v)
		}
	}
	slices.Sort(names)
	b := make([]byte, 0, size)
	for _, name := range names {
		values := params[name]
		if len(values) > 1 {
			values = slices.Compact(slices.Sorted(slices.Values(values)))
		}
		for _, v := range values {
			b = append(b, name...)
			b = append(b, v...)
		}
	}
	return b
}

// ValidSignature reports whether got is Twilio's signature of url and params
// under authToken. Twilio may have signed the URL with or without the port,
// depending on how the webhook was configured, so the URL with its port removed
// and the URL with the scheme's default port added (:443 for https, :80 for
// http) are accepted too. The comparison takes constant time.
//
// url must be the public URL Twilio requested, including its query exactly as
// configured; behind a TLS-terminating proxy, rebuild it from configuration
// rather than from the request, because the scheme is signed.
func ValidSignature(authToken, url string, params url.Values, got string) bool {
	if got == "" || authToken == "" {
		return false
	}
	gotMAC, err := base64.StdEncoding.DecodeString(got)
	if err != nil {
		return false
	}
	// The parameters are sorted and joined once; only the URL differs between
	// the variants, and one MAC is reset for each.
	signed := signedParams(params)
	mac := hmac.New(sha1.New, []byte(authToken))
	var sum [sha1.Size]byte
	ok := false
	for _, candidate := range urlVariants(url) {
		mac.Reset()
		mac.Write([]byte(candidate))
		mac.Write(signed)
		// Every variant is checked so the time taken does not depend on which
		// one matched.
		if hmac.Equal(mac.Sum(sum[:0]), gotMAC) {
			ok = true
		}
	}
	return ok
}

// urlVariants returns rawURL, then rawURL without its port if it has one, or
// with the scheme's default port if it has none. The URL is edited as a string, not
// parsed and re-encoded, because the signature covers its exact bytes.
func urlVariants(rawURL string) []string {
	schemeEnd := strings.Index(rawURL, "://")
	if schemeEnd < 0 {
		return []string{rawURL}
	}
	scheme := strings.ToLower(rawURL[:schemeEnd])
	authStart := schemeEnd + len("://")
	authEnd := len(rawURL)
	if i := strings.IndexAny(rawURL[authStart:], "/?#"); i >= 0 {
		authEnd = authStart + i
	}
	hostStart := authStart
	if at := strings.LastIndexByte(rawURL[authStart:authEnd], '@'); at >= 0 {
		hostStart = authStart + at + 1
	}
	host, port, hasPort := splitHostPort(rawURL[hostStart:authEnd])
	prefix, suffix := rawURL[:hostStart], rawURL[authEnd:]

	variants := []string{rawURL}
	if hasPort {
		variants = append(variants, prefix+host+suffix)
	}
	if !hasPort || port == "" {
		switch scheme {
		case "https":
			variants = append(variants, prefix+host+":443"+suffix)
		case "http":
			variants = append(variants, prefix+host+":80"+suffix)
		}
	}
	return variants
}

// splitHostPort splits "host:port" where host may be a bracketed IPv6
// literal. hasPort is true when a colon introduces a port, even an empty one.
func splitHostPort(hostport string) (host, port string, hasPort bool) {
	colon := strings.LastIndexByte(hostport, ':')
	if colon < 0 || strings.HasSuffix(hostport, "]") {
		return hostport, "", false
	}
	if strings.IndexByte(hostport, ':') != colon && !strings.HasPrefix(hostport, "[") {
		// An unbracketed IPv6 literal has no port.
		return hostport, "", false
	}
	return hostport[:colon], hostport[colon+1:], true
}
