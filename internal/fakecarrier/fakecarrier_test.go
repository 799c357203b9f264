package fakecarrier_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"directsms/gateway/telnyx"
	"directsms/gateway/twilio"
	"directsms/internal/fakecarrier"
)

const (
	twilioSID    = "AC0123456789abcdef0123456789abcdef"
	twilioToken  = "twilio-test-token"
	twilioNumber = "+14155550100"
	otherSID     = "ACfedcba9876543210fedcba9876543210"
	otherToken   = "other-token"
	otherNumber  = "+14155550177"
	telnyxKey    = "KEY_telnyx_test"
	telnyxNumber = "+14155550111"
	contact      = "+13125550188"
)

// env is a running fake with one Twilio account, one other Twilio account and
// one Telnyx account, and clients pointed at it.
type env struct {
	fake   *fakecarrier.Fake
	url    string
	twilio *twilio.Client
	telnyx *telnyx.Client
}

func newEnv(t *testing.T, opts ...fakecarrier.Option) *env {
	t.Helper()
	f := fakecarrier.New(opts...)
	f.AddTwilioAccount(twilioSID, twilioToken, twilioNumber)
	f.AddTwilioAccount(otherSID, otherToken, otherNumber)
	f.AddTelnyxAccount(telnyxKey, telnyxNumber)
	srv, err := f.Start()
	if err != nil {
		t.Fatalf("Start() error = %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return &env{fake: f, url: srv.URL(), twilio: &twilio.Client{BaseURL: srv.URL()}, telnyx: &telnyx.Client{BaseURL: srv.URL()}}
}

var (
	twilioAcct = twilio.Account{SID: twilioSID, AuthToken: twilioToken}
	telnyxAcct = telnyx.Account{APIKey: telnyxKey}
)

func (e *env) sendTwilio(t *testing.T, body, callback string) (twilio.SendResult, error) {
	t.Helper()
	return e.twilio.Send(context.Background(), twilioAcct, twilio.SendRequest{From: twilioNumber, To: contact, Body: body, StatusCallback: callback})
}

func (e *env) sendTelnyx(t *testing.T, text, webhook string) (telnyx.SendResult, error) {
	t.Helper()
	return e.telnyx.Send(context.Background(), telnyxAcct, telnyx.SendRequest{From: telnyxNumber, To: contact, Text: text, WebhookURL: webhook})
}

func TestSendsAreRecorded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	tw, err := e.sendTwilio(t, "Your claim is open.", "https://sms.example.com/webhooks/twilio/status")
	if err != nil {
		t.Fatalf("twilio Send() error = %v", err)
	}
	if !strings.HasPrefix(tw.SID, "SM") || len(tw.SID) != 34 || tw.Status != "queued" || tw.Segments != 1 {
		t.Errorf("twilio Send() = %+v, want an SM sid, queued, 1 segment", tw)
	}
	tx, err := e.sendTelnyx(t, strings.Repeat("é", 71), "")
	if err != nil {
		t.Fatalf("telnyx Send() error = %v", err)
	}
	if len(tx.ID) != 36 || tx.Status != "queued" || tx.Segments != 2 {
		t.Errorf("telnyx Send() = %+v, want a UUID, queued, 2 segments", tx)
	}

	want := []fakecarrier.SentMessage{
		{Provider: fakecarrier.Twilio, AccountSID: twilioSID, ID: tw.SID, From: twilioNumber, To: contact, Body: "Your claim is open.", StatusCallback: "https://sms.example.com/webhooks/twilio/status"},
		{Provider: fakecarrier.Telnyx, AccountSID: telnyxKey, ID: tx.ID, From: telnyxNumber, To: contact, Body: strings.Repeat("é", 71)},
	}
	got := e.fake.Sent()
	if len(got) != len(want) {
		t.Fatalf("Sent() = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Sent()[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
	if n := e.fake.SentCount(); n != 2 {
		t.Errorf("SentCount() = %d, want 2", n)
	}
}

func TestAuthenticationIsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		name     string
		send     func() error
		wantCode string
	}{
		{name: "twilio wrong token", wantCode: "20003", send: func() error {
			_, err := e.twilio.Send(context.Background(), twilio.Account{SID: twilioSID, AuthToken: "wrong"}, twilio.SendRequest{From: twilioNumber, To: contact, Body: "hi"})
			return err
		}},
		{name: "twilio unknown account", wantCode: "20003", send: func() error {
			_, err := e.twilio.Send(context.Background(), twilio.Account{SID: "AC00000000000000000000000000000000", AuthToken: twilioToken}, twilio.SendRequest{From: twilioNumber, To: contact, Body: "hi"})
			return err
		}},
		{name: "twilio another account's token", wantCode: "20003", send: func() error {
			_, err := e.twilio.Send(context.Background(), twilio.Account{SID: twilioSID, AuthToken: otherToken}, twilio.SendRequest{From: twilioNumber, To: contact, Body: "hi"})
			return err
		}},
		{name: "twilio number lookup with a wrong token", wantCode: "20003", send: func() error {
			_, err := e.twilio.OwnsNumber(context.Background(), twilio.Account{SID: twilioSID, AuthToken: "wrong"}, twilioNumber)
			return err
		}},
		{name: "telnyx unknown key", wantCode: "10009", send: func() error {
			_, err := e.telnyx.Send(context.Background(), telnyx.Account{APIKey: "KEY_wrong"}, telnyx.SendRequest{From: telnyxNumber, To: contact, Text: "hi"})
			return err
		}},
		{name: "telnyx number lookup with an unknown key", wantCode: "10009", send: func() error {
			_, err := e.telnyx.OwnsNumber(context.Background(), telnyx.Account{APIKey: "KEY_wrong"}, telnyxNumber)
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			status, code, retryable := sendErrorOf(t, tc.send())
			if status != http.StatusUnauthorized || code != tc.wantCode || retryable {
				t.Errorf("error = HTTP %d code %s retryable %v, want HTTP 401 code %s, final", status, code, retryable, tc.wantCode)
			}
		})
	}
	if n := e.fake.SentCount(); n != 0 {
		t.Errorf("SentCount() = %d after refused sends, want 0", n)
	}
}

func TestRequestsWithoutCredentials(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		name, method, path, contentType, body string
	}{
		{"twilio send", http.MethodPost, "/2010-04-01/Accounts/" + twilioSID + "/Messages.json", "application/x-www-form-urlencoded", "To=%2B13125550188&From=%2B14155550100&Body=hi"},
		{"twilio numbers", http.MethodGet, "/2010-04-01/Accounts/" + twilioSID + "/IncomingPhoneNumbers.json", "", ""},
		{"telnyx send", http.MethodPost, "/v2/messages", "application/json", `{"from": "+14155550111", "to": "+13125550188", "text": "hi"}`},
		{"telnyx numbers", http.MethodGet, "/v2/phone_numbers", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequest(tc.method, e.url+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s %s without credentials = %s, want 401", tc.method, tc.path, resp.Status)
			}
		})
	}
}

