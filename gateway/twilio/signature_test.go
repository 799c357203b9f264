package twilio

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/url"
	"slices"
	"testing"
)

// hmacSHA1 signs s directly, so the expected values below come from the
// string the rule describes, not from the code under test.
func hmacSHA1(t *testing.T, token, s string) string {
	t.Helper()
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(s))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func TestSignature(t *testing.T) {
	t.Parallel()
	const u = "https://example.com/hook?x=1"
	tests := []struct {
		name   string
		params url.Values
		// signed is the string Twilio signs; ignored when want is set.
		signed string
		want   string
	}{
		{
			name: "public vector from Twilio's SDK tests",
			params: url.Values{
				"CallSid": {"CA1234567890ABCDE"},
				"Caller":  {"+14158675309"},
				"Digits":  {"1234"},
				"From":    {"+14158675309"},
				"To":      {"+18005551212"},
			},
			want: "RSOYDt4T1cUTdK1PDd93/VVr8B8=",
		},
		{
			name:   "no parameters signs the URL alone",
			params: nil,
			signed: u,
		},
		{
			name:   "a name that prefixes another sorts first whatever the values",
			params: url.Values{"SidAccount": {"aaa"}, "Sid": {"zzz"}},
			signed: u + "Sidzzz" + "SidAccountaaa",
		},
		{
			name:   "names sort in byte order, upper case before lower",
			params: url.Values{"a": {"1"}, "B": {"2"}, "_": {"3"}},
			signed: u + "B2" + "_3" + "a1",
		},
		{
			name:   "a repeated name appends each distinct value, sorted",
			params: url.Values{"Media": {"b", "a", "b"}},
			signed: u + "Mediaa" + "Mediab",
		},
		{
			name:   "an empty value still appends the name",
			params: url.Values{"Body": {""}, "To": {"+1"}},
			signed: u + "Body" + "To+1",
		},
		{
			name:   "decoded values are signed: plus is a space, %2B a plus",
			params: mustParseQuery(t, "Body=a+b%2Bc"),
			signed: u + "Bodya b+c",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			token, rawURL := "secret-token", u
			want := tc.want
			if want == "" {
				want = hmacSHA1(t, token, tc.signed)
			} else {
				token, rawURL = "12345", "https://mycompany.com/myapp.php?foo=1&bar=2"
			}
			if got := Signature(token, rawURL, tc.params); got != want {
				t.Errorf("Signature() = %q, want %q", got, want)
			}
		})
	}
}

func TestSignatureDoesNotModifyParams(t *testing.T) {
	t.Parallel()
	params := url.Values{"Media": {"b", "a", "b"}}
	Signature("t", "https://example.com/", params)
	if got, want := params["Media"], []string{"b", "a", "b"}; !slices.Equal(got, want) {
		t.Errorf("params[Media] after Signature = %q, want %q", got, want)
	}
}

func TestValidSignature(t *testing.T) {
	t.Parallel()
	const token = "12345"
	params := url.Values{"MessageSid": {"SM0123456789abcdef0123456789abcdef"}, "Body": {"hi"}}
	tests := []struct {
		name      string
		signedURL string // the URL Twilio signed
		checkURL  string // the URL the gateway checks against
		token     string
		params    url.Values
		sig       string // overrides the computed signature when set
		want      bool
	}{
		{name: "same URL", signedURL: "https://sms.example.com/webhooks/twilio/messages", checkURL: "https://sms.example.com/webhooks/twilio/messages", want: true},
		{name: "Twilio added :443, config has none", signedURL: "https://sms.example.com:443/hook?a=1", checkURL: "https://sms.example.com/hook?a=1", want: true},
		{name: "config has :443, Twilio signed without", signedURL: "https://sms.example.com/hook", checkURL: "https://sms.example.com:443/hook", want: true},
		{name: "http default port :80", signedURL: "http://sms.example.com:80/hook", checkURL: "http://sms.example.com/hook", want: true},
		{name: "config has a custom port, Twilio signed without", signedURL: "https://sms.example.com/hook", checkURL: "https://sms.example.com:8443/hook", want: true},
		{name: "Twilio signed a custom port the config lacks", signedURL: "https://sms.example.com:8443/hook", checkURL: "https://sms.example.com/hook", want: false},
		{name: "https default port is not accepted for http", signedURL: "http://sms.example.com:443/hook", checkURL: "http://sms.example.com/hook", want: false},
		{name: "scheme is signed", signedURL: "http://sms.example.com/hook", checkURL: "https://sms.example.com/hook", want: false},
		{name: "query is signed", signedURL: "https://sms.example.com/hook?a=1", checkURL: "https://sms.example.com/hook?a=2", want: false},
		{name: "path is signed", signedURL: "https://sms.example.com/hook", checkURL: "https://sms.example.com/hook/", want: false},
		{name: "IPv6 host with default port", signedURL: "https://[2001:db8::1]:443/hook", checkURL: "https://[2001:db8::1]/hook", want: true},
		{name: "credentials in the URL are kept", signedURL: "https://user:pw@sms.example.com:443/hook", checkURL: "https://user:pw@sms.example.com/hook", want: true},
		{name: "wrong token", signedURL: "https://sms.example.com/hook", checkURL: "https://sms.example.com/hook", token: "54321", want: false},
		{name: "tampered parameter", signedURL: "https://sms.example.com/hook", checkURL: "https://sms.example.com/hook", params: url.Values{"MessageSid": {"SM0123456789abcdef0123456789abcdef"}, "Body": {"hi!"}}, want: false},
		{name: "added parameter", signedURL: "https://sms.example.com/hook", checkURL: "https://sms.example.com/hook", params: url.Values{"MessageSid": {"SM0123456789abcdef0123456789abcdef"}, "Body": {"hi"}, "X": {""}}, want: false},
		{name: "missing signature", signedURL: "https://sms.example.com/hook", checkURL: "https://sms.example.com/hook", sig: "-", want: false},
		{name: "garbage signature", signedURL: "https://sms.example.com/hook", checkURL: "https://sms.example.com/hook", sig: "not base64 at all", want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sig := Signature(token, tc.signedURL, params)
			switch tc.sig {
			case "":
			case "-":
				sig = ""
			default:
				sig = tc.sig
			}
			checkToken, checkParams := token, params
			if tc.token != "" {
				checkToken = tc.token
			}
			if tc.params != nil {
				checkParams = tc.params
			}
			if got := ValidSignature(checkToken, tc.checkURL, checkParams, sig); got != tc.want {
				t.Errorf("ValidSignature(%q signed as %q) = %v, want %v", tc.checkURL, tc.signedURL, got, tc.want)
			}
		})
	}
}

