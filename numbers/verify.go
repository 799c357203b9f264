package numbers

import (
	"context"
	"errors"
	"fmt"

	"directsms/internal/apperr"
)

// Verifier asks a carrier whether a number is configured in an account. It is implemented over
// the carriers' REST clients outside this package, which must not know them.
type Verifier interface {
	// OwnsNumber reports whether n is one of acct's numbers and names the lookup that answered
	// ("twilio:IncomingPhoneNumbers"). A failure to get an answer is ErrCarrierUnavailable, and
	// credentials the carrier refused are ErrCarrierRejectedCredentials, wrapped or not.
	OwnsNumber(ctx context.Context, acct Account, n E164) (owned bool, via string, err error)
}

// ErrCarrierUnavailable is the answer when the carrier could not be asked: no response, a 5xx,
// a rate limit. Nothing was recorded; asking again later may work.
var ErrCarrierUnavailable = &apperr.Error{Kind: apperr.KindUnavailable, Code: "carrier_unavailable",
	Message: "the carrier could not be reached; nothing was changed, try again later"}

// ErrCarrierRejectedCredentials is the answer when the carrier refused the account's
// credentials, so it could not say whether it holds the number.
var ErrCarrierRejectedCredentials = apperr.Conflict("carrier_auth_failed",
	"the carrier refused the account's credentials; update them on the carrier account")

const (
	sqlMarkVerified = `UPDATE numbers SET status = 'verified', verified_at = $2, verified_via = $3, checked_at = $2, updated_at = $2
		WHERE id = $1 AND carrier_account_id = $4`
	// sqlMarkUnverified also drops the SMS owner, which only a verified number may have, and
	// returns the owner it had.
	sqlMarkUnverified = `WITH old AS (SELECT id, sms_user_id, sms_queue_id FROM numbers WHERE id = $1 AND carrier_account_id = $3 FOR UPDATE)
		UPDATE numbers n SET status = 'unverified', verified_at = NULL, verified_via = NULL, checked_at = $2, updated_at = $2,
			sms_user_id = NULL, sms_queue_id = NULL
		FROM old WHERE n.id = old.id RETURNING old.sms_user_id, old.sms_queue_id`
)

// Verify asks the number's carrier whether its account holds the number and records the answer.
// Found: the number is verified, with when and through which lookup. Not found: the number is
// unverified, loses its SMS owner (an unverified number cannot be assigned), and the answer is
// 409 number_not_in_carrier_account. A carrier that cannot be asked changes nothing (503
// carrier_unavailable).
func (s *Store) Verify(ctx context.Context, tenantID, input string) (Number, error) {
	if s.verifier == nil {
		return Number{}, errors.New("verify number: the store has no verifier")
	}
	n, err := s.normalize(ctx, tenantID, "number", input)
	if err != nil {
		return Number{}, err
	}
	cur, err := getNumber(ctx, s.db, tenantID, n, false)
	if err != nil {
		return Number{}, err
	}
	acct, err := s.GetAccount(ctx, tenantID, cur.CarrierAccountID)
	if err != nil {
		return Number{}, fmt.Errorf("verify number %s: %w", n.Masked(), err)
	}
	// The carrier is asked outside any transaction: no lock is held while it answers.
	owned, via, err := s.verifier.OwnsNumber(ctx, acct, n)
	if err != nil {
		return Number{}, fmt.Errorf("verify number %s with %s: %w", n.Masked(), acct, err)
	}
	now := s.now()
	if owned {
		if _, err := s.db.ExecContext(ctx, sqlMarkVerified, cur.ID, now, via, acct.ID); err != nil {
			return Number{}, fmt.Errorf("record verification of %s: %w", n.Masked(), err)
		}
		return getNumber(ctx, s.db, tenantID, n, false)
	}
	var dropped []struct {
		UserID  *string `db:"sms_user_id"`
		QueueID *string `db:"sms_queue_id"`
	}
	if err := s.db.SelectContext(ctx, &dropped, sqlMarkUnverified, cur.ID, now, acct.ID); err != nil {
		return Number{}, fmt.Errorf("record failed verification of %s: %w", n.Masked(), err)
	}
	msg := fmt.Sprintf("%s is not in %s account %s (asked %s); it is unverified", n, acct.Provider, accountName(acct), via)
	if len(dropped) == 1 && (dropped[0].UserID != nil || dropped[0].QueueID != nil) {
		msg += " and its SMS owner assignment was removed"
	}
	return Number{}, apperr.Conflict("number_not_in_carrier_account", msg)
}

// accountName is how an admin recognises an account: its SID, else its label, else its id.
func accountName(a Account) string {
	switch {
	case a.AccountSID != "":
		return a.AccountSID
	case a.Label != "":
		return fmt.Sprintf("%q", a.Label)
	}
	return a.ID
}