func TestSendsAreValidatedLikeTheCarriers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		name       string
		send       func() error
		wantStatus int
		wantCode   string
	}{
		{name: "twilio From not on the account", wantStatus: 400, wantCode: "21606", send: func() error {
			_, err := e.twilio.Send(context.Background(), twilioAcct, twilio.SendRequest{From: otherNumber, To: contact, Body: "hi"})
			return err
		}},
		{name: "twilio invalid To", wantStatus: 400, wantCode: "21211", send: func() error {
			_, err := e.twilio.Send(context.Background(), twilioAcct, twilio.SendRequest{From: twilioNumber, To: "555-0100", Body: "hi"})
			return err
		}},
		{name: "twilio empty body", wantStatus: 400, wantCode: "21602", send: func() error {
			_, err := e.twilio.Send(context.Background(), twilioAcct, twilio.SendRequest{From: twilioNumber, To: contact})
			return err
		}},
		{name: "twilio body over 1600 characters", wantStatus: 400, wantCode: "21617", send: func() error {
			_, err := e.twilio.Send(context.Background(), twilioAcct, twilio.SendRequest{From: twilioNumber, To: contact, Body: strings.Repeat("x", 1601)})
			return err
		}},
		{name: "twilio relative StatusCallback", wantStatus: 400, wantCode: "21609", send: func() error {
			_, err := e.twilio.Send(context.Background(), twilioAcct, twilio.SendRequest{From: twilioNumber, To: contact, Body: "hi", StatusCallback: "/status"})
			return err
		}},
		{name: "telnyx from not on the account", wantStatus: 400, wantCode: "40305", send: func() error {
			_, err := e.telnyx.Send(context.Background(), telnyxAcct, telnyx.SendRequest{From: twilioNumber, To: contact, Text: "hi"})
			return err
		}},
		{name: "telnyx invalid to", wantStatus: 400, wantCode: "40310", send: func() error {
			_, err := e.telnyx.Send(context.Background(), telnyxAcct, telnyx.SendRequest{From: telnyxNumber, To: "+0123", Text: "hi"})
			return err
		}},
		{name: "telnyx empty text", wantStatus: 400, wantCode: "10004", send: func() error {
			_, err := e.telnyx.Send(context.Background(), telnyxAcct, telnyx.SendRequest{From: telnyxNumber, To: contact})
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			status, code, retryable := sendErrorOf(t, tc.send())
			if status != tc.wantStatus || code != tc.wantCode || retryable {
				t.Errorf("error = HTTP %d code %s retryable %v, want HTTP %d code %s, final", status, code, retryable, tc.wantStatus, tc.wantCode)
			}
		})
	}
	if n := e.fake.SentCount(); n != 0 {
		t.Errorf("SentCount() = %d after refused sends, want 0", n)
	}
}

