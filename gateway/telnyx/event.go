package telnyx

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Message event types directsms handles. Telnyx sends others (number orders,
// calls) to the same URL; ParseEvent accepts them with an empty Message so the
// gateway can acknowledge and ignore them.
const (
	EventMessageReceived  = "message.received"
	EventMessageSent      = "message.sent"
	EventMessageFinalized = "message.finalized"
)

// Event is one Telnyx webhook. ID is the event's id (the same for every
// retry of a delivery, so dedupe on it); Message.ID is the message's.
type Event struct {
	ID         string
	EventType  string
	OccurredAt time.Time // UTC; zero when Telnyx did not say
	Message    Message
}

// Message is the payload of a message.* event. To is the first recipient,
// the only one for SMS. Status is that recipient's delivery status
// ("queued", "sent", "delivered", "sending_failed", "delivery_failed",
// "delivery_unconfirmed", ...), which is what message.sent and
// message.finalized report; Errors says why a delivery failed.
type Message struct {
	ID     string
	From   string
	To     string
	Text   string
	Type   string // "SMS" or "MMS"
	Media  []string
	Status string
	Errors []Error
}

// Error is a Telnyx error object, as in message.finalized payloads and API
// error responses. Code is numeric text such as "40300".
type Error struct {
	Code   string
	Title  string
	Detail string
}

// FieldError says which part of a webhook body is missing or invalid, as a
// JSON path ("data.payload.from.phone_number") or "body" for the body as a
// whole. Gateways answer it with 400.
type FieldError struct {
	Field   string
	Message string
}

// Error returns "telnyx: <field> <message>".
func (e *FieldError) Error() string {
	return "telnyx: " + e.Field + " " + e.Message
}

// ParseEvent decodes a webhook body, the envelope
// {"data": {"event_type", "id", "occurred_at", "payload", "record_type"}, "meta"}.
// It does not check the signature: call [Verify] first. Unknown fields are
// ignored, because Telnyx adds new ones. Every error is a [*FieldError].
func ParseEvent(body []byte) (Event, error) {
	// encoding/json would quietly turn invalid UTF-8 into U+FFFD, storing a
	// text that is not what was sent.
	if !utf8.Valid(body) {
		return Event{}, &FieldError{Field: "body", Message: "is not valid UTF-8"}
	}
	var env struct {
		Data struct {
			EventType  string          `json:"event_type"`
			ID         string          `json:"id"`
			OccurredAt string          `json:"occurred_at"`
			RecordType string          `json:"record_type"`
			Payload    json.RawMessage `json:"payload"`
		} `json:"data"`
	}
	if err := decode(body, &env, ""); err != nil {
		return Event{}, err
	}
	d := env.Data
	ev := Event{ID: d.ID, EventType: d.EventType}
	switch {
	case d.EventType == "":
		return Event{}, &FieldError{Field: "data.event_type", Message: "is required"}
	case d.ID == "":
		return Event{}, &FieldError{Field: "data.id", Message: "is required"}
	case d.RecordType != "" && d.RecordType != "event":
		return Event{}, &FieldError{Field: "data.record_type", Message: "must be \"event\""}
	}
	if d.OccurredAt != "" {
		t, err := time.Parse(time.RFC3339, d.OccurredAt)
		if err != nil {
			return Event{}, &FieldError{Field: "data.occurred_at", Message: "is not an RFC 3339 time"}
		}
		ev.OccurredAt = t.UTC()
	}
	if !strings.HasPrefix(d.EventType, "message.") {
		return ev, nil
	}
	if len(d.Payload) == 0 || string(d.Payload) == "null" {
		return Event{}, &FieldError{Field: "data.payload", Message: "is required"}
	}
	msg, err := parseMessage(d.Payload, d.EventType)
	if err != nil {
		return Event{}, err
	}
	ev.Message = msg
	return ev, nil
}

// wirePayload is the part of a message payload directsms reads.
type wirePayload struct {
	ID    string    `json:"id"`
	Type  string    `json:"type"`
	From  address   `json:"from"`
	To    addresses `json:"to"`
	Text  string    `json:"text"`
	Media []struct {
		URL string `json:"url"`
	} `json:"media"`
	Errors []struct {
		Code   code   `json:"code"`
		Title  string `json:"title"`
		Detail string `json:"detail"`
	} `json:"errors"`
}

func parseMessage(raw json.RawMessage, eventType string) (Message, error) {
	var p wirePayload
	if err := decode(raw, &p, "data.payload."); err != nil {
		return Message{}, err
	}
	m := Message{ID: p.ID, From: p.From.PhoneNumber, Text: p.Text, Type: p.Type}
	if len(p.To) > 0 {
		m.To, m.Status = p.To[0].PhoneNumber, p.To[0].Status
	}
	outbound := eventType == EventMessageSent || eventType == EventMessageFinalized
	switch {
	case m.ID == "":
		return Message{}, &FieldError{Field: "data.payload.id", Message: "is required"}
	case eventType != EventMessageReceived && !outbound:
		// A message event directsms does not know yet: keep what is there.
	case m.To == "":
		return Message{}, &FieldError{Field: "data.payload.to[0].phone_number", Message: "is required"}
	case m.From == "" && !outbound:
		return Message{}, &FieldError{Field: "data.payload.from.phone_number", Message: "is required"}
	case m.Status == "" && outbound:
		return Message{}, &FieldError{Field: "data.payload.to[0].status", Message: "is required"}
	}
	for i, media := range p.Media {
		u, err := url.Parse(media.URL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return Message{}, &FieldError{Field: "data.payload.media[" + strconv.Itoa(i) + "].url", Message: "must be an absolute http(s) URL"}
		}
		m.Media = append(m.Media, media.URL)
	}
	for _, e := range p.Errors {
		m.Errors = append(m.Errors, Error{Code: string(e.Code), Title: e.Title, Detail: e.Detail})
	}
	return m, nil
}

// decode unmarshals JSON into v, turning type errors into FieldErrors that
// name the field; prefix is the path of raw within the body.
func decode(raw []byte, v any, prefix string) error {
	err := json.Unmarshal(raw, v)
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return &FieldError{Field: prefix + typeErr.Field, Message: "has the wrong JSON type (" + typeErr.Value + ")"}
	case errors.As(err, &typeErr) && prefix != "":
		return &FieldError{Field: strings.TrimSuffix(prefix, "."), Message: "must be a JSON object"}
	case errors.As(err, &typeErr):
		return &FieldError{Field: "body", Message: "must be a JSON object"}
	default:
		return &FieldError{Field: "body", Message: "is not valid JSON"}
	}
}

