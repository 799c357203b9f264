package fakecarrier_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"directsms/gateway/telnyx"
	"directsms/gateway/twilio"
	"directsms/internal/fakecarrier"
)

func TestAutoCallbacksAreSignedAndInOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fakecarrier.WithAutoCallbacks(0))
	rc := newReceiver(t, e.fake)

	tw, err := e.sendTwilio(t, "hi", rc.url+"/twilio/status?tenant=7&msg=42")
	if err != nil {
		t.Fatalf("twilio Send() error = %v", err)
	}
	tx, err := e.sendTelnyx(t, "hi", rc.url+"/telnyx")
	if err != nil {
		t.Fatalf("telnyx Send() error = %v", err)
	}
	// Without a callback URL nothing is posted.
	if _, err := e.sendTwilio(t, "no callback", ""); err != nil {
		t.Fatalf("twilio Send() error = %v", err)
	}
	e.fake.Wait()

	twCallbacks, txEvents, refused := rc.snapshot()
	if len(refused) != 0 {
		t.Fatalf("the receiver refused callbacks: %q", refused)
	}
	wantTw := []twilio.StatusCallback{
		{MessageSid: tw.SID, AccountSid: twilioSID, MessageStatus: "sent"},
		{MessageSid: tw.SID, AccountSid: twilioSID, MessageStatus: "delivered"},
	}
	if len(twCallbacks) != len(wantTw) || twCallbacks[0] != wantTw[0] || twCallbacks[1] != wantTw[1] {
		t.Errorf("twilio callbacks = %+v, want %+v", twCallbacks, wantTw)
	}
	if len(txEvents) != 2 {
		t.Fatalf("telnyx events = %+v, want message.sent then message.finalized", txEvents)
	}
	for i, want := range []struct{ eventType, status string }{{"message.sent", "sent"}, {"message.finalized", "delivered"}} {
		ev := txEvents[i]
		if ev.EventType != want.eventType || ev.Message.ID != tx.ID || ev.Message.Status != want.status || ev.Message.To != contact || ev.Message.From != telnyxNumber {
			t.Errorf("telnyx event %d = %+v, want %s for %s with status %s", i, ev, want.eventType, tx.ID, want.status)
		}
	}
	if txEvents[0].ID == txEvents[1].ID {
		t.Errorf("both telnyx events have id %s, want distinct event ids", txEvents[0].ID)
	}
}

func TestAutoCallbacksOffByDefault(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := newReceiver(t, e.fake)
	if _, err := e.sendTwilio(t, "hi", rc.url+"/twilio/status"); err != nil {
		t.Fatal(err)
	}
	e.fake.Wait()
	if tw, _, _ := rc.snapshot(); len(tw) != 0 {
		t.Errorf("callbacks = %+v without WithAutoCallbacks, want none", tw)
	}
}

func TestCloseStopsPendingCallbacks(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fakecarrier.WithAutoCallbacks(time.Hour))
	rc := newReceiver(t, e.fake)
	if _, err := e.sendTwilio(t, "hi", rc.url+"/twilio/status"); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		e.fake.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close() did not return while a callback was waiting")
	}
	if tw, _, _ := rc.snapshot(); len(tw) != 0 {
		t.Errorf("callbacks = %+v after Close, want none", tw)
	}
}

func TestPostTwilioStatus(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := newReceiver(t, e.fake)
	withCallback, err := e.sendTwilio(t, "hi", rc.url+"/twilio/status")
	if err != nil {
		t.Fatal(err)
	}
	withoutCallback, err := e.sendTwilio(t, "hi", "")
	if err != nil {
		t.Fatal(err)
	}
	failing, err := e.sendTwilio(t, "hi", rc.url+"/nowhere")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		sid       string
		status    string
		errorCode string
		wantErr   string
		want      *twilio.StatusCallback
	}{
		{name: "undelivered with an error code", sid: withCallback.SID, status: "undelivered", errorCode: "30003",
			want: &twilio.StatusCallback{MessageSid: withCallback.SID, AccountSid: twilioSID, MessageStatus: "undelivered", ErrorCode: "30003"}},
		{name: "unknown message", sid: "SM00000000000000000000000000000000", status: "sent", wantErr: "no twilio message"},
		{name: "message without a StatusCallback", sid: withoutCallback.SID, status: "sent", wantErr: "no StatusCallback"},
		{name: "receiver answers 404", sid: failing.SID, status: "sent", wantErr: "404"},
	}
	// Sequential: each case looks at the last callback the receiver got.
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := e.fake.PostTwilioStatus(context.Background(), tc.sid, tc.status, tc.errorCode)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("PostTwilioStatus() error = %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("PostTwilioStatus() error = %v", err)
			}
			got, _, refused := rc.snapshot()
			if len(refused) != 0 || len(got) == 0 || got[len(got)-1] != *tc.want {
				t.Errorf("received %+v (refused %q), want %+v last", got, refused, *tc.want)
			}
		})
	}
}

