package telnyx

import (
	"context"
	"encoding/json"
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

const testAPIKey = "KEY0123456789ABCDEF_secret"

var testAccount = Account{APIKey: testAPIKey}

// telnyxStub answers every request with status and body and remembers the
// last request and its body.
type telnyxStub struct {
	status int
	body   string

	mu      sync.Mutex
	req     *http.Request
	reqBody []byte
}

func (s *telnyxStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.req, s.reqBody = r, raw
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(s.status)
	io.WriteString(w, s.body)
}

func (s *telnyxStub) last(t *testing.T) (*http.Request, []byte) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.req == nil {
		t.Fatal("the stub received no request")
	}
	return s.req, s.reqBody
}

func newStub(t *testing.T, status int, body string) (*telnyxStub, *Client) {
	t.Helper()
	stub := &telnyxStub{status: status, body: body}
	srv := httptest.NewServer(stub)
	t.Cleanup(srv.Close)
	return stub, &Client{BaseURL: srv.URL + "/", HTTP: srv.Client()}
}

const sentJSON = `{"data": {"record_type": "message", "direction": "outbound",
 "id": "40385f64-5717-4562-b3fc-2c963f66afa6", "type": "SMS",
 "messaging_profile_id": "4000eba1-a0c0-4563-9925-b25e842a7cb6",
 "from": {"phone_number": "+14155550100", "carrier": "TELNYX LLC", "line_type": "VoIP"},
 "to": [{"phone_number": "+13125550188", "status": "queued", "carrier": "T-MOBILE USA, INC.", "line_type": "Wireless"}],
 "cc": [], "text": "Your claim is open.", "media": [], "webhook_url": "https://sms.example.com/webhooks/telnyx",
 "webhook_failover_url": null, "encoding": "GSM-7", "parts": 2, "tags": [],
 "cost": null, "received_at": "2026-01-15T14:30:00.000Z", "sent_at": null, "completed_at": null,
 "valid_until": null, "errors": []}}`

func telnyxError(code, title, detail string) string {
	return `{"errors": [{"code": "` + code + `", "title": "` + title + `", "detail": "` + detail + `", "meta": {"url": "https://developers.telnyx.com/api/errors/` + code + `"}}]}`
}

func TestClientSendRequest(t *testing.T) {
	t.Parallel()
	stub, c := newStub(t, http.StatusOK, sentJSON)
	msg := SendRequest{From: "+14155550100", To: "+13125550188", Text: "Your claim is open.", WebhookURL: "https://sms.example.com/webhooks/telnyx"}

	got, err := c.Send(context.Background(), testAccount, msg)
	if err != nil {
		t.Fatalf("Send() error = %v, want nil", err)
	}
	if want := (SendResult{ID: "40385f64-5717-4562-b3fc-2c963f66afa6", Status: "queued", Segments: 2}); got != want {
		t.Errorf("Send() = %+v, want %+v", got, want)
	}

	req, body := stub.last(t)
	if req.Method != http.MethodPost || req.URL.Path != "/v2/messages" {
		t.Errorf("request = %s %s, want POST /v2/messages", req.Method, req.URL.Path)
	}
	if got := req.Header.Get("Authorization"); got != "Bearer "+testAPIKey {
		t.Errorf("Authorization = %q, want the bearer key", got)
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var sent map[string]string
	if err := json.Unmarshal(body, &sent); err != nil {
		t.Fatalf("request body %s: %v", body, err)
	}
	want := map[string]string{"from": msg.From, "to": msg.To, "text": msg.Text, "webhook_url": msg.WebhookURL}
	if len(sent) != len(want) {
		t.Errorf("request body = %v, want %v", sent, want)
	}
	for k, v := range want {
		if sent[k] != v {
			t.Errorf("request %s = %q, want %q", k, sent[k], v)
		}
	}
}

func TestClientSendOmitsEmptyWebhookURL(t *testing.T) {
	t.Parallel()
	stub, c := newStub(t, http.StatusOK, sentJSON)
	if _, err := c.Send(context.Background(), testAccount, SendRequest{From: "+14155550100", To: "+13125550188", Text: "hi"}); err != nil {
		t.Fatalf("Send() error = %v, want nil", err)
	}
	if _, body := stub.last(t); strings.Contains(string(body), "webhook_url") {
		t.Errorf("request body %s has webhook_url, want none so the profile's is used", body)
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
			name: "minimal success", status: 200,
			body: `{"data": {"id": "m-1", "to": [{"phone_number": "+1", "status": "queued"}], "parts": 1}}`,
			want: SendResult{ID: "m-1", Status: "queued", Segments: 1},
		},
		{name: "recipient replied STOP", status: 409, body: telnyxError("40300", "Blocked due to STOP message", "Messages cannot be sent from '+14155550100' to '+13125550188' due to an existing block rule."), wantErr: &SendError{HTTPStatus: 409, Code: "40300", Title: "Blocked due to STOP message", Detail: "Messages cannot be sent from '+14155550100' to '+13125550188' due to an existing block rule."}, wantOptedOut: true},
		{name: "invalid destination is final", status: 400, body: telnyxError("40310", "Invalid 'to' address", "The 'to' address should be E.164."), wantErr: &SendError{HTTPStatus: 400, Code: "40310", Title: "Invalid 'to' address", Detail: "The 'to' address should be E.164."}},
		{name: "bad key is final", status: 401, body: telnyxError("10009", "Authentication failed", "The required authentication headers were either invalid or not included in the request."), wantErr: &SendError{HTTPStatus: 401, Code: "10009", Title: "Authentication failed", Detail: "The required authentication headers were either invalid or not included in the request."}},
		{name: "rate limited is retried", status: 429, body: telnyxError("10011", "Too many requests", ""), wantErr: &SendError{HTTPStatus: 429, Code: "10011", Title: "Too many requests"}, wantRetryable: true},
		{name: "unexpected error is retried", status: 500, body: telnyxError("10007", "Unexpected error", ""), wantErr: &SendError{HTTPStatus: 500, Code: "10007", Title: "Unexpected error"}, wantRetryable: true},
		{name: "a proxy's HTML error page keeps the status", status: 503, body: "<html>Service Unavailable</html>", wantErr: &SendError{HTTPStatus: 503, Title: "Service Unavailable"}, wantRetryable: true},
		{name: "numeric error code", status: 422, body: `{"errors": [{"code": 10004, "title": "Missing required parameter"}]}`, wantErr: &SendError{HTTPStatus: 422, Code: "10004", Title: "Missing required parameter"}},
		{name: "accepted without an id is not retried", status: 200, body: `{"data": {"to": []}}`, wantErr: &SendError{HTTPStatus: 200, Title: "response has no data.id"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, c := newStub(t, tc.status, tc.body)
			got, err := c.Send(context.Background(), testAccount, SendRequest{From: "+14155550100", To: "+13125550188", Text: "hi"})
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
			if strings.Contains(err.Error(), testAPIKey) {
				t.Errorf("error %q contains the API key", err)
			}
		})
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
		name   string
		client *Client
		ctx    context.Context
		wantIs error
	}{
		{name: "connection refused", client: &Client{BaseURL: closed.URL}, ctx: context.Background()},
		{name: "client timeout", client: &Client{BaseURL: slow.URL, HTTP: &http.Client{Timeout: 50 * time.Millisecond}}, ctx: context.Background()},
		{name: "cancelled context", client: &Client{BaseURL: slow.URL}, ctx: canceled, wantIs: context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := tc.client.Send(tc.ctx, testAccount, SendRequest{From: "+14155550100", To: "+13125550188", Text: "hi"})
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
			if strings.Contains(err.Error(), testAPIKey) {
				t.Errorf("error %q contains the API key", err)
			}
		})
	}
}

