package twilio

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const testToken = "tok-0123456789abcdef-secret"

var testAccount = Account{SID: testAccountSid, AuthToken: testToken}

// twilioStub answers every request with status and body and remembers the
// last request, with its form already parsed.
type twilioStub struct {
	status int
	body   string

	mu   sync.Mutex
	req  *http.Request
	form url.Values
}

func (s *twilioStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(raw))
	s.mu.Lock()
	s.req, s.form = r, form
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(s.status)
	io.WriteString(w, s.body)
}

func (s *twilioStub) last(t *testing.T) (*http.Request, url.Values) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.req == nil {
		t.Fatal("the stub received no request")
	}
	return s.req, s.form
}

func newStub(t *testing.T, status int, body string) (*twilioStub, *Client) {
	t.Helper()
	stub := &twilioStub{status: status, body: body}
	srv := httptest.NewServer(stub)
	t.Cleanup(srv.Close)
	return stub, &Client{BaseURL: srv.URL + "/", HTTP: srv.Client()}
}

const createdJSON = `{"account_sid": "` + testAccountSid + `", "api_version": "2010-04-01",
 "body": "Your appointment is confirmed.", "date_created": "Thu, 15 Jan 2026 14:30:00 +0000",
 "date_sent": null, "date_updated": "Thu, 15 Jan 2026 14:30:00 +0000", "direction": "outbound-api",
 "error_code": null, "error_message": null, "from": "+14155550100", "messaging_service_sid": null,
 "num_media": "0", "num_segments": "2", "price": null, "price_unit": "USD",
 "sid": "SMfedcba9876543210fedcba9876543210", "status": "queued",
 "subresource_uris": {"media": "/2010-04-01/Accounts/` + testAccountSid + `/Messages/SMfedcba9876543210fedcba9876543210/Media.json"},
 "to": "+14155550199", "uri": "/2010-04-01/Accounts/` + testAccountSid + `/Messages/SMfedcba9876543210fedcba9876543210.json"}`

func twilioError(code int, message string, status int) string {
	return `{"code": ` + strconv.Itoa(code) + `, "message": "` + message + `", "more_info": "https://www.twilio.com/docs/errors/` + strconv.Itoa(code) + `", "status": ` + strconv.Itoa(status) + `}`
}

func TestClientSendRequest(t *testing.T) {
	t.Parallel()
	stub, c := newStub(t, http.StatusCreated, createdJSON)
	msg := SendRequest{From: "+14155550100", To: "+14155550199", Body: "Your appointment is confirmed.", StatusCallback: "https://sms.example.com/webhooks/twilio/status?tenant=7"}

	got, err := c.Send(context.Background(), testAccount, msg)
	if err != nil {
		t.Fatalf("Send() error = %v, want nil", err)
	}
	if want := (SendResult{SID: "SMfedcba9876543210fedcba9876543210", Status: "queued", Segments: 2}); got != want {
		t.Errorf("Send() = %+v, want %+v", got, want)
	}

	req, form := stub.last(t)
	if req.Method != http.MethodPost {
		t.Errorf("method = %s, want POST", req.Method)
	}
	if want := "/2010-04-01/Accounts/" + testAccountSid + "/Messages.json"; req.URL.Path != want {
		t.Errorf("path = %q, want %q", req.URL.Path, want)
	}
	if user, pass, ok := req.BasicAuth(); !ok || user != testAccountSid || pass != testToken {
		t.Errorf("basic auth = %q, %q, %v, want the account SID and token", user, pass, ok)
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type = %q, want application/x-www-form-urlencoded", ct)
	}
	wantForm := url.Values{"From": {msg.From}, "To": {msg.To}, "Body": {msg.Body}, "StatusCallback": {msg.StatusCallback}}
	if form.Encode() != wantForm.Encode() {
		t.Errorf("form = %v, want %v", form, wantForm)
	}
}

