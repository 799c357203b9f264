package twilio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultBaseURL is Twilio's REST API. Tests and the dev mode point
// [Client.BaseURL] at a local fake instead.
const DefaultBaseURL = "https://api.twilio.com"

// defaultHTTP is the one HTTP client used for Twilio when Client.HTTP is nil.
// Its timeout bounds a whole call, so a stuck carrier cannot hold an outbox
// worker forever.
var defaultHTTP = &http.Client{Timeout: 10 * time.Second}

// maxResponseBytes bounds how much of a response is read; Twilio's answers are
// a few kilobytes.
const maxResponseBytes = 1 << 20

// Client calls Twilio's REST API. The zero value uses [DefaultBaseURL] and an
// HTTP client with a 10-second timeout. It is safe for concurrent use and
// never retries: the caller decides, with [SendError.Retryable].
type Client struct {
	// BaseURL is scheme and host, without the /2010-04-01 path; empty means
	// DefaultBaseURL.
	BaseURL string
	// HTTP should have a timeout; nil means a shared client with a 10-second
	// timeout.
	HTTP *http.Client
}

// Account is the credential pair of one Twilio account (or subaccount).
type Account struct {
	SID       string
	AuthToken string
}

// SendRequest is one outbound text. StatusCallback, when set, is the public
// URL Twilio posts delivery updates to.
type SendRequest struct {
	From           string
	To             string
	Body           string
	StatusCallback string
}

// SendResult is what Twilio answered for an accepted message.
type SendResult struct {
	SID    string
	Status string
	// Segments is Twilio's num_segments; 0 when Twilio did not know yet (it
	// does not when sending through a Messaging Service).
	Segments int
}

// Twilio error codes the send path branches on.
const (
	CodeAuthenticate        = 20003
	CodeTooManyRequests     = 20429
	CodeInvalidTo           = 21211
	CodeUnsubscribed        = 21610 // the recipient replied STOP
	CodeNotMobile           = 21614
	CodeUnreachable         = 30003
	CodeUnknownDestination  = 30005
	CodeLandlineUnreachable = 30006
)

// SendError is a failed call to Twilio's REST API. HTTPStatus is 0 when no
// response arrived (connection refused, timeout, cancelled context); the
// cause is then available through errors.Unwrap. Code and Message are Twilio's
// error code and text, when the response had them.
type SendError struct {
	HTTPStatus int
	Code       int
	Message    string
	cause      error
}

// Error describes the failure without any credential.
func (e *SendError) Error() string {
	if e.HTTPStatus == 0 {
		return "twilio: no response: " + e.Message
	}
	if e.Code != 0 {
		return fmt.Sprintf("twilio: HTTP %d, code %d: %s", e.HTTPStatus, e.Code, e.Message)
	}
	return fmt.Sprintf("twilio: HTTP %d: %s", e.HTTPStatus, e.Message)
}

// Unwrap returns the transport error when no response arrived.
func (e *SendError) Unwrap() error { return e.cause }

// Retryable reports whether sending the same message again later may succeed:
// no response at all, a 5xx, 408 or 429, Twilio's rate limit (20429), or
// 30003 (handset unreachable, often transient). An invalid or unreachable
// recipient (21211, 21614, 30005, 30006), an unsubscribed one (21610) and
// every other 4xx are final.
//
// A timeout may hide a message Twilio did accept, so a retry after one can
// send it twice; Twilio offers no idempotency key for Messages.
func (e *SendError) Retryable() bool {
	switch e.Code {
	case CodeInvalidTo, CodeUnsubscribed, CodeNotMobile, CodeUnknownDestination, CodeLandlineUnreachable:
		return false
	case CodeTooManyRequests, CodeUnreachable:
		return true
	}
	switch {
	case e.HTTPStatus == 0, e.HTTPStatus >= 500:
		return true
	case e.HTTPStatus == http.StatusTooManyRequests, e.HTTPStatus == http.StatusRequestTimeout:
		return true
	}
	return false
}

// OptedOut reports whether Twilio refused because the recipient unsubscribed
// (21610); the caller records the opt-out and stops sending.
func (e *SendError) OptedOut() bool {
	return e.Code == CodeUnsubscribed
}

