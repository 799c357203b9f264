package fakecarrier

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"directsms/gateway/telnyx"
)

// telnyxTitles are the titles Telnyx answers its error codes with.
var telnyxTitles = map[int]string{
	10004: "Missing required parameter",
	10007: "Unexpected error",
	10009: "Authentication failed",
	10011: "Too many requests",
	10015: "Bad Request",
	40008: "Undeliverable",
	40300: "Blocked due to STOP message",
	40305: "Invalid 'from' address",
	40310: "Invalid 'to' address",
}

// telnyxTime is how Telnyx writes times: milliseconds and a numeric offset.
const telnyxTime = "2006-01-02T15:04:05.000-07:00"

// telnyxError answers with Telnyx's error body; code 0 answers with a body
// that is not one, as a proxy would.
func telnyxError(w http.ResponseWriter, status, code int) {
	if code == 0 {
		http.Error(w, "fakecarrier: upstream error", status)
		return
	}
	writeJSON(w, status, map[string]any{"errors": []wireError{newWireError(code)}})
}

type wireError struct {
	Code   string         `json:"code"`
	Title  string         `json:"title"`
	Detail string         `json:"detail,omitempty"`
	Meta   map[string]any `json:"meta,omitempty"`
}

func newWireError(code int) wireError {
	title, ok := telnyxTitles[code]
	if !ok {
		title = "Scripted failure"
	}
	c := strconv.Itoa(code)
	return wireError{Code: c, Title: title, Detail: title + ".", Meta: map[string]any{"url": "https://developers.telnyx.com/api/errors/" + c}}
}

// telnyxAuth checks the Bearer key and returns its account, or answers 401
// and returns nil.
func (f *Fake) telnyxAuth(w http.ResponseWriter, r *http.Request) (string, *telnyxAccount) {
	key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	acct := f.telnyxAccounts[key]
	f.mu.Unlock()
	if !ok || key == "" || acct == nil {
		telnyxError(w, http.StatusUnauthorized, 10009)
		return "", nil
	}
	return key, acct
}