func TestClientSendOmitsEmptyStatusCallback(t *testing.T) {
	t.Parallel()
	stub, c := newStub(t, http.StatusCreated, createdJSON)
	if _, err := c.Send(context.Background(), testAccount, SendRequest{From: "+14155550100", To: "+14155550199", Body: "hi"}); err != nil {
		t.Fatalf("Send() error = %v, want nil", err)
	}
	if _, form := stub.last(t); form.Has("StatusCallback") {
		t.Errorf("form has StatusCallback %q, want none", form.Get("StatusCallback"))
	}
}

func TestClientSendResponses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		status        int
		body          string
		want          SendResult
		wantErr       *SendError
		wantRetryable bool
		wantOptedOut  bool
	}{
		{
			name: "messaging service does not know segments yet", status: http.StatusCreated,
			body: `{"sid": "SM00000000000000000000000000000001", "status": "accepted", "num_segments": "0"}`,
			want: SendResult{SID: "SM00000000000000000000000000000001", Status: "accepted"},
		},
		{
			name: "unreadable num_segments does not fail an accepted send", status: http.StatusCreated,
			body: `{"sid": "SM00000000000000000000000000000001", "status": "queued", "num_segments": null}`,
			want: SendResult{SID: "SM00000000000000000000000000000001", Status: "queued"},
		},
		{name: "invalid To is final", status: 400, body: twilioError(21211, "Invalid 'To' Phone Number: +1555", 400), wantErr: &SendError{HTTPStatus: 400, Code: 21211, Message: "Invalid 'To' Phone Number: +1555"}},
		{name: "unsubscribed recipient is an opt-out", status: 400, body: twilioError(21610, "Attempt to send to unsubscribed recipient", 400), wantErr: &SendError{HTTPStatus: 400, Code: 21610, Message: "Attempt to send to unsubscribed recipient"}, wantOptedOut: true},
		{name: "not a mobile number is final", status: 400, body: twilioError(21614, "'To' number is not a valid mobile number", 400), wantErr: &SendError{HTTPStatus: 400, Code: 21614, Message: "'To' number is not a valid mobile number"}},
		{name: "bad credentials are final", status: 401, body: twilioError(20003, "Authenticate", 401), wantErr: &SendError{HTTPStatus: 401, Code: 20003, Message: "Authenticate"}},
		{name: "rate limit is retried", status: 429, body: twilioError(20429, "Too Many Requests", 429), wantErr: &SendError{HTTPStatus: 429, Code: 20429, Message: "Too Many Requests"}, wantRetryable: true},
		{name: "429 without a body is retried", status: 429, body: "", wantErr: &SendError{HTTPStatus: 429, Message: "Too Many Requests"}, wantRetryable: true},
		{name: "unreachable handset may be transient", status: 400, body: twilioError(30003, "Unreachable destination handset", 400), wantErr: &SendError{HTTPStatus: 400, Code: 30003, Message: "Unreachable destination handset"}, wantRetryable: true},
		{name: "server error is retried", status: 500, body: twilioError(20500, "An internal server error has occurred", 500), wantErr: &SendError{HTTPStatus: 500, Code: 20500, Message: "An internal server error has occurred"}, wantRetryable: true},
		{name: "a proxy's HTML error page keeps the status", status: 502, body: "<html><body>Bad Gateway</body></html>", wantErr: &SendError{HTTPStatus: 502, Message: "Bad Gateway"}, wantRetryable: true},
		{name: "accepted without a sid is not retried", status: http.StatusCreated, body: `{"status": "queued"}`, wantErr: &SendError{HTTPStatus: 201, Message: "response has no sid"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, c := newStub(t, tc.status, tc.body)
			got, err := c.Send(context.Background(), testAccount, SendRequest{From: "+14155550100", To: "+14155550199", Body: "hi"})
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Send() error = %v, want nil", err)
				}
				if got != tc.want {
					t.Errorf("Send() = %+v, want %+v", got, tc.want)
				}
				return
			}
			var se *SendError
			if !errors.As(err, &se) {
				t.Fatalf("Send() error = %v (%T), want *SendError", err, err)
			}
			if *se != *tc.wantErr {
				t.Errorf("Send() error = %+v, want %+v", *se, *tc.wantErr)
			}
			if se.Retryable() != tc.wantRetryable {
				t.Errorf("Retryable() = %v, want %v", se.Retryable(), tc.wantRetryable)
			}
			if se.OptedOut() != tc.wantOptedOut {
				t.Errorf("OptedOut() = %v, want %v", se.OptedOut(), tc.wantOptedOut)
			}
			if strings.Contains(err.Error(), testToken) {
				t.Errorf("error %q contains the auth token", err)
			}
		})
	}
}