func TestScriptedFailures(t *testing.T) {
	t.Parallel()
	type outcome struct {
		provider  fakecarrier.Provider
		status    int    // 0 with ok false: no response at all
		code      string // empty for success or a non-carrier body
		ok        bool
		retryable bool
		optedOut  bool
	}
	ok := func(p fakecarrier.Provider) outcome { return outcome{provider: p, ok: true} }
	tests := []struct {
		name   string
		script func(f *fakecarrier.Fake)
		want   []outcome
	}{
		{
			name:   "one server error, then normal",
			script: func(f *fakecarrier.Fake) { f.FailNext(1, 500, 0) },
			want:   []outcome{{provider: fakecarrier.Twilio, status: 500, retryable: true}, ok(fakecarrier.Twilio)},
		},
		{
			name:   "two rate limits, then normal",
			script: func(f *fakecarrier.Fake) { f.FailNextFor(fakecarrier.Telnyx, 2, 429, 10011) },
			want: []outcome{
				{provider: fakecarrier.Telnyx, status: 429, code: "10011", retryable: true},
				{provider: fakecarrier.Telnyx, status: 429, code: "10011", retryable: true},
				ok(fakecarrier.Telnyx),
			},
		},
		{
			name:   "twilio unsubscribed recipient leaves telnyx alone",
			script: func(f *fakecarrier.Fake) { f.FailNextFor(fakecarrier.Twilio, 1, 400, 21610) },
			want:   []outcome{ok(fakecarrier.Telnyx), {provider: fakecarrier.Twilio, status: 400, code: "21610", optedOut: true}, ok(fakecarrier.Twilio)},
		},
		{
			name:   "telnyx STOP block leaves twilio alone",
			script: func(f *fakecarrier.Fake) { f.FailNextFor(fakecarrier.Telnyx, 1, 409, 40300) },
			want:   []outcome{ok(fakecarrier.Twilio), {provider: fakecarrier.Telnyx, status: 409, code: "40300", optedOut: true}, ok(fakecarrier.Telnyx)},
		},
		{
			name:   "a global failure goes to whichever carrier sends first",
			script: func(f *fakecarrier.Fake) { f.FailNext(1, 503, 0) },
			want:   []outcome{{provider: fakecarrier.Telnyx, status: 503, retryable: true}, ok(fakecarrier.Twilio), ok(fakecarrier.Telnyx)},
		},
		{
			name: "scripts run in the order given",
			script: func(f *fakecarrier.Fake) {
				f.FailNext(1, 500, 20500)
				f.FailNextFor(fakecarrier.Twilio, 1, 429, 20429)
			},
			want: []outcome{
				{provider: fakecarrier.Twilio, status: 500, code: "20500", retryable: true},
				{provider: fakecarrier.Twilio, status: 429, code: "20429", retryable: true},
				ok(fakecarrier.Twilio),
			},
		},
		{
			name:   "a dropped connection is a retryable transport error",
			script: func(f *fakecarrier.Fake) { f.FailNext(1, 0, 0) },
			want:   []outcome{{provider: fakecarrier.Twilio, retryable: true}, ok(fakecarrier.Twilio)},
		},
		{
			name:   "a count of zero scripts nothing",
			script: func(f *fakecarrier.Fake) { f.FailNext(0, 500, 0) },
			want:   []outcome{ok(fakecarrier.Twilio)},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			tc.script(e.fake)
			successes := 0
			for i, w := range tc.want {
				var err error
				if w.provider == fakecarrier.Twilio {
					_, err = e.sendTwilio(t, "hi", "")
				} else {
					_, err = e.sendTelnyx(t, "hi", "")
				}
				if w.ok {
					successes++
					if err != nil {
						t.Errorf("send %d (%s) error = %v, want success", i, w.provider, err)
					}
					continue
				}
				status, code, retryable := sendErrorOf(t, err)
				optedOut := optedOutOf(err)
				if status != w.status || code != w.code || retryable != w.retryable || optedOut != w.optedOut {
					t.Errorf("send %d (%s) = HTTP %d code %q retryable %v opted out %v, want HTTP %d code %q retryable %v opted out %v",
						i, w.provider, status, code, retryable, optedOut, w.status, w.code, w.retryable, w.optedOut)
				}
			}
			if n := e.fake.SentCount(); n != successes {
				t.Errorf("SentCount() = %d, want %d: failed sends are not recorded", n, successes)
			}
		})
	}
}

