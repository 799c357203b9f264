package numbers

import (
	"context"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"directsms/directory"
	"directsms/internal/apperr"
	"directsms/sql/pg"
)

const (
	// sqlLockUser takes the lock the per-agent limit trigger takes, before the number's, so
	// that every path locks users before numbers and bulk assignment cannot deadlock with it.
	sqlLockUser     = `SELECT active FROM users WHERE tenant_id = $1 AND id = $2 FOR NO KEY UPDATE`
	sqlSetSMSUser   = `UPDATE numbers SET sms_user_id = $2, updated_at = $3 WHERE id = $1`
	sqlSetSMSQueue  = `UPDATE numbers SET sms_queue_id = $2, updated_at = $3 WHERE id = $1`
	sqlSetIVRQueue  = `UPDATE numbers SET ivr_queue_id = $2, updated_at = $3 WHERE id = $1`
	sqlSelectQueue  = `SELECT kind FROM queues WHERE tenant_id = $1 AND id = $2`
	sqlUnsetSMSUser = `UPDATE numbers SET sms_user_id = NULL, updated_at = $4 WHERE tenant_id = $1 AND e164 = $2 AND sms_user_id = $3`
	sqlUnsetQueue   = `UPDATE numbers SET
		sms_queue_id = CASE WHEN sms_queue_id = $3 THEN NULL ELSE sms_queue_id END,
		ivr_queue_id = CASE WHEN ivr_queue_id = $3 THEN NULL ELSE ivr_queue_id END, updated_at = $4
		WHERE tenant_id = $1 AND e164 = $2 AND $3 IN (sms_queue_id, ivr_queue_id)`
	sqlNumberExists      = `SELECT true FROM numbers WHERE tenant_id = $1 AND e164 = $2`
	sqlSelectActiveUsers = `SELECT id FROM users WHERE tenant_id = $1 AND id = ANY($2) AND active`
	sqlSelectQueueKinds  = `SELECT id, kind FROM queues WHERE tenant_id = $1 AND id = ANY($2)`
	sqlDeleteOldSenders  = `DELETE FROM number_outbound WHERE number_id = $1
		AND ((user_id IS NOT NULL AND NOT user_id = ANY($2)) OR (queue_id IS NOT NULL AND NOT queue_id = ANY($3)))`
	sqlInsertUserSenders = `INSERT INTO number_outbound (tenant_id, number_id, user_id, created_at)
		SELECT $1, $2, u, $4 FROM unnest(CAST($3 AS uuid[])) AS u
		ON CONFLICT (number_id, user_id) WHERE user_id IS NOT NULL DO NOTHING`
	sqlInsertQueueSenders = `INSERT INTO number_outbound (tenant_id, number_id, queue_id, created_at)
		SELECT $1, $2, q, $4 FROM unnest(CAST($3 AS uuid[])) AS q
		ON CONFLICT (number_id, queue_id) WHERE queue_id IS NOT NULL DO NOTHING`
)

// errUserNotFound answers a user that is not an active user of the tenant.
var errUserNotFound = apperr.NotFound("user")

// AssignToUser makes the number the user's direct number and makes sure the user has a personal
// queue for the sessions it brings. Assigning a number the user already owns changes nothing.
// The rules (direct, verified, no other owner, the per-agent limit) are the database's; their
// violations come back as 409s with the API's codes.
func (s *Store) AssignToUser(ctx context.Context, tenantID, userID, input string) (Number, error) {
	n, err := s.normalize(ctx, tenantID, "number", input)
	if err != nil {
		return Number{}, err
	}
	var out Number
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		var active bool
		if err := tx.GetContext(ctx, &active, sqlLockUser, tenantID, userID); err == pg.ErrNoRows || (err == nil && !active) {
			return errUserNotFound
		} else if err != nil {
			return fmt.Errorf("lock user: %w", err)
		}
		cur, err := getNumber(ctx, tx, tenantID, n, true)
		if err != nil {
			return err
		}
		if cur.SMSOwner != nil && cur.SMSOwner.UserID == userID {
			out = cur
			return nil
		}
		if _, err := tx.ExecContext(ctx, sqlSetSMSUser, cur.ID, userID, s.now()); err != nil {
			return ruleError(err, n)
		}
		if _, err := directory.EnsurePersonalQueue(ctx, tx, tenantID, userID); err != nil {
			return err
		}
		out, err = getNumber(ctx, tx, tenantID, n, false)
		return err
	})
	if err != nil {
		return Number{}, fmt.Errorf("assign number %s to user %s: %w", n.Masked(), userID, err)
	}
	return out, nil
}