func TestClientRefusesMissingKey(t *testing.T) {
	t.Parallel()
	stub, c := newStub(t, http.StatusOK, sentJSON)
	_, sendErr := c.Send(context.Background(), Account{}, SendRequest{From: "+14155550100", To: "+13125550188", Text: "hi"})
	_, ownErr := c.OwnsNumber(context.Background(), Account{}, "+14155550100")
	for _, err := range []error{sendErr, ownErr} {
		var se *SendError
		if err == nil || errors.As(err, &se) {
			t.Errorf("error = %v, want a plain error: nothing was sent", err)
		}
	}
	stub.mu.Lock()
	defer stub.mu.Unlock()
	if stub.req != nil {
		t.Errorf("a request reached Telnyx: %s %s", stub.req.Method, stub.req.URL)
	}
}

func TestClientOwnsNumber(t *testing.T) {
	t.Parallel()
	list := func(numbers ...string) string {
		var items []string
		for _, n := range numbers {
			items = append(items, `{"id": "1293384261075731499", "record_type": "phone_number", "phone_number": "`+n+`", "status": "active", "tags": [], "messaging_profile_id": "740572b6-099c-44a1-89b9-6c92163bc68d"}`)
		}
		return `{"data": [` + strings.Join(items, ",") + `], "meta": {"page_number": 1, "page_size": 20, "total_pages": 1, "total_results": ` + strconv.Itoa(len(numbers)) + `}}`
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
		{name: "only a number containing the digits is listed", status: 200, body: list("+114155550100"), want: false},
		{name: "listed among partial matches", status: 200, body: list("+114155550100", "+14155550100"), want: true},
		{name: "bad key", status: 401, body: telnyxError("10009", "Authentication failed", ""), wantErr: true},
		{name: "garbage answer", status: 200, body: `{"data": {}}`, wantErr: true},
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
			if req.Method != http.MethodGet || req.URL.Path != "/v2/phone_numbers" {
				t.Errorf("request = %s %s, want GET /v2/phone_numbers", req.Method, req.URL.Path)
			}
			// Telnyx's filter matches digits only; a "+" would match nothing.
			if got := req.URL.Query().Get("filter[phone_number]"); got != "14155550100" {
				t.Errorf("filter[phone_number] = %q, want %q", got, "14155550100")
			}
			if got := req.Header.Get("Authorization"); got != "Bearer "+testAPIKey {
				t.Errorf("Authorization = %q, want the bearer key", got)
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
		{SendError{HTTPStatus: 502}, true},
		{SendError{HTTPStatus: 429}, true},
		{SendError{HTTPStatus: 408}, true},
		{SendError{HTTPStatus: 400, Code: "10011"}, true},
		{SendError{HTTPStatus: 409, Code: "40300"}, false},
		// A final code wins even on a status that would otherwise be retried.
		{SendError{HTTPStatus: 500, Code: "40300"}, false},
		{SendError{HTTPStatus: 400, Code: "40310"}, false},
		{SendError{HTTPStatus: 401, Code: "10009"}, false},
		{SendError{HTTPStatus: 422}, false},
		{SendError{HTTPStatus: 200}, false},
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