// Send asks Twilio to send one text. Failures that reached, or tried to reach,
// Twilio are *SendError; any other error means the arguments were unusable and
// retrying cannot help.
func (c *Client) Send(ctx context.Context, acct Account, msg SendRequest) (SendResult, error) {
	if err := acct.check(); err != nil {
		return SendResult{}, fmt.Errorf("twilio send: %w", err)
	}
	form := url.Values{"To": {msg.To}, "From": {msg.From}, "Body": {msg.Body}}
	if msg.StatusCallback != "" {
		form.Set("StatusCallback", msg.StatusCallback)
	}
	endpoint := c.accountURL(acct) + "/Messages.json"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return SendResult{}, fmt.Errorf("twilio send: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")

	var created struct {
		SID         string `json:"sid"`
		Status      string `json:"status"`
		NumSegments string `json:"num_segments"`
	}
	if err := c.do(req, acct, &created); err != nil {
		return SendResult{}, err
	}
	if created.SID == "" {
		// Twilio accepted the message; a retry would send it twice.
		return SendResult{}, &SendError{HTTPStatus: http.StatusCreated, Message: "response has no sid"}
	}
	// num_segments is a string in Twilio's JSON, and "0" or absent when not
	// yet known; an unreadable one is not worth failing an accepted send.
	segments, _ := strconv.Atoi(created.NumSegments)
	return SendResult{SID: created.SID, Status: created.Status, Segments: segments}, nil
}

// OwnsNumber reports whether e164 is one of the account's incoming phone
// numbers, which is how directsms verifies a number. Twilio's PhoneNumber
// filter also matches partial numbers, so the answer is true only when a
// listed number equals e164 exactly.
func (c *Client) OwnsNumber(ctx context.Context, acct Account, e164 string) (bool, error) {
	if err := acct.check(); err != nil {
		return false, fmt.Errorf("twilio lookup: %w", err)
	}
	if e164 == "" {
		return false, errors.New("twilio lookup: empty phone number")
	}
	endpoint := c.accountURL(acct) + "/IncomingPhoneNumbers.json?" + url.Values{"PhoneNumber": {e164}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return false, fmt.Errorf("twilio lookup: %w", err)
	}
	var list struct {
		IncomingPhoneNumbers []struct {
			PhoneNumber string `json:"phone_number"`
		} `json:"incoming_phone_numbers"`
	}
	if err := c.do(req, acct, &list); err != nil {
		return false, err
	}
	for _, n := range list.IncomingPhoneNumbers {
		if n.PhoneNumber == e164 {
			return true, nil
		}
	}
	return false, nil
}

func (a Account) check() error {
	if !isSid(a.SID, "AC") {
		// The SID is not secret, but it goes into the URL path: refuse
		// anything that is not one.
		return fmt.Errorf("account sid %q is not AC followed by 32 hex digits", a.SID)
	}
	if a.AuthToken == "" {
		return errors.New("account " + a.SID + " has no auth token")
	}
	return nil
}

func (c *Client) accountURL(acct Account) string {
	base := c.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	return strings.TrimRight(base, "/") + "/2010-04-01/Accounts/" + acct.SID
}

// do sends req with the account's credentials and decodes a 2xx JSON answer
// into out. Every failure is a *SendError.
func (c *Client) do(req *http.Request, acct Account, out any) error {
	req.SetBasicAuth(acct.SID, acct.AuthToken)
	req.Header.Set("Accept", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = defaultHTTP
	}
	resp, err := hc.Do(req)
	if err != nil {
		return &SendError{Message: err.Error(), cause: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			// The request was accepted even if the answer was cut short.
			return &SendError{HTTPStatus: resp.StatusCode, Message: "reading response: " + err.Error()}
		}
		return &SendError{HTTPStatus: resp.StatusCode, Message: http.StatusText(resp.StatusCode)}
	}
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return apiError(resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return &SendError{HTTPStatus: resp.StatusCode, Message: "decoding response: " + err.Error()}
	}
	return nil
}

// apiError reads Twilio's error body {"code", "message", "more_info",
// "status"}; a body that is not one (a proxy's error page) leaves only the
// HTTP status.
func apiError(status int, body []byte) *SendError {
	var e struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &e) != nil || e.Message == "" {
		e.Message = http.StatusText(status)
	}
	return &SendError{HTTPStatus: status, Code: e.Code, Message: e.Message}
}