func TestClientSendUndecodableSuccessIsNotRetried(t *testing.T) {
	t.Parallel()
	_, c := newStub(t, http.StatusCreated, `{"sid": `)
	_, err := c.Send(context.Background(), testAccount, SendRequest{From: "+14155550100", To: "+14155550199", Body: "hi"})
	var se *SendError
	if !errors.As(err, &se) {
		t.Fatalf("Send() error = %v (%T), want *SendError", err, err)
	}
	if se.Retryable() {
		t.Errorf("Retryable() = true for a 201 Twilio accepted, want false: a retry would send twice")
	}
}

func TestClientSendTransportErrors(t *testing.T) {
	t.Parallel()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The server notices a client hang-up only once the body is read.
		io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	t.Cleanup(slow.Close)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	canceled, cancel := context.WithCancel(context.Background())
	cancel()

	tests := []struct {
		name    string
		client  *Client
		ctx     context.Context
		wantIs  error
		wantMsg string
	}{
		{name: "connection refused", client: &Client{BaseURL: closed.URL}, ctx: context.Background(), wantMsg: "connect"},
		{name: "client timeout", client: &Client{BaseURL: slow.URL, HTTP: &http.Client{Timeout: 50 * time.Millisecond}}, ctx: context.Background(), wantMsg: "Timeout"},
		{name: "cancelled context", client: &Client{BaseURL: slow.URL}, ctx: canceled, wantIs: context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := tc.client.Send(tc.ctx, testAccount, SendRequest{From: "+14155550100", To: "+14155550199", Body: "hi"})
			var se *SendError
			if !errors.As(err, &se) {
				t.Fatalf("Send() error = %v (%T), want *SendError", err, err)
			}
			if se.HTTPStatus != 0 || !se.Retryable() {
				t.Errorf("SendError = %+v, Retryable() = %v, want HTTPStatus 0 and retryable", se, se.Retryable())
			}
			var ue *url.Error
			if !errors.As(err, &ue) {
				t.Errorf("errors.As(%v, *url.Error) = false, want the transport error kept", err)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false, want true", err, tc.wantIs)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not mention %q", err, tc.wantMsg)
			}
			if strings.Contains(err.Error(), testToken) {
				t.Errorf("error %q contains the auth token", err)
			}
		})
	}
}

func TestClientRefusesUnusableAccounts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		acct Account
	}{
		{name: "empty SID", acct: Account{AuthToken: testToken}},
		{name: "SID with a path in it", acct: Account{SID: "AC0123456789abcdef0123456789abcdef/../x", AuthToken: testToken}},
		{name: "not an account SID", acct: Account{SID: testMessageSid, AuthToken: testToken}},
		{name: "no token", acct: Account{SID: testAccountSid}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stub, c := newStub(t, http.StatusCreated, createdJSON)
			_, sendErr := c.Send(context.Background(), tc.acct, SendRequest{From: "+14155550100", To: "+14155550199", Body: "hi"})
			_, ownErr := c.OwnsNumber(context.Background(), tc.acct, "+14155550100")
			for _, err := range []error{sendErr, ownErr} {
				var se *SendError
				if err == nil || errors.As(err, &se) {
					t.Errorf("error = %v, want a plain error: nothing was sent", err)
				}
			}
			stub.mu.Lock()
			defer stub.mu.Unlock()
			if stub.req != nil {
				t.Errorf("a request reached Twilio: %s %s", stub.req.Method, stub.req.URL)
			}
		})
	}
}

