package twilio

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"
)

// FuzzParseInbound feeds arbitrary form bodies to ParseInbound: it must never
// panic, must only fail with a *FieldError, and whatever it accepts must keep
// the promises the rest of directsms relies on.
func FuzzParseInbound(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.form"))
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(raw))
	}
	f.Add("MessageSid=SM0123456789abcdef0123456789abcdef&AccountSid=AC0123456789abcdef0123456789abcdef&From=%2B1&To=%2B2&NumMedia=99999999999999999999")
	f.Add("NumMedia=1&MediaUrl0=http%3A%2F%2F%5B%3A%3A1%5D%3A80%2F&MediaUrl1=")
	f.Fuzz(func(t *testing.T, body string) {
		// ParseQuery keeps what it could decode; ParseInbound must cope with
		// that too.
		form, _ := url.ParseQuery(body)
		in, err := ParseInbound(form)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("ParseInbound() error %T %v, want *FieldError", err, err)
			}
			return
		}
		if !isSid(in.MessageSid, "SM") && !isSid(in.MessageSid, "MM") {
			t.Errorf("accepted MessageSid %q", in.MessageSid)
		}
		if !isSid(in.AccountSid, "AC") {
			t.Errorf("accepted AccountSid %q", in.AccountSid)
		}
		if in.From == "" || in.To == "" {
			t.Errorf("accepted From %q To %q", in.From, in.To)
		}
		if !utf8.ValidString(in.Body) || utf8.RuneCountInString(in.Body) > MaxBodyChars {
			t.Errorf("accepted a body of %d bytes that is invalid or too long", len(in.Body))
		}
		if len(in.Media) != in.NumMedia {
			t.Errorf("NumMedia = %d with %d attachments", in.NumMedia, len(in.Media))
		}
	})
}

// FuzzSignature checks that Signature never panics and that ValidSignature
// accepts what Signature made, for the URL as signed and for the URL with its
// default port added, and refuses it under another token.
func FuzzSignature(f *testing.F) {
	f.Add("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", "CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1234&From=%2B14158675309&To=%2B18005551212")
	f.Add("t", "https://h", "Sid=1&SidAccount=2&Sid=1")
	f.Add("t", "http://[::1]:8080/p?q", "")
	f.Add("t", "https://u:p@h:443/", "a=%FF")
	f.Fuzz(func(t *testing.T, token, rawURL, body string) {
		if token == "" {
			return
		}
		params, _ := url.ParseQuery(body)
		sig := Signature(token, rawURL, params)
		if !ValidSignature(token, rawURL, params, sig) {
			t.Fatalf("ValidSignature(%q, %q) refused its own signature", token, rawURL)
		}
		for _, variant := range urlVariants(rawURL) {
			if !ValidSignature(token, variant, params, sig) && !ValidSignature(token, rawURL, params, Signature(token, variant, params)) {
				t.Errorf("neither %q nor %q accepts the other's signature", rawURL, variant)
			}
		}
		if ValidSignature(token+"x", rawURL, params, sig) {
			t.Errorf("ValidSignature accepted the signature under another token")
		}
	})
}