func TestScriptedFailureWaitsForAuthenticatedSend(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fake.FailNext(1, 500, 0)
	_, err := e.twilio.Send(context.Background(), twilio.Account{SID: twilioSID, AuthToken: "wrong"}, twilio.SendRequest{From: twilioNumber, To: contact, Body: "hi"})
	if status, _, _ := sendErrorOf(t, err); status != http.StatusUnauthorized {
		t.Fatalf("send with a wrong token = HTTP %d, want 401", status)
	}
	_, err = e.sendTwilio(t, "hi", "")
	if status, _, _ := sendErrorOf(t, err); status != http.StatusInternalServerError {
		t.Errorf("next authenticated send = HTTP %d, want the scripted 500", status)
	}
}

func TestOwnsNumber(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		name   string
		owns   func() (bool, error)
		wantOK bool
	}{
		{name: "twilio own number", wantOK: true, owns: func() (bool, error) {
			return e.twilio.OwnsNumber(context.Background(), twilioAcct, twilioNumber)
		}},
		{name: "twilio another account's number", owns: func() (bool, error) {
			return e.twilio.OwnsNumber(context.Background(), twilioAcct, otherNumber)
		}},
		{name: "twilio unknown number", owns: func() (bool, error) {
			return e.twilio.OwnsNumber(context.Background(), twilioAcct, "+14155550199")
		}},
		{name: "twilio a prefix of an owned number", owns: func() (bool, error) {
			return e.twilio.OwnsNumber(context.Background(), twilioAcct, "+1415555")
		}},
		{name: "telnyx own number", wantOK: true, owns: func() (bool, error) {
			return e.telnyx.OwnsNumber(context.Background(), telnyxAcct, telnyxNumber)
		}},
		{name: "telnyx another carrier's number", owns: func() (bool, error) {
			return e.telnyx.OwnsNumber(context.Background(), telnyxAcct, twilioNumber)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := tc.owns()
			if err != nil || got != tc.wantOK {
				t.Errorf("OwnsNumber() = %v, %v, want %v, nil", got, err, tc.wantOK)
			}
		})
	}
}

// TestTelnyxFilterMatchesDigitsOnly pins the documented Telnyx behaviour the
// client relies on: a "+" in filter[phone_number] matches nothing.
func TestTelnyxFilterMatchesDigitsOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for filter, want := range map[string]int{"+14155550111": 0, "14155550111": 1, "5550111": 1, "": 1} {
		req, _ := http.NewRequest(http.MethodGet, e.url+"/v2/phone_numbers?"+url.Values{"filter[phone_number]": {filter}}.Encode(), nil)
		req.Header.Set("Authorization", "Bearer "+telnyxKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := strings.Count(string(body), `"phone_number":`); got != want {
			t.Errorf("filter[phone_number]=%q listed %d numbers, want %d: %s", filter, got, want, body)
		}
	}
}

func TestUnknownRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		method, path string
		wantStatus   int
	}{
		{http.MethodGet, "/2010-04-01/Accounts/" + twilioSID + "/Calls.json", 404},
		{http.MethodGet, "/v2/calls", 404},
		{http.MethodGet, "/v2/messages", 405},
		{http.MethodDelete, "/2010-04-01/Accounts/" + twilioSID + "/Messages.json", 405},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			t.Parallel()
			req, _ := http.NewRequest(tc.method, e.url+tc.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("%s %s = %s, want %d", tc.method, tc.path, resp.Status, tc.wantStatus)
			}
		})
	}
}