func TestClientOwnsNumber(t *testing.T) {
	t.Parallel()
	list := func(numbers ...string) string {
		var items []string
		for i, n := range numbers {
			items = append(items, `{"sid": "PN0000000000000000000000000000000`+strconv.Itoa(i)+`", "phone_number": "`+n+`", "friendly_name": "support"}`)
		}
		return `{"first_page_uri": "/x", "end": 0, "previous_page_uri": null, "incoming_phone_numbers": [` +
			strings.Join(items, ",") + `], "uri": "/x", "page_size": 50, "start": 0, "next_page_uri": null, "page": 0}`
	}
	tests := []struct {
		name    string
		status  int
		body    string
		want    bool
		wantErr bool
	}{
		{name: "listed", status: 200, body: list("+14155550100"), want: true},
		{name: "not listed", status: 200, body: list(), want: false},
		{name: "only a partial match is listed", status: 200, body: list("+114155550100"), want: false},
		{name: "listed among others", status: 200, body: list("+14155550101", "+14155550100"), want: true},
		{name: "wrong credentials", status: 401, body: twilioError(20003, "Authenticate", 401), wantErr: true},
		{name: "garbage answer", status: 200, body: "<xml/>", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stub, c := newStub(t, tc.status, tc.body)
			got, err := c.OwnsNumber(context.Background(), testAccount, "+14155550100")
			if (err != nil) != tc.wantErr {
				t.Fatalf("OwnsNumber() error = %v, want error %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("OwnsNumber() = %v, want %v", got, tc.want)
			}
			req, _ := stub.last(t)
			if want := "/2010-04-01/Accounts/" + testAccountSid + "/IncomingPhoneNumbers.json"; req.Method != http.MethodGet || req.URL.Path != want {
				t.Errorf("request = %s %s, want GET %s", req.Method, req.URL.Path, want)
			}
			// A raw "+" in a query decodes as a space; the number must be escaped.
			if got := req.URL.Query().Get("PhoneNumber"); got != "+14155550100" {
				t.Errorf("PhoneNumber filter = %q, want %q", got, "+14155550100")
			}
			if user, pass, ok := req.BasicAuth(); !ok || user != testAccountSid || pass != testToken {
				t.Errorf("basic auth = %q, %q, %v, want the account SID and token", user, pass, ok)
			}
		})
	}
}

func TestSendErrorRetryable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  SendError
		want bool
	}{
		{SendError{HTTPStatus: 0}, true},
		{SendError{HTTPStatus: 500}, true},
		{SendError{HTTPStatus: 503, Code: 20503}, true},
		{SendError{HTTPStatus: 429}, true},
		{SendError{HTTPStatus: 408}, true},
		{SendError{HTTPStatus: 400, Code: 20429}, true},
		{SendError{HTTPStatus: 400, Code: 30003}, true},
		{SendError{HTTPStatus: 400, Code: 21211}, false},
		{SendError{HTTPStatus: 400, Code: 21610}, false},
		{SendError{HTTPStatus: 400, Code: 21614}, false},
		{SendError{HTTPStatus: 400, Code: 30005}, false},
		{SendError{HTTPStatus: 400, Code: 30006}, false},
		// A final code wins even on a status that would otherwise be retried.
		{SendError{HTTPStatus: 500, Code: 21610}, false},
		{SendError{HTTPStatus: 400, Code: 21602}, false},
		{SendError{HTTPStatus: 404}, false},
		{SendError{HTTPStatus: 201}, false},
	}
	for _, tc := range tests {
		t.Run(tc.err.Error(), func(t *testing.T) {
			t.Parallel()
			if got := tc.err.Retryable(); got != tc.want {
				t.Errorf("Retryable() = %v, want %v", got, tc.want)
			}
		})
	}
}
