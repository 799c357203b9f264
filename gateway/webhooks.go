package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"directsms/gateway/telnyx"
	"directsms/gateway/twilio"
	"directsms/internal/apperr"
	"directsms/numbers"
	"directsms/routing"
)

// webhookBodyLimit bounds carrier webhook bodies. Twilio's largest inbound form (1,600
// characters of body, ten media URLs) and Telnyx's largest event are a few kilobytes; anything
// near this limit is not a carrier.
const webhookBodyLimit = 64 << 10

var (
	errBadSignature = apperr.Forbidden("the carrier signature is missing or does not verify")
	errFormType     = apperr.BadRequest("", "Content-Type must be application/x-www-form-urlencoded")
)

// twilioMessages receives Twilio's inbound SMS webhook. The signature is checked with the auth
// token of the account the form names, over the public URL (PUBLIC_URL + path + query), before
// anything is parsed further; the answer is 200 TwiML only once the text, its session and
// offers are committed.
func (s *Server) twilioMessages(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	form, acct, err := s.twilioForm(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	in, err := twilio.ParseInbound(form)
	if err != nil {
		s.writeError(w, r, carrierFieldError(err))
		return
	}
	media := make([]routing.Media, len(in.Media))
	for i, m := range in.Media {
		media[i] = routing.Media{URL: m.URL, ContentType: m.ContentType}
	}
	text, err := s.inboundText(acct, routing.ProviderTwilio, in.MessageSid, in.AccountSid, in.From, in.To, in.Body, media)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	text.Segments = in.NumSegments
	if err := s.routeInbound(ctx, text); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, twilio.ResponseXML) //nolint:errcheck // the carrier may have gone; it will retry
}

// telnyxWebhook receives Telnyx's message events. Telnyx names no account, so the signature is
// checked with the public key of the account holding the number the event concerns (To of an
// inbound text, From of a sent one), or of any Telnyx account when directsms does not know that
// number. message.received is routed; message.sent and message.finalized move the outbound
// message they concern forward (applyTelnyxStatus).
func (s *Server) telnyxWebhook(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	body, err := readWebhookBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ev, err := telnyx.ParseEvent(body)
	if err != nil {
		s.writeError(w, r, carrierFieldError(err))
		return
	}
	ours := ev.Message.To
	if ev.EventType != telnyx.EventMessageReceived {
		ours = ev.Message.From
	}
	if n, err := numbers.Normalize(ours, ""); err == nil {
		ours = string(n)
	}
	ts, sig := r.Header.Get(telnyx.TimestampHeader), r.Header.Get(telnyx.SignatureHeader)
	if ts == "" || sig == "" {
		s.writeError(w, r, errBadSignature)
		return
	}
	acct, err := s.telnyxSigner(r, ours, ts, body, sig)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	infoFrom(ctx).tenantID = acct.TenantID
	if err := s.applyTelnyxStatus(ctx, acct.TenantID, ev); err != nil {
		s.writeError(w, r, err)
		return
	}
	if ev.EventType == telnyx.EventMessageReceived {
		media := make([]routing.Media, len(ev.Message.Media))
		for i, u := range ev.Message.Media {
			media[i] = routing.Media{URL: u}
		}
		text, err := s.inboundText(acct, routing.ProviderTelnyx, ev.Message.ID, "", ev.Message.From, ev.Message.To, ev.Message.Text, media)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if err := s.routeInbound(ctx, text); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "received"})
}

// routeInbound routes a verified inbound text; replies it queued (consent confirmations, help)
// wake this process's outbox worker so they go out at once.
func (s *Server) routeInbound(ctx context.Context, text routing.Inbound) error {
	res, err := s.deps.Routing.Inbound(ctx, text)
	if err != nil {
		return err
	}
	if len(res.ReplyIDs) > 0 && s.deps.Outbound != nil {
		s.deps.Outbound.Wake()
	}
	return nil
}

// telnyxSigner returns the Telnyx account whose public key verifies the request, looking the
// accounts up afresh once when none of the cached ones does (a rotated key).
func (s *Server) telnyxSigner(r *http.Request, number, ts string, body []byte, sig string) (routing.WebhookAccount, error) {
	for _, fresh := range []bool{false, true} {
		accounts, err := s.deps.Routing.TelnyxAccounts(r.Context(), number, fresh)
		if err != nil {
			return routing.WebhookAccount{}, err
		}
		for _, a := range accounts {
			key, err := telnyx.ParsePublicKey(a.PublicKey)
			if err != nil {
				continue
			}
			switch err := telnyx.Verify(key, ts, body, sig, s.now()); {
			case err == nil:
				return a, nil
			case errors.Is(err, telnyx.ErrStaleTimestamp):
				return routing.WebhookAccount{}, apperr.Forbidden("the telnyx-timestamp is more than 5 minutes from now")
			}
		}
	}
	return routing.WebhookAccount{}, errBadSignature
}

