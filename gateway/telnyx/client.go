package telnyx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultBaseURL is Telnyx's REST API. Tests and the dev mode point
// [Client.BaseURL] at a local fake instead.
const DefaultBaseURL = "https://api.telnyx.com"

// defaultHTTP is the one HTTP client used for Telnyx when Client.HTTP is nil.
// Its timeout bounds a whole call, so a stuck carrier cannot hold an outbox
// worker forever.
var defaultHTTP = &http.Client{Timeout: 10 * time.Second}

// maxResponseBytes bounds how much of a response is read; Telnyx's answers are
// a few kilobytes.
const maxResponseBytes = 1 << 20

// Client calls Telnyx's v2 REST API. The zero value uses [DefaultBaseURL] and
// an HTTP client with a 10-second timeout. It is safe for concurrent use and
// never retries: the caller decides, with [SendError.Retryable].
type Client struct {
	// BaseURL is scheme and host, without the /v2 path; empty means
	// DefaultBaseURL.
	BaseURL string
	// HTTP should have a timeout; nil means a shared client with a 10-second
	// timeout.
	HTTP *http.Client
}

// Account is the credential of one Telnyx account.
type Account struct {
	APIKey string
}

// SendRequest is one outbound text. WebhookURL, when set, is the public URL
// Telnyx posts message.sent and message.finalized to for this message.
type SendRequest struct {
	From       string
	To         string
	Text       string
	WebhookURL string
}

// SendResult is what Telnyx answered for an accepted message.
type SendResult struct {
	ID     string
	Status string // the recipient's status, normally "queued"
	// Segments is Telnyx's "parts".
	Segments int
}

// Telnyx error codes the send path branches on.
const (
	CodeAuthenticationFailed = "10009"
	CodeTooManyRequests      = "10011"
	CodeBlockedByStop        = "40300" // the recipient replied STOP
)

// SendError is a failed call to Telnyx's REST API. HTTPStatus is 0 when no
// response arrived (connection refused, timeout, cancelled context); the cause
// is then available through errors.Unwrap. Code, Title and Detail are from
// the first entry of Telnyx's "errors" array, when the response had one.
type SendError struct {
	HTTPStatus int
	Code       string
	Title      string
	Detail     string
	cause      error
}

// Error describes the failure without any credential.
func (e *SendError) Error() string {
	msg := e.Title
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	switch {
	case e.HTTPStatus == 0:
		return "telnyx: no response: " + msg
	case e.Code != "":
		return fmt.Sprintf("telnyx: HTTP %d, code %s: %s", e.HTTPStatus, e.Code, msg)
	default:
		return fmt.Sprintf("telnyx: HTTP %d: %s", e.HTTPStatus, msg)
	}
}

// Unwrap returns the transport error when no response arrived.
func (e *SendError) Unwrap() error { return e.cause }

