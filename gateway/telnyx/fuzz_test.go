package telnyx

import (
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// FuzzParseEvent feeds arbitrary bodies to ParseEvent: it must never panic,
// must only fail with a *FieldError, and whatever it accepts must have the
// ids directsms dedupes on.
func FuzzParseEvent(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte(`{"data":{"event_type":"message.received","id":"e","payload":{"id":"m","from":"+1","to":{"phone_number":"+2"},"errors":[{"code":1e999}]}}}`))
	f.Add([]byte(`{"data":{"event_type":"message.sent","id":"e","payload":{"id":"m","to":[null],"media":[{"url":"http://[::1"}]}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := ParseEvent(body)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("ParseEvent() error %T %v, want *FieldError", err, err)
			}
			return
		}
		if ev.ID == "" || ev.EventType == "" {
			t.Errorf("accepted an event without id or type: %+v", ev)
		}
		switch ev.EventType {
		case EventMessageReceived:
			if ev.Message.ID == "" || ev.Message.From == "" || ev.Message.To == "" {
				t.Errorf("accepted an inbound message without ids or numbers: %+v", ev.Message)
			}
		case EventMessageSent, EventMessageFinalized:
			if ev.Message.ID == "" || ev.Message.Status == "" {
				t.Errorf("accepted a status event without message id or status: %+v", ev.Message)
			}
		}
	})
}

// FuzzVerify feeds arbitrary headers and bodies to Verify: it must never
// panic, never accept a forged signature, and accept a real one exactly when
// its timestamp is fresh.
func FuzzVerify(f *testing.F) {
	pub := testKey.Public().(ed25519.PublicKey)
	now := strconv.FormatInt(testNow.Unix(), 10)
	f.Add(now, []byte(`{"data":{}}`), "")
	f.Add(now, []byte(`{}`), "AAAA")
	f.Add("-0", []byte(nil), "=")
	f.Fuzz(func(t *testing.T, ts string, body []byte, sig string) {
		if Verify(pub, ts, body, sig, testNow) == nil {
			t.Fatalf("Verify accepted a forged signature %q for timestamp %q", sig, ts)
		}
		// Signed for real, it is accepted exactly when the timestamp is in the
		// window.
		err := Verify(pub, ts, body, sign(t, testKey, ts, body), testNow)
		secs, perr := strconv.ParseInt(ts, 10, 64)
		inWindow := perr == nil && secs >= testNow.Unix()-300 && secs <= testNow.Unix()+300
		if inWindow != (err == nil) {
			t.Fatalf("Verify(real signature, timestamp %q) = %v, want accepted %v", ts, err, inWindow)
		}
	})
}