func TestConcurrentSends(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const perCarrier = 25
	var wg sync.WaitGroup
	errs := make(chan error, 2*perCarrier)
	for i := range perCarrier {
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, err := e.sendTwilio(t, fmt.Sprint("twilio ", i), "")
			errs <- err
		}()
		go func() {
			defer wg.Done()
			_, err := e.sendTelnyx(t, fmt.Sprint("telnyx ", i), "")
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent send error = %v", err)
		}
	}
	ids := map[string]bool{}
	for _, m := range e.fake.Sent() {
		ids[m.ID] = true
	}
	if n := e.fake.SentCount(); n != 2*perCarrier || len(ids) != n {
		t.Errorf("SentCount() = %d with %d distinct ids, want %d distinct", n, len(ids), 2*perCarrier)
	}
}

// sendErrorOf returns the HTTP status, carrier code and retryability of a
// carrier client's error.
func sendErrorOf(t *testing.T, err error) (status int, code string, retryable bool) {
	t.Helper()
	var tw *twilio.SendError
	var tx *telnyx.SendError
	switch {
	case errors.As(err, &tw):
		if tw.Code != 0 {
			code = fmt.Sprint(tw.Code)
		}
		return tw.HTTPStatus, code, tw.Retryable()
	case errors.As(err, &tx):
		return tx.HTTPStatus, tx.Code, tx.Retryable()
	default:
		t.Fatalf("error = %v (%T), want a carrier SendError", err, err)
		return 0, "", false
	}
}

func optedOutOf(err error) bool {
	var tw *twilio.SendError
	var tx *telnyx.SendError
	return errors.As(err, &tw) && tw.OptedOut() || errors.As(err, &tx) && tx.OptedOut()
}

// receiver is a gateway stand-in that verifies callbacks with the gateway
// packages and records what it accepted.
type receiver struct {
	url       string
	telnyxKey func() string
	now       func() time.Time

	mu      sync.Mutex
	twilio  []twilio.StatusCallback
	telnyx  []telnyx.Event
	inbound []twilio.Inbound
	refused []string
}

func newReceiver(t *testing.T, f *fakecarrier.Fake) *receiver {
	t.Helper()
	rc := &receiver{telnyxKey: f.TelnyxPublicKey, now: time.Now}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	rc.url = srv.URL
	return rc
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	refuse := func(why string) {
		rc.refused = append(rc.refused, r.URL.Path+": "+why)
		http.Error(w, why, http.StatusForbidden)
	}
	switch r.URL.Path {
	case "/twilio/status", "/twilio/messages":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			refuse(err.Error())
			return
		}
		// The URL Twilio signs is the public one, query included.
		if !twilio.ValidSignature(twilioToken, rc.url+r.URL.RequestURI(), form, r.Header.Get(twilio.SignatureHeader)) {
			refuse("bad twilio signature")
			return
		}
		if r.URL.Path == "/twilio/messages" {
			in, err := twilio.ParseInbound(form)
			if err != nil {
				refuse(err.Error())
				return
			}
			rc.inbound = append(rc.inbound, in)
			w.Header().Set("Content-Type", "text/xml")
			io.WriteString(w, twilio.ResponseXML)
			return
		}
		cb, err := twilio.ParseStatus(form)
		if err != nil {
			refuse(err.Error())
			return
		}
		rc.twilio = append(rc.twilio, cb)
	case "/telnyx":
		key, err := telnyx.ParsePublicKey(rc.telnyxKey())
		if err != nil {
			refuse(err.Error())
			return
		}
		if err := telnyx.Verify(key, r.Header.Get(telnyx.TimestampHeader), body, r.Header.Get(telnyx.SignatureHeader), rc.now()); err != nil {
			refuse(err.Error())
			return
		}
		ev, err := telnyx.ParseEvent(body)
		if err != nil {
			refuse(err.Error())
			return
		}
		rc.telnyx = append(rc.telnyx, ev)
	default:
		http.NotFound(w, r)
	}
}

func (rc *receiver) snapshot() ([]twilio.StatusCallback, []telnyx.Event, []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.twilio), slices.Clone(rc.telnyx), slices.Clone(rc.refused)
}

func (rc *receiver) inboundTexts() []twilio.Inbound {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.inbound)
}
