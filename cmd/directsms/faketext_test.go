package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"directsms/gateway/twilio"
)

func TestFakeText_PostsATextSignedAsTwilioSignsIt(t *testing.T) {
	t.Parallel()
	var got struct {
		valid          bool
		from, to, body string
	}
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			t.Errorf("parse form: %v", err)
		}
		got.valid = twilio.ValidSignature("tok", srv.URL+r.URL.Path, r.PostForm, r.Header.Get(twilio.SignatureHeader))
		got.from, got.to, got.body = r.PostForm.Get("From"), r.PostForm.Get("To"), r.PostForm.Get("Body")
		w.Header().Set("Content-Type", "text/xml")
		w.Write([]byte(twilio.ResponseXML)) //nolint:errcheck // test server
	}))
	defer srv.Close()
	var out bytes.Buffer
	args := []string{"--url", srv.URL, "--account-sid", "AC" + strings.Repeat("a", 32), "--auth-token", "tok",
		"--from", "+12025550199", "--to", "+12025550101", "--body", "Hi Alice"}
	if err := run(context.Background(), append([]string{"fake-text"}, args...), envFrom(nil), &out, &bytes.Buffer{}); err != nil {
		t.Fatalf("fake-text: %v", err)
	}
	if !got.valid || got.from != "+12025550199" || got.to != "+12025550101" || got.body != "Hi Alice" {
		t.Fatalf("got %+v, want a validly signed text from +12025550199 to +12025550101 saying Hi Alice", got)
	}
	if !strings.Contains(out.String(), "delivered SM") {
		t.Fatalf("got output %q, want it to name the message sid", out.String())
	}
}

func TestFakeText_RequiresFromToAndBody(t *testing.T) {
	t.Parallel()
	err := run(context.Background(), []string{"fake-text", "--to", "+12025550101"}, envFrom(nil), &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "required") {
		t.Fatalf("got %v, want an error saying what is required", err)
	}
}