// UnassignFromUser takes the number away from the user it is assigned to.
func (s *Store) UnassignFromUser(ctx context.Context, tenantID, userID, input string) error {
	n, err := s.normalize(ctx, tenantID, "number", input)
	if err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, sqlUnsetSMSUser, tenantID, string(n), userID, s.now())
	if err != nil {
		return fmt.Errorf("unassign number %s from user %s: %w", n.Masked(), userID, err)
	}
	if c, _ := res.RowsAffected(); c == 0 {
		return s.missingAssignment(ctx, tenantID, n, "the number is not assigned to this user")
	}
	return nil
}

// AssignToQueue puts the number on a queue: as its SMS owner for an SMS queue, as its IVR
// number for an IVR queue. Assigning it again to the same queue changes nothing.
func (s *Store) AssignToQueue(ctx context.Context, tenantID, queueID, input string) (Number, error) {
	n, err := s.normalize(ctx, tenantID, "number", input)
	if err != nil {
		return Number{}, err
	}
	var out Number
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		var kind string
		if err := tx.GetContext(ctx, &kind, sqlSelectQueue, tenantID, queueID); err == pg.ErrNoRows {
			return apperr.NotFound("queue")
		} else if err != nil {
			return fmt.Errorf("find queue: %w", err)
		}
		cur, err := getNumber(ctx, tx, tenantID, n, true)
		if err != nil {
			return err
		}
		query := sqlSetSMSQueue
		already := cur.SMSOwner != nil && cur.SMSOwner.QueueID == queueID
		if kind == "ivr" {
			query = sqlSetIVRQueue
			already = cur.IVRQueueID != nil && *cur.IVRQueueID == queueID
		}
		if already {
			out = cur
			return nil
		}
		if _, err := tx.ExecContext(ctx, query, cur.ID, queueID, s.now()); err != nil {
			return ruleError(err, n)
		}
		out, err = getNumber(ctx, tx, tenantID, n, false)
		return err
	})
	if err != nil {
		return Number{}, fmt.Errorf("assign number %s to queue %s: %w", n.Masked(), queueID, err)
	}
	return out, nil
}

// UnassignFromQueue takes the number off the queue, whichever kind the queue is.
func (s *Store) UnassignFromQueue(ctx context.Context, tenantID, queueID, input string) error {
	n, err := s.normalize(ctx, tenantID, "number", input)
	if err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, sqlUnsetQueue, tenantID, string(n), queueID, s.now())
	if err != nil {
		return fmt.Errorf("unassign number %s from queue %s: %w", n.Masked(), queueID, err)
	}
	if c, _ := res.RowsAffected(); c == 0 {
		return s.missingAssignment(ctx, tenantID, n, "the number is not assigned to this queue")
	}
	return nil
}

// missingAssignment tells an unknown number from a known one without the assignment.
func (s *Store) missingAssignment(ctx context.Context, tenantID string, n E164, message string) error {
	var ok bool
	err := s.db.GetContext(ctx, &ok, sqlNumberExists, tenantID, string(n))
	if err == pg.ErrNoRows {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("find number %s: %w", n.Masked(), err)
	}
	return &apperr.Error{Kind: apperr.KindNotFound, Code: "not_found", Message: message}
}

