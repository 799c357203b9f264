package directory

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"

	"directsms/internal/apperr"
	"directsms/sql/pg"
)

const (
	// sqlSetStatus changes the status only when it differs, so a repeated request writes no
	// timeline row; becoming available clears the missed-chat and unresponsive streaks, or the
	// next single miss would trip the threshold again.
	sqlSetStatus = `UPDATE users SET status = $3, status_changed_at = $4,
			missed_count = CASE WHEN $3 = 'available' THEN 0 ELSE missed_count END,
			unresponsive_count = CASE WHEN $3 = 'available' THEN 0 ELSE unresponsive_count END
		WHERE tenant_id = $1 AND id = $2 AND active AND status <> $3`
	sqlUserExists         = `SELECT true FROM users WHERE tenant_id = $1 AND id = $2`
	sqlInsertStatusChange = `INSERT INTO user_status_changes (tenant_id, user_id, status, reason, changed_by, changed_at)
		VALUES ($1, $2, $3, $4, $5, $6)`
)

// SetStatus sets a user's status for the system (the missed-chat and unresponsive thresholds,
// cool-downs) and records the change in the status timeline with reason and changedBy (a user
// id, or "" for the system). It reports whether the status changed: setting the current status,
// or any status of a deactivated user, changes nothing; an unknown user is not_found. It is not
// bound by roles.
func (s *Store) SetStatus(ctx context.Context, tenantID, userID string, status Status, reason, changedBy string) (bool, error) {
	var changed bool
	err := pg.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		var err error
		changed, err = SetStatusTx(ctx, tx, tenantID, userID, status, reason, changedBy, s.now())
		return err
	})
	return changed, err
}

// SetStatusTx is SetStatus inside the caller's transaction, for work that must change the
// status together with its own rows (a threshold counting the miss that trips it). now is the
// caller's clock.
func SetStatusTx(ctx context.Context, tx *sqlx.Tx, tenantID, userID string, status Status, reason, changedBy string, now time.Time) (bool, error) {
	if !status.Valid() {
		return false, apperr.Invalid("status", "invalid_status", fmt.Sprintf("%q is not a status", status))
	}
	if err := checkReason(reason); err != nil {
		return false, err
	}
	if !validUUID(userID) || (changedBy != "" && !validUUID(changedBy)) {
		return false, apperr.NotFound("user")
	}
	userID = strings.ToLower(userID)
	changed, err := setStatus(ctx, tx, tenantID, userID, status, reason, strings.ToLower(changedBy), now.UTC())
	if err != nil {
		return false, fmt.Errorf("set status of %s: %w", userID, err)
	}
	if !changed {
		var ok bool
		if err := tx.GetContext(ctx, &ok, sqlUserExists, tenantID, userID); err == pg.ErrNoRows {
			return false, apperr.NotFound("user")
		} else if err != nil {
			return false, fmt.Errorf("find user %s: %w", userID, err)
		}
	}
	return changed, nil
}

// ChangeStatus is an API caller setting a status: a user their own, admins anyone's, supervisors
// those of the users of their teams. Only available, away and offline can be set by hand;
// reason is optional ("manual" when empty). It answers the user as it now is.
func (s *Store) ChangeStatus(ctx context.Context, by Principal, userID string, status Status, reason string) (User, error) {
	if err := checkSettableStatus(status); err != nil {
		return User{}, err
	}
	if reason = strings.TrimSpace(reason); reason == "" {
		reason = "manual"
	}
	if err := checkReason(reason); err != nil {
		return User{}, err
	}
	var out User
	err := pg.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		cur, err := lockUser(ctx, tx, by.TenantID, userID)
		if err != nil {
			return err
		}
		if cur.ID != by.UserID {
			a, err := loadActor(ctx, tx, by)
			if err != nil {
				return err
			}
			if err := a.mayManageUser(cur.Role, cur.TeamIDs); err != nil {
				return err
			}
		}
		if !cur.Active {
			return errUserInactive()
		}
		if _, err := setStatus(ctx, tx, by.TenantID, cur.ID, status, reason, by.UserID, s.now()); err != nil {
			return err
		}
		out, err = getUser(ctx, tx, by.TenantID, cur.ID)
		return err
	})
	if err != nil {
		return User{}, fmt.Errorf("change status of %s: %w", userID, err)
	}
	return out, nil
}

func checkReason(reason string) error {
	if reason == "" || utf8.RuneCountInString(reason) > 200 {
		return apperr.Invalid("reason", "invalid_reason", "reason must be 1 to 200 characters")
	}
	return nil
}

func setStatus(ctx context.Context, tx *sqlx.Tx, tenantID, userID string, status Status, reason, changedBy string, now time.Time) (bool, error) {
	res, err := tx.ExecContext(ctx, sqlSetStatus, tenantID, userID, status, now)
	if err != nil {
		return false, fmt.Errorf("update status: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	return true, recordStatus(ctx, tx, tenantID, userID, status, reason, changedBy, now)
}

func recordStatus(ctx context.Context, tx *sqlx.Tx, tenantID, userID string, status Status, reason, changedBy string, now time.Time) error {
	var by any
	if changedBy != "" {
		by = changedBy
	}
	if _, err := tx.ExecContext(ctx, sqlInsertStatusChange, tenantID, userID, status, reason, by, now); err != nil {
		return fmt.Errorf("record status change: %w", err)
	}
	return nil
}