func (f *Fake) telnyxSend(w http.ResponseWriter, r *http.Request) {
	key, acct := f.telnyxAuth(w, r)
	if acct == nil {
		return
	}
	if fl, ok := f.takeFailure(Telnyx); ok {
		if fl.httpStatus == 0 {
			dropConnection(w)
			return
		}
		telnyxError(w, fl.httpStatus, fl.code)
		return
	}
	var req struct {
		From       string `json:"from"`
		To         string `json:"to"`
		Text       string `json:"text"`
		WebhookURL string `json:"webhook_url"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBytes)).Decode(&req); err != nil {
		telnyxError(w, http.StatusBadRequest, 10015)
		return
	}
	f.mu.Lock()
	owned := slices.Contains(acct.numbers, req.From)
	f.mu.Unlock()
	switch {
	case req.To == "" || req.From == "" || req.Text == "":
		telnyxError(w, http.StatusBadRequest, 10004)
		return
	case !isE164(req.To) && !isShortCode(req.To):
		telnyxError(w, http.StatusBadRequest, 40310)
		return
	case !owned:
		telnyxError(w, http.StatusBadRequest, 40305)
		return
	case req.WebhookURL != "" && !isHTTPURL(req.WebhookURL):
		telnyxError(w, http.StatusBadRequest, 10004)
		return
	}
	msg := SentMessage{Provider: Telnyx, AccountSID: key, ID: newUUID(), From: req.From, To: req.To, Body: req.Text, StatusCallback: req.WebhookURL}
	// Recorded before answering, so Sent() includes it once the client has
	// its answer.
	f.record(msg)
	writeJSON(w, http.StatusOK, map[string]any{"data": f.telnyxRecord(msg, "queued", nil)})
}

// telnyxNumbers lists the account's numbers matching filter[phone_number].
// Like Telnyx, the filter matches a run of digits, and anything that is not a
// digit matches nothing, so a client sending "+1415..." finds no number.
func (f *Fake) telnyxNumbers(w http.ResponseWriter, r *http.Request) {
	_, acct := f.telnyxAuth(w, r)
	if acct == nil {
		return
	}
	filter := r.URL.Query().Get("filter[phone_number]")
	f.mu.Lock()
	numbers := slices.Clone(acct.numbers)
	f.mu.Unlock()
	data := []map[string]any{}
	for i, n := range numbers {
		if filter != "" && (digits(filter) != filter || !strings.Contains(digits(n), filter)) {
			continue
		}
		data = append(data, map[string]any{
			"id": fmt.Sprintf("1293384261075731%03d", i), "record_type": "phone_number",
			"phone_number": n, "status": "active", "tags": []string{},
			"messaging_profile_id": "740572b6-099c-44a1-89b9-6c92163bc68d",
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"data": data,
		"meta": map[string]int{"page_number": 1, "page_size": 20, "total_pages": 1, "total_results": len(data)},
	})
}

// telnyxEndpoint is a from or to entry of a Telnyx message record.
type telnyxEndpoint struct {
	PhoneNumber string `json:"phone_number"`
	Status      string `json:"status,omitempty"`
	Carrier     string `json:"carrier"`
	LineType    string `json:"line_type"`
}

// telnyxRecord renders msg as Telnyx's outbound message record with the
// recipient in status.
func (f *Fake) telnyxRecord(msg SentMessage, status string, errs []wireError) map[string]any {
	parts, encoding := segments(msg.Body)
	if errs == nil {
		errs = []wireError{}
	}
	var webhookURL any
	if msg.StatusCallback != "" {
		webhookURL = msg.StatusCallback
	}
	return map[string]any{
		"record_type": "message", "direction": "outbound", "id": msg.ID, "type": "SMS",
		"messaging_profile_id": "740572b6-099c-44a1-89b9-6c92163bc68d",
		"from":                 telnyxEndpoint{PhoneNumber: msg.From, Carrier: "Telnyx", LineType: "Wireless"},
		"to":                   []telnyxEndpoint{{PhoneNumber: msg.To, Status: status, Carrier: "T-Mobile USA", LineType: "Wireless"}},
		"cc":                   []string{}, "text": msg.Body, "media": []string{}, "tags": []string{},
		"webhook_url": webhookURL, "webhook_failover_url": nil,
		"encoding": encoding, "parts": parts, "errors": errs,
		"received_at": f.now().UTC().Format(telnyxTime),
	}
}

// PostTelnyxEvent posts one event (such as "message.sent" or
// "message.finalized") for a message the fake accepted, with the recipient in
// status ("sent", "delivered", "delivery_failed", ...), signed with the fake's
// Ed25519 key as Telnyx does. errorCode, when not empty, is reported in the
// payload's errors. It fails when the message is unknown or had no
// webhook_url, or the receiver does not answer 2xx.
func (f *Fake) PostTelnyxEvent(ctx context.Context, msgID, eventType, status, errorCode string) error {
	m, err := f.findSent(Telnyx, msgID)
	if err != nil {
		return err
	}
	if m.StatusCallback == "" {
		return fmt.Errorf("fakecarrier: telnyx message %s has no webhook_url", msgID)
	}
	var errs []wireError
	if errorCode != "" {
		code, err := strconv.Atoi(errorCode)
		if err != nil {
			return fmt.Errorf("fakecarrier: telnyx error code %q is not a number", errorCode)
		}
		errs = []wireError{newWireError(code)}
	}
	payload := f.telnyxRecord(m, status, errs)
	body, header := f.signedEvent(eventType, payload, m.StatusCallback)
	return f.post(ctx, m.StatusCallback, "application/json", body, header)
}

// TelnyxInbound builds a message.received webhook for an SMS from from to to,
// with fresh ids, signed with the fake's key at the fake's current time.
// POST body with headers to the gateway.
func (f *Fake) TelnyxInbound(from, to, text string) (body []byte, headers http.Header) {
	parts, encoding := segments(text)
	payload := map[string]any{
		"record_type": "message", "direction": "inbound", "id": newUUID(), "type": "SMS",
		"messaging_profile_id": "740572b6-099c-44a1-89b9-6c92163bc68d",
		"from":                 telnyxEndpoint{PhoneNumber: from, Carrier: "T-Mobile USA", LineType: "Wireless"},
		"to":                   []telnyxEndpoint{{PhoneNumber: to, Status: "webhook_delivered", Carrier: "Telnyx", LineType: "Wireless"}},
		"cc":                   []string{}, "text": text, "media": []string{}, "tags": []string{},
		"encoding": encoding, "parts": parts, "errors": []string{},
		"received_at": f.now().UTC().Format(telnyxTime),
	}
	return f.signedEvent(telnyx.EventMessageReceived, payload, "")
}

// TelnyxPublicKey returns the base64 public key that verifies the fake's
// Telnyx webhooks: register it as the Telnyx account's public key.
func (f *Fake) TelnyxPublicKey() string {
	return base64.StdEncoding.EncodeToString(f.telnyxKey.Public().(ed25519.PublicKey))
}

// signedEvent wraps payload in Telnyx's event envelope and signs
// timestamp + "|" + body.
func (f *Fake) signedEvent(eventType string, payload map[string]any, deliveredTo string) ([]byte, http.Header) {
	now := f.now()
	env := map[string]any{
		"data": map[string]any{
			"event_type": eventType, "id": newUUID(), "occurred_at": now.UTC().Format(telnyxTime),
			"payload": payload, "record_type": "event",
		},
		"meta": map[string]any{"attempt": 1, "delivered_to": deliveredTo},
	}
	body, err := json.Marshal(env)
	if err != nil {
		// Only strings, numbers and maps of them go in: this cannot fail.
		panic(err)
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	sig := ed25519.Sign(f.telnyxKey, append([]byte(ts+"|"), body...))
	return body, http.Header{
		"Content-Type": {"application/json"},
		http.CanonicalHeaderKey(telnyx.SignatureHeader): {base64.StdEncoding.EncodeToString(sig)},
		http.CanonicalHeaderKey(telnyx.TimestampHeader): {ts},
	}
}
