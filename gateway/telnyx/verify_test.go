package telnyx

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"strconv"
	"testing"
	"time"
)

// testKey is fixed so failures reproduce; its seed is all 7s.
var testKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))

var testNow = time.Date(2026, 1, 15, 14, 30, 0, 0, time.UTC)

// sign signs as Telnyx does: timestamp, "|", then the raw body.
func sign(t *testing.T, key ed25519.PrivateKey, ts string, body []byte) string {
	t.Helper()
	return base64.StdEncoding.EncodeToString(ed25519.Sign(key, []byte(ts+"|"+string(body))))
}

func TestVerify(t *testing.T) {
	t.Parallel()
	body := []byte(`{"data":{"event_type":"message.received","id":"x"}}`)
	nowTS := strconv.FormatInt(testNow.Unix(), 10)
	at := func(d time.Duration) string { return strconv.FormatInt(testNow.Add(d).Unix(), 10) }
	_, otherKey, _ := ed25519.GenerateKey(nil)

	tests := []struct {
		name    string
		pub     ed25519.PublicKey
		ts      string
		body    []byte
		sig     string
		wantErr error
	}{
		{name: "valid", ts: nowTS, sig: sign(t, testKey, nowTS, body)},
		{name: "exactly five minutes old", ts: at(-5 * time.Minute), sig: sign(t, testKey, at(-5*time.Minute), body)},
		{name: "exactly five minutes ahead", ts: at(5 * time.Minute), sig: sign(t, testKey, at(5*time.Minute), body)},
		{name: "unpadded base64 signature", ts: nowTS, sig: base64.RawStdEncoding.EncodeToString(ed25519.Sign(testKey, append([]byte(nowTS+"|"), body...)))},
		{name: "older than five minutes", ts: at(-5*time.Minute - time.Second), sig: sign(t, testKey, at(-5*time.Minute-time.Second), body), wantErr: ErrStaleTimestamp},
		{name: "more than five minutes ahead", ts: at(5*time.Minute + time.Second), sig: sign(t, testKey, at(5*time.Minute+time.Second), body), wantErr: ErrStaleTimestamp},
		{name: "far-future timestamp does not overflow", ts: "9223372036854775807", sig: sign(t, testKey, "9223372036854775807", body), wantErr: ErrStaleTimestamp},
		{name: "far-past timestamp does not overflow", ts: "-9223372036854775808", sig: sign(t, testKey, "-9223372036854775808", body), wantErr: ErrStaleTimestamp},
		{name: "no signature", ts: nowTS, sig: "", wantErr: ErrMissingSignature},
		{name: "no timestamp", ts: "", sig: sign(t, testKey, nowTS, body), wantErr: ErrMissingSignature},
		{name: "timestamp in milliseconds is stale", ts: strconv.FormatInt(testNow.UnixMilli(), 10), sig: sign(t, testKey, strconv.FormatInt(testNow.UnixMilli(), 10), body), wantErr: ErrStaleTimestamp},
		{name: "timestamp not a number", ts: "2026-01-15T14:30:00Z", sig: sign(t, testKey, "2026-01-15T14:30:00Z", body), wantErr: ErrBadSignature},
		{name: "signature for another timestamp", ts: at(time.Second), sig: sign(t, testKey, nowTS, body), wantErr: ErrBadSignature},
		{name: "body changed", ts: nowTS, body: []byte(`{"data":{"event_type":"message.received","id":"y"}}`), sig: sign(t, testKey, nowTS, body), wantErr: ErrBadSignature},
		{name: "body re-serialised with spaces", ts: nowTS, body: []byte(`{"data": {"event_type": "message.received", "id": "x"}}`), sig: sign(t, testKey, nowTS, body), wantErr: ErrBadSignature},
		{name: "signed by another key", ts: nowTS, sig: sign(t, otherKey, nowTS, body), wantErr: ErrBadSignature},
		{name: "signature not base64", ts: nowTS, sig: "not*base64", wantErr: ErrBadSignature},
		{name: "signature too short", ts: nowTS, sig: base64.StdEncoding.EncodeToString(make([]byte, 63)), wantErr: ErrBadSignature},
		{name: "public key of the wrong size", pub: ed25519.PublicKey(make([]byte, 31)), ts: nowTS, sig: sign(t, testKey, nowTS, body), wantErr: ErrBadPublicKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pub, b := tc.pub, tc.body
			if pub == nil {
				pub = testKey.Public().(ed25519.PublicKey)
			}
			if b == nil {
				b = body
			}
			err := Verify(pub, tc.ts, b, tc.sig, testNow)
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Errorf("Verify() = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestParsePublicKey(t *testing.T) {
	t.Parallel()
	pub := testKey.Public().(ed25519.PublicKey)
	tests := []struct {
		name    string
		in      string
		wantErr bool
	}{
		{name: "padded base64 as the portal shows it", in: base64.StdEncoding.EncodeToString(pub)},
		{name: "unpadded", in: base64.RawStdEncoding.EncodeToString(pub)},
		{name: "pasted with a newline", in: " " + base64.StdEncoding.EncodeToString(pub) + "\n"},
		{name: "empty", in: "", wantErr: true},
		{name: "16 bytes", in: base64.StdEncoding.EncodeToString(pub[:16]), wantErr: true},
		{name: "a 64-byte private key", in: base64.StdEncoding.EncodeToString(testKey), wantErr: true},
		{name: "hex instead of base64", in: "d04ab232742bb4ab3a1368bd4615e4e6d0224ab71a016baf8520a332c9778737", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParsePublicKey(tc.in)
			if tc.wantErr {
				if !errors.Is(err, ErrBadPublicKey) {
					t.Errorf("ParsePublicKey(%q) error = %v, want ErrBadPublicKey", tc.in, err)
				}
				return
			}
			if err != nil || !got.Equal(pub) {
				t.Errorf("ParsePublicKey(%q) = %x, %v, want %x", tc.in, got, err, pub)
			}
		})
	}
}
