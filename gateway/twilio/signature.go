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
	names := make([]string, 0, len(params))
	for name := range params {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		values := slices.Clone(params[name])
		slices.Sort(values)
		for _, v := range slices.Compact(values) {
			mac.Write([]byte(name))
			mac.Write([]byte(v))
		}
	}
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
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
	ok := false
	for _, candidate := range urlVariants(url) {
		want := Signature(authToken, candidate, params)
		// Every variant is checked so the time taken does not depend on which
		// one matched.
		if hmac.Equal([]byte(want), []byte(got)) {
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