func TestPostTelnyxEvent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := newReceiver(t, e.fake)
	sent, err := e.sendTelnyx(t, "hi", rc.url+"/telnyx")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.fake.PostTelnyxEvent(context.Background(), sent.ID, "message.finalized", "delivery_failed", "40008"); err != nil {
		t.Fatalf("PostTelnyxEvent() error = %v", err)
	}
	_, events, refused := rc.snapshot()
	if len(refused) != 0 || len(events) != 1 {
		t.Fatalf("received %+v (refused %q), want one event", events, refused)
	}
	m := events[0].Message
	if events[0].EventType != "message.finalized" || m.ID != sent.ID || m.Status != "delivery_failed" ||
		len(m.Errors) != 1 || m.Errors[0].Code != "40008" || m.Errors[0].Title != "Undeliverable" {
		t.Errorf("event = %+v, want message.finalized delivery_failed with error 40008 Undeliverable", events[0])
	}

	failures := []struct {
		name string
		post func() error
	}{
		{"unknown message", func() error { return e.fake.PostTelnyxEvent(context.Background(), "nope", "message.sent", "sent", "") }},
		{"error code not a number", func() error {
			return e.fake.PostTelnyxEvent(context.Background(), sent.ID, "message.sent", "sent", "oops")
		}},
		{"a telnyx id given to the twilio poster", func() error { return e.fake.PostTwilioStatus(context.Background(), sent.ID, "sent", "") }},
	}
	for _, tc := range failures {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := tc.post(); err == nil {
				t.Errorf("error = nil, want an error")
			}
		})
	}
}

func TestTwilioInboundValidatesAndParses(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := newReceiver(t, e.fake)
	const body = "Café + crème = 1+1 🎉"
	publicURL := rc.url + "/twilio/messages"

	form, sig := fakecarrier.TwilioInbound(twilioSID, twilioToken, publicURL, contact, twilioNumber, body)
	// What the gateway sees is the encoded body decoded again.
	decoded, err := url.ParseQuery(form.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if !twilio.ValidSignature(twilioToken, publicURL, decoded, sig) {
		t.Errorf("ValidSignature() = false for TwilioInbound's own signature")
	}
	in, err := twilio.ParseInbound(decoded)
	if err != nil {
		t.Fatalf("ParseInbound() error = %v", err)
	}
	if in.AccountSid != twilioSID || in.From != contact || in.To != twilioNumber || in.Body != body || !strings.HasPrefix(in.MessageSid, "SM") || in.NumSegments != 1 {
		t.Errorf("ParseInbound() = %+v, want the SMS that was built", in)
	}

	// Posted over HTTP, as a load tool would.
	req, _ := http.NewRequest(http.MethodPost, publicURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(twilio.SignatureHeader, sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := rc.inboundTexts(); resp.StatusCode != http.StatusOK || len(got) != 1 || !reflect.DeepEqual(got[0], in) {
		_, _, refused := rc.snapshot()
		t.Errorf("posting the inbound webhook = %s, received %+v (refused %q), want 200 and %+v", resp.Status, got, refused, in)
	}

	second, _ := fakecarrier.TwilioInbound(twilioSID, twilioToken, publicURL, contact, twilioNumber, body)
	if second.Get("MessageSid") == form.Get("MessageSid") {
		t.Errorf("two inbound webhooks share MessageSid %s, want fresh ids", form.Get("MessageSid"))
	}
}

func TestTelnyxInboundVerifiesAndParses(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 15, 14, 30, 0, 0, time.UTC)
	f := fakecarrier.New(fakecarrier.WithClock(func() time.Time { return at }))
	body, headers := f.TelnyxInbound(contact, telnyxNumber, "Voilà 📷")

	if got, want := headers.Get(telnyx.TimestampHeader), strconv.FormatInt(at.Unix(), 10); got != want {
		t.Errorf("timestamp header = %q, want %q from the fake's clock", got, want)
	}
	if ct := headers.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	key, err := telnyx.ParsePublicKey(f.TelnyxPublicKey())
	if err != nil {
		t.Fatalf("ParsePublicKey(TelnyxPublicKey()) error = %v", err)
	}
	if err := telnyx.Verify(key, headers.Get(telnyx.TimestampHeader), body, headers.Get(telnyx.SignatureHeader), at.Add(time.Minute)); err != nil {
		t.Errorf("Verify() = %v, want nil", err)
	}
	if err := telnyx.Verify(key, headers.Get(telnyx.TimestampHeader), body, headers.Get(telnyx.SignatureHeader), at.Add(time.Hour)); err == nil {
		t.Errorf("Verify() an hour later = nil, want a stale timestamp")
	}
	ev, err := telnyx.ParseEvent(body)
	if err != nil {
		t.Fatalf("ParseEvent() error = %v", err)
	}
	if ev.EventType != telnyx.EventMessageReceived || !ev.OccurredAt.Equal(at) || ev.Message.From != contact ||
		ev.Message.To != telnyxNumber || ev.Message.Text != "Voilà 📷" || ev.ID == "" || ev.Message.ID == "" {
		t.Errorf("ParseEvent() = %+v, want the message.received that was built", ev)
	}
}

func TestWithTelnyxKey(t *testing.T) {
	t.Parallel()
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, ed25519.SeedSize))
	f := fakecarrier.New(fakecarrier.WithTelnyxKey(priv))
	want := base64.StdEncoding.EncodeToString(priv.Public().(ed25519.PublicKey))
	if got := f.TelnyxPublicKey(); got != want {
		t.Errorf("TelnyxPublicKey() = %q, want %q: a dev database keeps the key between runs", got, want)
	}
	if other := fakecarrier.New().TelnyxPublicKey(); other == fakecarrier.New().TelnyxPublicKey() {
		t.Errorf("two fakes without WithTelnyxKey share key %q, want fresh keys", other)
	}
}
