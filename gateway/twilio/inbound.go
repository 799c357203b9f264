package twilio

import (
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ResponseXML is the body to answer an inbound-message webhook with, served as
// Content-Type text/xml with status 200. Twilio logs an error for an empty
// body; replies are sent through the REST API, not through TwiML.
const ResponseXML = `<?xml version="1.0" encoding="UTF-8"?><Response/>`

// MaxBodyChars is the longest Body, in characters, Twilio delivers or accepts.
const MaxBodyChars = 1600

// Inbound is an inbound SMS or MMS as Twilio posts it to the messaging webhook.
// From and To are as Twilio sent them (E.164, a short code, or a channel
// address such as "whatsapp:+14155550100"); normalizing them is the caller's job.
type Inbound struct {
	MessageSid          string
	AccountSid          string
	MessagingServiceSid string
	From                string
	To                  string
	Body                string
	NumMedia            int
	Media               []Media
	// NumSegments is how many segments the text arrived in; 0 when Twilio did
	// not say.
	NumSegments int
}

// Media is one attachment of an MMS. URL points at Twilio's copy, which
// needs the account's credentials to fetch when media auth is on.
type Media struct {
	URL         string
	ContentType string
}

// StatusCallback is a delivery-status update for a message sent through
// Twilio. Callbacks arrive late, repeated and out of order; see
// [StatusCallback.Terminal].
type StatusCallback struct {
	MessageSid    string
	AccountSid    string
	MessageStatus string
	// ErrorCode is Twilio's numeric error code as a string, empty unless the
	// message failed or was undelivered.
	ErrorCode string
}

// Message statuses Twilio reports on the Message resource and in callbacks.
const (
	StatusQueued             = "queued"
	StatusSending            = "sending"
	StatusSent               = "sent"
	StatusFailed             = "failed"
	StatusDelivered          = "delivered"
	StatusUndelivered        = "undelivered"
	StatusReceiving          = "receiving"
	StatusReceived           = "received"
	StatusAccepted           = "accepted"
	StatusScheduled          = "scheduled"
	StatusRead               = "read"
	StatusPartiallyDelivered = "partially_delivered"
	StatusCanceled           = "canceled"
)

// statuses maps every known status to whether it is terminal.
var statuses = map[string]bool{
	StatusQueued:             false,
	StatusSending:            false,
	StatusSent:               false,
	StatusFailed:             true,
	StatusDelivered:          true,
	StatusUndelivered:        true,
	StatusReceiving:          false,
	StatusReceived:           false,
	StatusAccepted:           false,
	StatusScheduled:          false,
	StatusRead:               true,
	StatusPartiallyDelivered: false,
	StatusCanceled:           true,
}

// Terminal reports whether the status is final (delivered, undelivered,
// failed, read, canceled). A message in a terminal state must never be moved
// back by a late callback.
func (s StatusCallback) Terminal() bool {
	return statuses[s.MessageStatus]
}

// FieldError says which webhook parameter is missing or invalid. Gateways
// answer it with 400 and the field name.
type FieldError struct {
	Field   string
	Message string
}

// Error returns "twilio: <field> <message>".
func (e *FieldError) Error() string {
	return "twilio: " + e.Field + " " + e.Message
}

// ParseInbound decodes an inbound-message webhook form. It does not check the
// signature: call [ValidSignature] first. Unknown parameters are ignored,
// because Twilio adds new ones without notice. Every error is a [*FieldError].
func ParseInbound(form url.Values) (Inbound, error) {
	var in Inbound
	var err error
	if in.MessageSid, err = messageSid(form); err != nil {
		return Inbound{}, err
	}
	if in.AccountSid, err = accountSid(form); err != nil {
		return Inbound{}, err
	}
	if in.MessagingServiceSid, err = single(form, "MessagingServiceSid"); err != nil {
		return Inbound{}, err
	}
	if in.MessagingServiceSid != "" && !isSid(in.MessagingServiceSid, "MG") {
		return Inbound{}, &FieldError{Field: "MessagingServiceSid", Message: "must be MG followed by 32 hex digits"}
	}
	if in.From, err = required(form, "From"); err != nil {
		return Inbound{}, err
	}
	if in.To, err = required(form, "To"); err != nil {
		return Inbound{}, err
	}
	if in.Body, err = single(form, "Body"); err != nil {
		return Inbound{}, err
	}
	if !utf8.ValidString(in.Body) {
		return Inbound{}, &FieldError{Field: "Body", Message: "is not valid UTF-8"}
	}
	if utf8.RuneCountInString(in.Body) > MaxBodyChars {
		return Inbound{}, &FieldError{Field: "Body", Message: "is longer than 1600 characters"}
	}
	if in.NumMedia, err = count(form, "NumMedia"); err != nil {
		return Inbound{}, err
	}
	if in.Media, err = media(form, in.NumMedia); err != nil {
		return Inbound{}, err
	}
	if in.NumSegments, err = count(form, "NumSegments"); err != nil {
		return Inbound{}, err
	}
	// A segment holds at least one character; more than the body's limit is not a real count
	// (and would not fit the column that keeps it).
	if in.NumSegments > MaxBodyChars {
		return Inbound{}, &FieldError{Field: "NumSegments", Message: "must be at most 1600"}
	}
	return in, nil
}

// ParseStatus decodes a status-callback form. It does not check the
// signature: call [ValidSignature] first. Every error is a [*FieldError].
func ParseStatus(form url.Values) (StatusCallback, error) {
	var s StatusCallback
	var err error
	if s.MessageSid, err = messageSid(form); err != nil {
		return StatusCallback{}, err
	}
	if s.AccountSid, err = accountSid(form); err != nil {
		return StatusCallback{}, err
	}
	// SmsStatus is the legacy name Twilio still sends alongside MessageStatus.
	if s.MessageStatus, err = firstOf(form, "MessageStatus", "SmsStatus"); err != nil {
		return StatusCallback{}, err
	}
	if _, known := statuses[s.MessageStatus]; !known {
		return StatusCallback{}, &FieldError{Field: "MessageStatus", Message: "is not a known Twilio status"}
	}
	if s.ErrorCode, err = single(form, "ErrorCode"); err != nil {
		return StatusCallback{}, err
	}
	if s.ErrorCode != "" && !isDigits(s.ErrorCode) {
		return StatusCallback{}, &FieldError{Field: "ErrorCode", Message: "must be a number"}
	}
	return s, nil
}

// messageSid reads MessageSid, falling back to the legacy SmsMessageSid and
// SmsSid that repeat it, and checks its shape: SM (SMS) or MM (MMS) and 32 hex
// digits.
func messageSid(form url.Values) (string, error) {
	sid, err := firstOf(form, "MessageSid", "SmsMessageSid", "SmsSid")
	if err != nil {
		return "", err
	}
	if !isSid(sid, "SM") && !isSid(sid, "MM") {
		return "", &FieldError{Field: "MessageSid", Message: "must be SM or MM followed by 32 hex digits"}
	}
	return sid, nil
}

func accountSid(form url.Values) (string, error) {
	sid, err := required(form, "AccountSid")
	if err == nil && !isSid(sid, "AC") {
		err = &FieldError{Field: "AccountSid", Message: "must be AC followed by 32 hex digits"}
	}
	return sid, err
}

// firstOf returns the first of names that is present, or a missing-field
// error naming the first.
func firstOf(form url.Values, names ...string) (string, error) {
	for _, name := range names {
		v, err := single(form, name)
		if err != nil {
			return "", err
		}
		if v != "" {
			return v, nil
		}
	}
	return "", &FieldError{Field: names[0], Message: "is required"}
}

func required(form url.Values, name string) (string, error) {
	v, err := single(form, name)
	if err == nil && v == "" {
		err = &FieldError{Field: name, Message: "is required"}
	}
	return v, err
}

// single returns the value of name, refusing a repeated parameter: Twilio
// never repeats the ones directsms reads, and picking the first or the last of
// two would be a guess.
func single(form url.Values, name string) (string, error) {
	switch vs := form[name]; len(vs) {
	case 0:
		return "", nil
	case 1:
		return vs[0], nil
	default:
		return "", &FieldError{Field: name, Message: "appears more than once"}
	}
}

// count reads an optional non-negative integer parameter; absent means 0.
func count(form url.Values, name string) (int, error) {
	v, err := single(form, name)
	if err != nil || v == "" {
		return 0, err
	}
	n, convErr := strconv.Atoi(v)
	// Atoi accepts a sign; Twilio never sends one.
	if convErr != nil || !isDigits(v) {
		return 0, &FieldError{Field: name, Message: "must be a non-negative integer"}
	}
	return n, nil
}

// media reads MediaUrl0..MediaUrl{n-1} and their content types, and refuses
// any MediaUrl{i} with i >= n, so NumMedia and the attachments always agree
// and none is silently dropped.
func media(form url.Values, n int) ([]Media, error) {
	for name := range form {
		idx, ok := strings.CutPrefix(name, "MediaUrl")
		if !ok || !isDigits(idx) {
			continue
		}
		if i, err := strconv.Atoi(idx); err != nil || i >= n {
			return nil, &FieldError{Field: "NumMedia", Message: "is " + strconv.Itoa(n) + " but " + name + " is present"}
		}
	}
	if n == 0 {
		return nil, nil
	}
	// The loop stops at the first gap, so a huge NumMedia costs no more than
	// the form's size.
	out := make([]Media, 0, min(n, len(form)))
	for i := range n {
		idx := strconv.Itoa(i)
		u, err := single(form, "MediaUrl"+idx)
		if err != nil {
			return nil, err
		}
		if u == "" {
			return nil, &FieldError{Field: "MediaUrl" + idx, Message: "is missing but NumMedia is " + strconv.Itoa(n)}
		}
		if parsed, perr := url.Parse(u); perr != nil || (parsed.Scheme != "https" && parsed.Scheme != "http") || parsed.Host == "" {
			return nil, &FieldError{Field: "MediaUrl" + idx, Message: "must be an absolute http(s) URL"}
		}
		ct, err := single(form, "MediaContentType"+idx)
		if err != nil {
			return nil, err
		}
		out = append(out, Media{URL: u, ContentType: ct})
	}
	return out, nil
}

// isSid reports whether s is prefix followed by 32 hex digits, the shape of
// every Twilio SID.
func isSid(s, prefix string) bool {
	if len(s) != len(prefix)+32 || s[:len(prefix)] != prefix {
		return false
	}
	for _, c := range []byte(s[len(prefix):]) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
