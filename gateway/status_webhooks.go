package gateway

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strconv"

	"directsms/gateway/telnyx"
	"directsms/gateway/twilio"
	"directsms/numbers"
	"directsms/routing"
)

// twilioStatuses maps Twilio's message statuses to directsms's. Twilio's steps before it has
// sent (queued, accepted, scheduled, sending) are all "the carrier has it": sending.
// partially_delivered is not an outcome yet. The inbound statuses are not for the status
// callback and are ignored.
var twilioStatuses = map[string]routing.MessageStatus{
	twilio.StatusQueued:             routing.MessageSending,
	twilio.StatusAccepted:           routing.MessageSending,
	twilio.StatusScheduled:          routing.MessageSending,
	twilio.StatusSending:            routing.MessageSending,
	twilio.StatusSent:               routing.MessageSent,
	twilio.StatusPartiallyDelivered: routing.MessageSent,
	twilio.StatusDelivered:          routing.MessageDelivered,
	twilio.StatusUndelivered:        routing.MessageUndelivered,
	twilio.StatusFailed:             routing.MessageFailed,
	twilio.StatusRead:               routing.MessageRead,
	twilio.StatusCanceled:           routing.MessageCanceled,
}

// twilioStatus records a Twilio status callback: POST /webhooks/twilio/status. The signature
// is checked with the auth token of the account named by AccountSid, over the public URL
// (PUBLIC_URL + path + query), before anything else; then the message moves forward (never
// back) and a 21610 marks the recipient opted out.
func (s *Server) twilioStatus(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	form, acct, err := s.twilioForm(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	cb, err := twilio.ParseStatus(form)
	if err != nil {
		s.writeError(w, r, carrierFieldError(err))
		return
	}
	if status, known := twilioStatuses[cb.MessageStatus]; known {
		err = s.deps.Outbound.ApplyStatus(ctx, routing.StatusUpdate{
			TenantID: acct.TenantID, Provider: numbers.ProviderTwilio, CarrierMessageID: cb.MessageSid,
			Status: status, ErrorCode: cb.ErrorCode, OptedOut: cb.ErrorCode == strconv.Itoa(twilio.CodeUnsubscribed),
		})
		if err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, twilio.ResponseXML) //nolint:errcheck // the carrier may have gone; nothing to do about it
}

// telnyxStatuses maps the recipient statuses of Telnyx's message.sent and message.finalized
// to directsms's. sending_failed means Telnyx could not send it; delivery_failed that the
// handset's carrier could not deliver it; delivery_unconfirmed that no receipt came, which
// leaves the message sent.
var telnyxStatuses = map[string]routing.MessageStatus{
	"queued":               routing.MessageSending,
	"sending":              routing.MessageSending,
	"sent":                 routing.MessageSent,
	"delivery_unconfirmed": routing.MessageSent,
	"delivered":            routing.MessageDelivered,
	"delivery_failed":      routing.MessageUndelivered,
	"expired":              routing.MessageUndelivered,
	"sending_failed":       routing.MessageFailed,
}

// applyTelnyxStatus records a message.sent or message.finalized event whose signature checked
// out with the tenant's Telnyx account: the message moves forward (never back), and a 40300
// marks the recipient opted out. Other events and statuses directsms does not track change
// nothing. The Telnyx webhook calls it.
func (s *Server) applyTelnyxStatus(ctx context.Context, tenantID string, ev telnyx.Event) error {
	if ev.EventType != telnyx.EventMessageSent && ev.EventType != telnyx.EventMessageFinalized {
		return nil
	}
	status, known := telnyxStatuses[ev.Message.Status]
	if !known {
		return nil
	}
	u := routing.StatusUpdate{TenantID: tenantID, Provider: numbers.ProviderTelnyx, CarrierMessageID: ev.Message.ID, Status: status}
	if len(ev.Message.Errors) > 0 {
		u.ErrorCode, u.ErrorMessage = ev.Message.Errors[0].Code, ev.Message.Errors[0].Title
	}
	u.OptedOut = slices.ContainsFunc(ev.Message.Errors, func(e telnyx.Error) bool { return e.Code == telnyx.CodeBlockedByStop })
	return s.deps.Outbound.ApplyStatus(ctx, u)
}