// Retryable reports whether sending the same message again later may succeed:
// no response at all, a 5xx, 408 or 429, or Telnyx's rate limit (10011). A
// recipient who replied STOP (40300) and every other 4xx are final.
//
// A timeout may hide a message Telnyx did accept, so a retry after one can
// send it twice.
func (e *SendError) Retryable() bool {
	switch e.Code {
	case CodeBlockedByStop:
		return false
	case CodeTooManyRequests:
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

// OptedOut reports whether Telnyx refused because the recipient replied STOP
// (40300); the caller records the opt-out and stops sending.
func (e *SendError) OptedOut() bool {
	return e.Code == CodeBlockedByStop
}

// Send asks Telnyx to send one text. Failures that reached, or tried to reach,
// Telnyx are *SendError; any other error means the arguments were unusable and
// retrying cannot help.
func (c *Client) Send(ctx context.Context, acct Account, msg SendRequest) (SendResult, error) {
	if acct.APIKey == "" {
		return SendResult{}, errors.New("telnyx send: account has no API key")
	}
	payload, err := json.Marshal(struct {
		From       string `json:"from"`
		To         string `json:"to"`
		Text       string `json:"text"`
		WebhookURL string `json:"webhook_url,omitempty"`
	}{msg.From, msg.To, msg.Text, msg.WebhookURL})
	if err != nil {
		return SendResult{}, fmt.Errorf("telnyx send: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url("/v2/messages"), bytes.NewReader(payload))
	if err != nil {
		return SendResult{}, fmt.Errorf("telnyx send: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")

	var resp struct {
		Data struct {
			ID    string    `json:"id"`
			To    addresses `json:"to"`
			Parts int       `json:"parts"`
		} `json:"data"`
	}
	if err := c.do(req, acct, &resp); err != nil {
		return SendResult{}, err
	}
	if resp.Data.ID == "" {
		// Telnyx accepted the message; a retry would send it twice.
		return SendResult{}, &SendError{HTTPStatus: http.StatusOK, Title: "response has no data.id"}
	}
	res := SendResult{ID: resp.Data.ID, Segments: resp.Data.Parts}
	if len(resp.Data.To) > 0 {
		res.Status = resp.Data.To[0].Status
	}
	return res, nil
}

// OwnsNumber reports whether e164 is one of the account's phone numbers, which
// is how directsms verifies a number. Telnyx's filter[phone_number] matches
// digits only (any other character matches nothing) and partially, so the
// filter is sent without the "+" and the answer is true only when a listed
// number equals e164 exactly.
func (c *Client) OwnsNumber(ctx context.Context, acct Account, e164 string) (bool, error) {
	if acct.APIKey == "" {
		return false, errors.New("telnyx lookup: account has no API key")
	}
	digits := strings.TrimPrefix(e164, "+")
	if digits == "" {
		return false, errors.New("telnyx lookup: empty phone number")
	}
	query := url.Values{"filter[phone_number]": {digits}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url("/v2/phone_numbers")+"?"+query.Encode(), nil)
	if err != nil {
		return false, fmt.Errorf("telnyx lookup: %w", err)
	}
	var list struct {
		Data []struct {
			PhoneNumber string `json:"phone_number"`
		} `json:"data"`
	}
	if err := c.do(req, acct, &list); err != nil {
		return false, err
	}
	for _, n := range list.Data {
		if n.PhoneNumber == e164 {
			return true, nil
		}
	}
	return false, nil
}

func (c *Client) url(path string) string {
	base := c.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	return strings.TrimRight(base, "/") + path
}

// do sends req with the account's key and decodes a 2xx JSON answer into out.
// Every failure is a *SendError.
func (c *Client) do(req *http.Request, acct Account, out any) error {
	req.Header.Set("Authorization", "Bearer "+acct.APIKey)
	req.Header.Set("Accept", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = defaultHTTP
	}
	resp, err := hc.Do(req)
	if err != nil {
		return &SendError{Title: err.Error(), cause: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			// The request was accepted even if the answer was cut short.
			return &SendError{HTTPStatus: resp.StatusCode, Title: "reading response: " + err.Error()}
		}
		return &SendError{HTTPStatus: resp.StatusCode, Title: http.StatusText(resp.StatusCode)}
	}
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return apiError(resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return &SendError{HTTPStatus: resp.StatusCode, Title: "decoding response: " + err.Error()}
	}
	return nil
}

// apiError reads Telnyx's error body {"errors": [{"code", "title", "detail"}]};
// a body that is not one (a proxy's error page) leaves only the HTTP status.
func apiError(status int, body []byte) *SendError {
	var e struct {
		Errors []struct {
			Code   code   `json:"code"`
			Title  string `json:"title"`
			Detail string `json:"detail"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &e) != nil || len(e.Errors) == 0 {
		return &SendError{HTTPStatus: status, Title: http.StatusText(status)}
	}
	first := e.Errors[0]
	return &SendError{HTTPStatus: status, Code: string(first.Code), Title: first.Title, Detail: first.Detail}
}