// SetOutbound replaces who may send from a non-direct number: active users of the tenant, and
// leaf SMS queues. A direct number's only sender is its owner: 409 number_is_direct.
func (s *Store) SetOutbound(ctx context.Context, tenantID, input string, senders Senders) (Number, error) {
	n, err := s.normalize(ctx, tenantID, "number", input)
	if err != nil {
		return Number{}, err
	}
	userIDs, err := distinctIDs("user_ids", "user_not_found", senders.UserIDs)
	if err != nil {
		return Number{}, err
	}
	queueIDs, err := distinctIDs("queue_ids", "queue_not_found", senders.QueueIDs)
	if err != nil {
		return Number{}, err
	}
	var out Number
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		cur, err := getNumber(ctx, tx, tenantID, n, true)
		if err != nil {
			return err
		}
		if cur.Direct {
			return ruleConflict("number_outbound_number_fkey", n)
		}
		if err := checkSenders(ctx, tx, tenantID, userIDs, queueIDs); err != nil {
			return err
		}
		now := s.now()
		if _, err := tx.ExecContext(ctx, sqlDeleteOldSenders, cur.ID, pq.Array(userIDs), pq.Array(queueIDs)); err != nil {
			return fmt.Errorf("remove outbound assignments: %w", err)
		}
		if _, err := tx.ExecContext(ctx, sqlInsertUserSenders, tenantID, cur.ID, pq.Array(userIDs), now); err != nil {
			return ruleError(err, n)
		}
		if _, err := tx.ExecContext(ctx, sqlInsertQueueSenders, tenantID, cur.ID, pq.Array(queueIDs), now); err != nil {
			return ruleError(err, n)
		}
		out, err = getNumber(ctx, tx, tenantID, n, false)
		return err
	})
	if err != nil {
		return Number{}, fmt.Errorf("set outbound assignments of %s: %w", n.Masked(), err)
	}
	return out, nil
}

// distinctIDs drops repeated ids; one that cannot be an id is answered as not found.
func distinctIDs(field, code string, ids []string) ([]string, error) {
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		id = strings.ToLower(id)
		if !validUUID(id) {
			return nil, apperr.Invalid(field, code, fmt.Sprintf("%q is not one of the tenant's ids", id))
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out, nil
}

// checkSenders requires every user to be an active user of the tenant and every queue an SMS
// queue of the tenant; the leaf rule is the database's.
func checkSenders(ctx context.Context, tx *sqlx.Tx, tenantID string, userIDs, queueIDs []string) error {
	var found []string
	if err := tx.SelectContext(ctx, &found, sqlSelectActiveUsers, tenantID, pq.Array(userIDs)); err != nil {
		return fmt.Errorf("find users: %w", err)
	}
	if missing := firstMissing(userIDs, found); missing != "" {
		return apperr.Invalid("user_ids", "user_not_found", fmt.Sprintf("user %s is not an active user of the tenant", missing))
	}
	var queues []struct {
		ID   string `db:"id"`
		Kind string `db:"kind"`
	}
	if err := tx.SelectContext(ctx, &queues, sqlSelectQueueKinds, tenantID, pq.Array(queueIDs)); err != nil {
		return fmt.Errorf("find queues: %w", err)
	}
	found = found[:0]
	for _, q := range queues {
		if q.Kind != "sms" {
			return apperr.Invalid("queue_ids", "not_sms_queue", fmt.Sprintf("queue %s is an IVR queue; only SMS queues send texts", q.ID))
		}
		found = append(found, q.ID)
	}
	if missing := firstMissing(queueIDs, found); missing != "" {
		return apperr.Invalid("queue_ids", "queue_not_found", fmt.Sprintf("queue %s is not a queue of the tenant", missing))
	}
	return nil
}

// firstMissing returns the first of want that is not in got, or "".
func firstMissing(want, got []string) string {
	have := make(map[string]bool, len(got))
	for _, id := range got {
		have[id] = true
	}
	for _, id := range want {
		if !have[id] {
			return id
		}
	}
	return ""
}