// address is a Telnyx endpoint. Event payloads carry objects
// {"phone_number", "status", "carrier", "line_type"}; some older payloads and
// the send request carry a bare string, so both are read.
type address struct {
	PhoneNumber string
	Status      string
}

func (a *address) UnmarshalJSON(b []byte) error {
	if bytes.HasPrefix(b, []byte(`"`)) {
		return json.Unmarshal(b, &a.PhoneNumber)
	}
	var obj struct {
		PhoneNumber string `json:"phone_number"`
		Status      string `json:"status"`
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		return err
	}
	*a = address(obj)
	return nil
}

// addresses reads the recipients, an array, or a single address.
type addresses []address

func (as *addresses) UnmarshalJSON(b []byte) error {
	if bytes.HasPrefix(b, []byte("[")) {
		return json.Unmarshal(b, (*[]address)(as))
	}
	var a address
	if err := json.Unmarshal(b, &a); err != nil {
		return err
	}
	*as = addresses{a}
	return nil
}

// code reads an error code whether Telnyx sent it as text ("40300", the
// documented form) or as a number.
type code string

func (c *code) UnmarshalJSON(b []byte) error {
	if bytes.HasPrefix(b, []byte(`"`)) {
		return json.Unmarshal(b, (*string)(c))
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*c = code(n)
	return nil
}
