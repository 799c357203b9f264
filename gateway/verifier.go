package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"syscall"
	"time"

	"directsms/gateway/telnyx"
	"directsms/gateway/twilio"
	"directsms/numbers"
)

// CarrierVerifier implements numbers.Verifier with the carriers' REST clients: Twilio's
// IncomingPhoneNumbers and Telnyx's phone_numbers, at the account's base URL.
type CarrierVerifier struct {
	http *http.Client
	log  *slog.Logger
}

// NewCarrierVerifier returns a verifier whose connections to loopback and private addresses are
// refused unless allowPrivate (the fake carrier in development): a base_url is the tenant's to
// set, and the account's secrets go wherever it points.
func NewCarrierVerifier(allowPrivate bool, log *slog.Logger) *CarrierVerifier {
	if log == nil {
		log = slog.Default()
	}
	return &CarrierVerifier{http: carrierHTTPClient(allowPrivate), log: log.With("component", "carrier_verifier")}
}

// carrierHTTPClient bounds every carrier call and, unless allowPrivate, checks the address each
// connection is actually made to, after DNS, so a public name cannot resolve to a private host.
func carrierHTTPClient(allowPrivate bool) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	if !allowPrivate {
		dialer.Control = func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			if numbers.IsPrivateHost(host) {
				return fmt.Errorf("refusing to connect to private address %s", host)
			}
			return nil
		}
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.DialContext = dialer.DialContext
	return &http.Client{Timeout: 10 * time.Second, Transport: transport}
}

// OwnsNumber asks the account's carrier whether it holds n.
func (v *CarrierVerifier) OwnsNumber(ctx context.Context, acct numbers.Account, n numbers.E164) (bool, string, error) {
	var owned bool
	var via string
	var err error
	switch acct.Provider {
	case numbers.ProviderTwilio:
		via = "twilio:IncomingPhoneNumbers"
		c := twilio.Client{BaseURL: acct.BaseURL, HTTP: v.http}
		owned, err = c.OwnsNumber(ctx, twilio.Account{SID: acct.AccountSID, AuthToken: acct.AuthToken}, string(n))
	case numbers.ProviderTelnyx:
		via = "telnyx:phone_numbers"
		c := telnyx.Client{BaseURL: acct.BaseURL, HTTP: v.http}
		owned, err = c.OwnsNumber(ctx, telnyx.Account{APIKey: acct.APIKey}, string(n))
	default:
		return false, "", fmt.Errorf("verify with %s: unknown provider %q", acct, acct.Provider)
	}
	if err == nil {
		return owned, via, nil
	}
	status := httpStatus(err)
	if ctx.Err() == nil {
		v.log.WarnContext(ctx, "carrier lookup failed", "account", acct, "number", n, "via", via, "http_status", status, "err", err)
	}
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		return false, via, numbers.ErrCarrierRejectedCredentials
	}
	return false, via, numbers.ErrCarrierUnavailable
}

// httpStatus is the carrier's HTTP status in a client error, 0 when none arrived.
func httpStatus(err error) int {
	var tw *twilio.SendError
	if errors.As(err, &tw) {
		return tw.HTTPStatus
	}
	var tx *telnyx.SendError
	if errors.As(err, &tx) {
		return tx.HTTPStatus
	}
	return 0
}