func TestValidSignatureEmptyToken(t *testing.T) {
	t.Parallel()
	const u = "https://sms.example.com/hook"
	// An unconfigured account must never validate, even against a signature
	// made with the same empty key.
	if ValidSignature("", u, nil, Signature("", u, nil)) {
		t.Errorf("ValidSignature with an empty token = true, want false")
	}
}

func TestURLVariants(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string
	}{
		{"https://h/p", []string{"https://h/p", "https://h:443/p"}},
		{"https://h", []string{"https://h", "https://h:443"}},
		{"https://h?q=a:b", []string{"https://h?q=a:b", "https://h:443?q=a:b"}},
		{"HTTP://h/p", []string{"HTTP://h/p", "HTTP://h:80/p"}},
		{"https://h:8443/p", []string{"https://h:8443/p", "https://h/p"}},
		{"https://h:/p", []string{"https://h:/p", "https://h/p", "https://h:443/p"}},
		{"https://[::1]/p", []string{"https://[::1]/p", "https://[::1]:443/p"}},
		{"https://[::1]:9/p", []string{"https://[::1]:9/p", "https://[::1]/p"}},
		{"https://u:p@h/p", []string{"https://u:p@h/p", "https://u:p@h:443/p"}},
		{"ftp://h/p", []string{"ftp://h/p"}},
		{"not a url", []string{"not a url"}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			if got := urlVariants(tc.in); !slices.Equal(got, tc.want) {
				t.Errorf("urlVariants(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func mustParseQuery(t *testing.T, s string) url.Values {
	t.Helper()
	v, err := url.ParseQuery(s)
	if err != nil {
		t.Fatalf("ParseQuery(%q): %v", s, err)
	}
	return v
}

// BenchmarkValidSignature checks an inbound form as the webhook does on every text.
func BenchmarkValidSignature(b *testing.B) {
	form := url.Values{
		"MessageSid": {"SM9c2d4e6f8a0b1c3d5e7f9a1b3c5d7e9f"}, "SmsSid": {"SM9c2d4e6f8a0b1c3d5e7f9a1b3c5d7e9f"},
		"AccountSid": {"AC3f5e2b1c9d8a7f6e5d4c3b2a19080706"}, "From": {"+14155550199"}, "To": {"+14155550100"},
		"Body": {"Hi, is anyone there? My order #4471 hasn't arrived."}, "NumMedia": {"0"}, "NumSegments": {"1"},
		"SmsStatus": {"received"}, "ApiVersion": {"2010-04-01"}, "FromCountry": {"US"}, "ToCountry": {"US"},
	}
	const u = "https://sms.example.com/webhooks/twilio/messages"
	sig := Signature("12345", u, form)
	b.ReportAllocs()
	for b.Loop() {
		if !ValidSignature("12345", u, form, sig) {
			b.Fatal("signature does not verify")
		}
	}
}
