package fakecarrier

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"directsms/gateway/twilio"
)

// twilioMessages are the texts Twilio answers its error codes with.
var twilioMessages = map[int]string{
	20003: "Authenticate",
	20429: "Too Many Requests",
	20500: "An internal server error has occurred",
	21211: "Invalid 'To' Phone Number",
	21602: "Message body is required.",
	21603: "A 'From' phone number is required.",
	21604: "A 'To' phone number is required.",
	21606: "The 'From' phone number provided is not a valid message-capable Twilio phone number for this destination/account.",
	21609: "Invalid StatusCallback url",
	21610: "Attempt to send to unsubscribed recipient",
	21614: "'To' number is not a valid mobile number",
	21617: "The concatenated message body exceeds the 1600 character limit.",
	30003: "Unreachable destination handset",
}

// twilioError answers with Twilio's error body; code 0 answers with a body
// that is not one, as a proxy would.
func twilioError(w http.ResponseWriter, status, code int) {
	if code == 0 {
		http.Error(w, "fakecarrier: upstream error", status)
		return
	}
	msg, ok := twilioMessages[code]
	if !ok {
		msg = "Scripted failure " + strconv.Itoa(code)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="Twilio API"`)
	}
	writeJSON(w, status, map[string]any{
		"code": code, "message": msg, "status": status,
		"more_info": "https://www.twilio.com/docs/errors/" + strconv.Itoa(code),
	})
}

// twilioAuth checks HTTP Basic credentials against the account in the path
// and returns it, or answers 401 and returns nil.
func (f *Fake) twilioAuth(w http.ResponseWriter, r *http.Request) *twilioAccount {
	sid := r.PathValue("sid")
	user, pass, ok := r.BasicAuth()
	f.mu.Lock()
	acct := f.twilioAccounts[sid]
	var token string
	if acct != nil {
		token = acct.token
	}
	f.mu.Unlock()
	if !ok || acct == nil || user != sid || subtle.ConstantTimeCompare([]byte(pass), []byte(token)) != 1 {
		twilioError(w, http.StatusUnauthorized, 20003)
		return nil
	}
	return acct
}

func (f *Fake) twilioSend(w http.ResponseWriter, r *http.Request) {
	acct := f.twilioAuth(w, r)
	if acct == nil {
		return
	}
	if fl, ok := f.takeFailure(Twilio); ok {
		if fl.httpStatus == 0 {
			dropConnection(w)
			return
		}
		twilioError(w, fl.httpStatus, fl.code)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxRequestBytes)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "fakecarrier: unreadable form", http.StatusBadRequest)
		return
	}
	sid := r.PathValue("sid")
	to, from, body, callback := r.PostForm.Get("To"), r.PostForm.Get("From"), r.PostForm.Get("Body"), r.PostForm.Get("StatusCallback")
	f.mu.Lock()
	owned := slices.Contains(acct.numbers, from)
	f.mu.Unlock()
	switch {
	case to == "":
		twilioError(w, http.StatusBadRequest, 21604)
		return
	case !isE164(to) && !isShortCode(to):
		twilioError(w, http.StatusBadRequest, 21211)
		return
	case from == "":
		twilioError(w, http.StatusBadRequest, 21603)
		return
	case !owned:
		twilioError(w, http.StatusBadRequest, 21606)
		return
	case body == "":
		twilioError(w, http.StatusBadRequest, 21602)
		return
	case utf8.RuneCountInString(body) > twilio.MaxBodyChars:
		twilioError(w, http.StatusBadRequest, 21617)
		return
	case callback != "" && !isHTTPURL(callback):
		twilioError(w, http.StatusBadRequest, 21609)
		return
	}

	msg := SentMessage{Provider: Twilio, AccountSID: sid, ID: "SM" + randomHex(16), From: from, To: to, Body: body, StatusCallback: callback}
	parts, _ := segments(body)
	created := f.now().UTC().Format(http.TimeFormat)
	uri := "/2010-04-01/Accounts/" + sid + "/Messages/" + msg.ID
	// Recorded before answering, so Sent() includes it once the client has
	// its answer.
	f.record(msg)
	writeJSON(w, http.StatusCreated, map[string]any{
		"account_sid": sid, "api_version": "2010-04-01", "body": body,
		"date_created": created, "date_updated": created, "date_sent": nil,
		"direction": "outbound-api", "error_code": nil, "error_message": nil,
		"from": from, "to": to, "messaging_service_sid": nil,
		"num_media": "0", "num_segments": strconv.Itoa(parts),
		"price": nil, "price_unit": "USD", "sid": msg.ID, "status": "queued",
		"subresource_uris": map[string]string{"media": uri + "/Media.json"},
		"uri":              uri + ".json",
	})
}

// twilioNumbers lists the account's numbers that match PhoneNumber, exactly
// or, as Twilio allows, by a run of its digits.
func (f *Fake) twilioNumbers(w http.ResponseWriter, r *http.Request) {
	acct := f.twilioAuth(w, r)
	if acct == nil {
		return
	}
	sid, filter := r.PathValue("sid"), r.URL.Query().Get("PhoneNumber")
	f.mu.Lock()
	numbers := slices.Clone(acct.numbers)
	f.mu.Unlock()
	items := []map[string]any{}
	for i, n := range numbers {
		if filter != "" && n != filter && (digits(filter) == "" || !strings.Contains(digits(n), digits(filter))) {
			continue
		}
		items = append(items, map[string]any{
			"account_sid": sid, "phone_number": n, "friendly_name": n,
			"sid":          fmt.Sprintf("PN%032x", i+1),
			"capabilities": map[string]bool{"sms": true, "mms": true, "voice": true},
		})
	}
	uri := r.URL.RequestURI()
	writeJSON(w, http.StatusOK, map[string]any{
		"incoming_phone_numbers": items, "page": 0, "page_size": 50, "start": 0, "end": max(len(items)-1, 0),
		"uri": uri, "first_page_uri": uri, "next_page_uri": nil, "previous_page_uri": nil,
	})
}

// PostTwilioStatus posts one status callback for a message the fake accepted,
// form-encoded and signed with the account's auth token over the callback URL,
// as Twilio does. errorCode is sent as ErrorCode when not empty. It fails when
// the message is unknown or had no StatusCallback, or the receiver does not
// answer 2xx.
func (f *Fake) PostTwilioStatus(ctx context.Context, msgSID, status, errorCode string) error {
	m, err := f.findSent(Twilio, msgSID)
	if err != nil {
		return err
	}
	if m.StatusCallback == "" {
		return fmt.Errorf("fakecarrier: twilio message %s has no StatusCallback", msgSID)
	}
	f.mu.Lock()
	token := f.twilioAccounts[m.AccountSID].token
	f.mu.Unlock()
	form := url.Values{
		"MessageSid": {m.ID}, "SmsSid": {m.ID}, "AccountSid": {m.AccountSID},
		"From": {m.From}, "To": {m.To}, "MessageStatus": {status}, "SmsStatus": {status},
		"ApiVersion": {"2010-04-01"},
	}
	if errorCode != "" {
		form.Set("ErrorCode", errorCode)
	}
	header := http.Header{twilio.SignatureHeader: {twilio.Signature(token, m.StatusCallback, form)}}
	return f.post(ctx, m.StatusCallback, "application/x-www-form-urlencoded", []byte(form.Encode()), header)
}

// TwilioInbound builds an inbound SMS webhook as Twilio would post it to
// publicURL for the account, with a fresh MessageSid, and returns the form
// and its X-Twilio-Signature. Post form.Encode() with that header to the
// gateway; publicURL is the URL the gateway believes it is reached at, which
// is what gets signed.
func TwilioInbound(accountSID, token, publicURL, from, to, body string) (url.Values, string) {
	sid := "SM" + randomHex(16)
	parts, _ := segments(body)
	form := url.Values{
		"MessageSid": {sid}, "SmsMessageSid": {sid}, "SmsSid": {sid},
		"AccountSid": {accountSID}, "From": {from}, "To": {to}, "Body": {body},
		"NumMedia": {"0"}, "NumSegments": {strconv.Itoa(parts)},
		"SmsStatus": {"received"}, "ApiVersion": {"2010-04-01"},
		"FromCity": {""}, "FromState": {""}, "FromZip": {""}, "FromCountry": {"US"},
		"ToCity": {""}, "ToState": {""}, "ToZip": {""}, "ToCountry": {"US"},
	}
	return form, twilio.Signature(token, publicURL, form)
}
