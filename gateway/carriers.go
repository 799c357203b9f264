package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"directsms/gateway/telnyx"
	"directsms/gateway/twilio"
	"directsms/numbers"
	"directsms/routing"
)

// Paths carriers post status updates to, relative to the public URL.
const (
	twilioStatusPath  = "/webhooks/twilio/status"
	telnyxWebhookPath = "/webhooks/telnyx"
)

// Carriers implements routing.Sender with the carriers' REST clients: Twilio's Messages and
// Telnyx's messages, at the account's base URL, asking each carrier to post status updates to
// this server's public URL.
type Carriers struct {
	publicURL string
	http      *http.Client
}

// NewCarriers returns the sender for the outbox workers. publicURL is where carriers reach this
// server (PUBLIC_URL). Connections to loopback and private addresses are refused unless
// allowPrivate (the fake carrier in development and tests), as for verification: a base_url is
// the tenant's to set, and the account's secrets go wherever it points.
func NewCarriers(publicURL string, allowPrivate bool) *Carriers {
	hc := carrierHTTPClient(allowPrivate)
	// A worker keeps many sends to one carrier in flight; with the default of two idle
	// connections per host, most sends would open and close a connection of their own.
	transport := hc.Transport.(*http.Transport)
	transport.MaxIdleConns, transport.MaxIdleConnsPerHost = 512, 128
	return &Carriers{publicURL: strings.TrimRight(publicURL, "/"), http: hc}
}

// Send hands one text to acct's carrier. Carrier refusals and missing answers become
// *routing.SendError, keeping the carrier's word on whether a retry may help and whether the
// recipient opted out.
func (c *Carriers) Send(ctx context.Context, acct numbers.Account, text routing.CarrierText) (routing.CarrierReceipt, error) {
	switch acct.Provider {
	case numbers.ProviderTwilio:
		client := twilio.Client{BaseURL: acct.BaseURL, HTTP: c.http}
		res, err := client.Send(ctx, twilio.Account{SID: acct.AccountSID, AuthToken: acct.AuthToken}, twilio.SendRequest{
			From: text.From, To: text.To, Body: text.Body, StatusCallback: c.publicURL + twilioStatusPath,
		})
		if err != nil {
			return routing.CarrierReceipt{}, twilioSendError(err)
		}
		return routing.CarrierReceipt{ID: res.SID}, nil
	case numbers.ProviderTelnyx:
		client := telnyx.Client{BaseURL: acct.BaseURL, HTTP: c.http}
		res, err := client.Send(ctx, telnyx.Account{APIKey: acct.APIKey}, telnyx.SendRequest{
			From: text.From, To: text.To, Text: text.Body, WebhookURL: c.publicURL + telnyxWebhookPath,
		})
		if err != nil {
			return routing.CarrierReceipt{}, telnyxSendError(err)
		}
		return routing.CarrierReceipt{ID: res.ID}, nil
	}
	return routing.CarrierReceipt{}, fmt.Errorf("send with %s: unknown provider %q", acct, acct.Provider)
}

func twilioSendError(err error) error {
	var se *twilio.SendError
	if !errors.As(err, &se) {
		return err
	}
	code := ""
	if se.Code != 0 {
		code = strconv.Itoa(se.Code)
	}
	return &routing.SendError{Code: failureCode(code, se.HTTPStatus), Message: se.Error(), Retry: se.Retryable(), OptOut: se.OptedOut()}
}

func telnyxSendError(err error) error {
	var se *telnyx.SendError
	if !errors.As(err, &se) {
		return err
	}
	return &routing.SendError{Code: failureCode(se.Code, se.HTTPStatus), Message: se.Error(), Retry: se.Retryable(), OptOut: se.OptedOut()}
}

// failureCode is the carrier's error code when it gave one, else the HTTP status, else
// no_response.
func failureCode(carrierCode string, httpStatus int) string {
	switch {
	case carrierCode != "":
		return carrierCode
	case httpStatus != 0:
		return "http_" + strconv.Itoa(httpStatus)
	}
	return "no_response"
}