// inboundText turns a verified webhook's fields into a text for routing. From must be a number,
// short code or sender id; To that is not a number is kept as sent (it will be unrouted). Text
// PostgreSQL cannot store (invalid UTF-8, NUL) is refused as malformed.
func (s *Server) inboundText(acct routing.WebhookAccount, p routing.Provider, messageID, accountSID, from, to, body string, media []routing.Media) (routing.Inbound, error) {
	idField := "MessageSid"
	if p == routing.ProviderTelnyx {
		idField = "data.payload.id"
	}
	for _, f := range []struct{ name, value string }{{idField, messageID}, {"AccountSid", accountSID}, {"From", from}, {"To", to}, {"Body", body}} {
		if !storable(f.value) {
			return routing.Inbound{}, apperr.BadRequest(f.name, f.name+" is not valid UTF-8 text")
		}
	}
	for _, m := range media {
		if !storable(m.URL) || !storable(m.ContentType) {
			return routing.Inbound{}, apperr.BadRequest("MediaUrl", "a media URL or content type is not valid UTF-8 text")
		}
	}
	addr, err := s.addresses.classify(from, acct.Region)
	if err != nil {
		return routing.Inbound{}, apperr.BadRequest("From", "From is not a phone number, short code or sender id")
	}
	// To must be a number to be in an inventory; anything else stays as sent and is unrouted.
	if a, err := s.addresses.classify(to, acct.Region); err == nil && a.Kind == numbers.KindNumber {
		to = a.Value
	}
	return routing.Inbound{AccountID: acct.ID, Provider: p, AccountSID: accountSID, CarrierMessageID: messageID,
		From: addr, To: to, Body: body, Media: media}, nil
}

// storable reports whether PostgreSQL can store s as text.
func storable(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// carrierFieldError turns a carrier parser's field error into a 400 naming the field.
func carrierFieldError(err error) error {
	var tw *twilio.FieldError
	var tx *telnyx.FieldError
	switch {
	case errors.As(err, &tw):
		return apperr.BadRequest(tw.Field, tw.Field+" "+tw.Message)
	case errors.As(err, &tx):
		return apperr.BadRequest(tx.Field, tx.Field+" "+tx.Message)
	}
	return apperr.BadRequest("", err.Error())
}

// readWebhookBody reads a carrier's body whole (signatures cover its exact bytes), refusing
// one over webhookBodyLimit with 413.
func readWebhookBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, webhookBodyLimit))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, err
		}
		return nil, apperr.BadRequest("", "the body could not be read")
	}
	return b, nil
}

// twilioForm reads a Twilio webhook's form and checks its X-Twilio-Signature with the auth token
// of the account the form names, over the public URL (PUBLIC_URL + path + query), before
// anything else is read from it. A failed check looks the account up afresh once, since the
// cached token may predate a rotation.
func (s *Server) twilioForm(w http.ResponseWriter, r *http.Request) (url.Values, routing.WebhookAccount, error) {
	ctx := r.Context()
	body, err := readWebhookBody(w, r)
	if err != nil {
		return nil, routing.WebhookAccount{}, err
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		return nil, routing.WebhookAccount{}, errFormType
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, routing.WebhookAccount{}, apperr.BadRequest("", "malformed form body")
	}
	sig := r.Header.Get(twilio.SignatureHeader)
	if sig == "" {
		return nil, routing.WebhookAccount{}, errBadSignature
	}
	sid := form.Get("AccountSid")
	signedURL := s.cfg.PublicURL + requestURI(r)
	for _, fresh := range []bool{false, true} {
		acct, err := s.deps.Routing.TwilioAccount(ctx, sid, fresh)
		if err != nil {
			return nil, routing.WebhookAccount{}, err
		}
		if twilio.ValidSignature(acct.AuthToken, signedURL, form, sig) {
			infoFrom(ctx).tenantID = acct.TenantID
			return form, acct, nil
		}
	}
	return nil, routing.WebhookAccount{}, errBadSignature
}

// requestURI is the path and query exactly as the client sent them, which is what a carrier
// signs.
func requestURI(r *http.Request) string {
	if strings.HasPrefix(r.RequestURI, "/") {
		return r.RequestURI
	}
	return r.URL.RequestURI()
}
