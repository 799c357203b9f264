package routing

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"directsms/internal/apperr"
	"directsms/numbers"
	"directsms/sql/pg"
)

// StatusUpdate is what a carrier reported about a message it accepted, in directsms's terms:
// the gateway maps each carrier's statuses and codes to these.
type StatusUpdate struct {
	// TenantID is the tenant of the carrier account whose signature the callback carried: a
	// callback only ever touches that tenant's messages.
	TenantID         string
	Provider         numbers.Provider
	CarrierMessageID string
	Status           MessageStatus
	ErrorCode        string
	ErrorMessage     string
	// OptedOut says the carrier refused because the recipient opted out (Twilio 21610, Telnyx
	// 40300): the contact is marked opted out whatever the order of the callbacks.
	OptedOut bool
}

// lockCarrierMessage is the advisory-lock class taken on a carrier message id by a status
// callback and by the worker recording the carrier's answer, so that a callback arriving before
// the answer is recorded is either found by the worker or finds the message.
const lockCarrierMessage int32 = 0x6f757462 // "outb"

const (
	sqlLockCarrierMessages = `SELECT pg_advisory_xact_lock($1, h)
		FROM (SELECT DISTINCT hashtext(k) AS h FROM unnest(CAST($2 AS text[])) AS k ORDER BY 1) locks`
	// sqlApplyStatus moves a message forward when the new status advances it; a status that
	// does not (late, repeated, out of order) changes nothing. It answers the row either way,
	// so an unknown carrier id is told apart from a stale status.
	sqlApplyStatus = `UPDATE messages m SET
			status = CASE WHEN message_status_advances(o.status, CAST($3 AS text)) THEN CAST($3 AS text) ELSE m.status END,
			status_changed_at = CASE WHEN message_status_advances(o.status, CAST($3 AS text)) THEN $4 ELSE m.status_changed_at END,
			error_code = CASE WHEN message_status_advances(o.status, CAST($3 AS text)) AND $5 <> '' THEN $5 ELSE m.error_code END,
			error_message = CASE WHEN message_status_advances(o.status, CAST($3 AS text)) AND $6 <> '' THEN $6 ELSE m.error_message END
		FROM (SELECT id, status FROM messages WHERE provider = $1 AND carrier_message_id = $2 AND tenant_id = $7 AND direction = 'out' FOR UPDATE) o,
			sessions s
		WHERE m.id = o.id AND s.id = m.session_id
		RETURNING m.id, m.tenant_id, m.session_id, m.sender_user_id, o.status AS old_status, m.status,
			COALESCE(m.error_code, '') AS error_code, s.assignee_id, s.queue_id, s.contact_id`
	sqlInsertPendingStatus = `INSERT INTO message_status_callbacks (tenant_id, provider, carrier_message_id, status, error_code, error_message, opted_out, received_at)
		VALUES ($1, $2, $3, $4, NULLIF($5, ''), NULLIF($6, ''), $7, $8)`
	sqlTakePendingStatuses = `DELETE FROM message_status_callbacks
		WHERE (tenant_id, provider, carrier_message_id) IN (
			SELECT t, p, c FROM unnest(CAST($1 AS uuid[]), CAST($2 AS text[]), CAST($3 AS text[])) AS x(t, p, c))
		RETURNING id, tenant_id, provider, carrier_message_id, status, COALESCE(error_code, '') AS error_code,
			COALESCE(error_message, '') AS error_message, opted_out`
	sqlMarkContactsOptedOut = `UPDATE contacts SET opted_out = true, opted_out_at = $2
		WHERE id = ANY(CAST($1 AS uuid[])) AND NOT opted_out`
)

// statusRow is a message a status was applied to.
type statusRow struct {
	ID           string        `db:"id"`
	TenantID     string        `db:"tenant_id"`
	SessionID    string        `db:"session_id"`
	SenderUserID *string       `db:"sender_user_id"`
	OldStatus    MessageStatus `db:"old_status"`
	Status       MessageStatus `db:"status"`
	ErrorCode    string        `db:"error_code"`
	AssigneeID   *string       `db:"assignee_id"`
	QueueID      *string       `db:"queue_id"`
	ContactID    string        `db:"contact_id"`
}

// MessageStatusEvent is the data of a message.status event.
type MessageStatusEvent struct {
	MessageID string        `json:"message_id"`
	SessionID string        `json:"session_id"`
	Status    MessageStatus `json:"status"`
	ErrorCode string        `json:"error_code,omitempty"`
	At        time.Time     `json:"at"`
}

// statusEvent addresses a message.status event to whoever follows the message: the agent who
// sent it, else (texts directsms wrote) the session's assignee, else everyone who can see the
// session's queue. A message nobody follows has no event.
func statusEvent(tenantID string, sender, assignee, queue *string, data MessageStatusEvent) (Event, bool) {
	ev := Event{TenantID: tenantID, Type: EventMessageStatus, Data: data}
	switch {
	case sender != nil:
		ev.UserID = *sender
	case assignee != nil:
		ev.UserID = *assignee
	case queue != nil:
		ev.QueueID = *queue
	default:
		return Event{}, false
	}
	return ev, true
}

// ApplyStatus records a carrier's status callback. Statuses only move forward (queued, sending,
// sent, then delivered, undelivered, failed, read or canceled) and never leave an outcome
// (except delivered to read), so late and reordered callbacks change nothing. A change reaches
// the event stream of whoever follows the message. A carrier opt-out marks the contact opted
// out. A callback for a carrier id no message has yet (the carrier answered the worker, then
// called back before the worker recorded the answer) is kept and applied when it is recorded.
func (o *Outbound) ApplyStatus(ctx context.Context, u StatusUpdate) error {
	if !u.Provider.Valid() || u.CarrierMessageID == "" || !isUUID(u.TenantID) {
		return apperr.BadRequest("", "a status callback needs a tenant, a carrier and a message id")
	}
	switch u.Status {
	case MessageQueued, MessageSending, MessageSent, MessageDelivered, MessageUndelivered, MessageFailed, MessageRead, MessageCanceled:
	default:
		return apperr.BadRequest("status", fmt.Sprintf("%q is not an outbound message status", u.Status))
	}
	now := o.now()
	var notify bool
	err := pg.InTx(ctx, o.db, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, sqlLockCarrierMessages, lockCarrierMessage, pq.Array([]string{carrierKey(u.Provider, u.CarrierMessageID)})); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		found, events, err := applyStatus(ctx, tx, u, now)
		if err != nil {
			return err
		}
		if !found {
			if _, err := tx.ExecContext(ctx, sqlInsertPendingStatus, u.TenantID, u.Provider, u.CarrierMessageID, u.Status,
				u.ErrorCode, u.ErrorMessage, u.OptedOut, now); err != nil {
				return fmt.Errorf("keep for later: %w", err)
			}
			o.log.DebugContext(ctx, "status callback before its message has the carrier id; kept",
				"provider", string(u.Provider), "carrier_message_id", u.CarrierMessageID, "status", string(u.Status))
			return nil
		}
		notify = len(events) > 0
		return insertEvents(ctx, tx, now, events)
	})
	if err != nil {
		return fmt.Errorf("apply %s status %s of %s: %w", u.Provider, u.Status, u.CarrierMessageID, err)
	}
	if notify {
		o.notify.wake()
	}
	return nil
}

// carrierKey names a carrier message for the advisory lock.
func carrierKey(p numbers.Provider, id string) string { return string(p) + ":" + id }

// applyStatus applies u inside tx, which holds the carrier id's lock, and returns the events
// to publish; found is false when no message has the carrier id.
func applyStatus(ctx context.Context, tx *sqlx.Tx, u StatusUpdate, now time.Time) (found bool, events []Event, err error) {
	var rows []statusRow
	if err := tx.SelectContext(ctx, &rows, sqlApplyStatus, u.Provider, u.CarrierMessageID, u.Status, now,
		u.ErrorCode, u.ErrorMessage, u.TenantID); err != nil {
		return false, nil, fmt.Errorf("update message: %w", err)
	}
	if len(rows) == 0 {
		return false, nil, nil
	}
	var optedOut []string
	for _, r := range rows {
		if u.OptedOut {
			optedOut = append(optedOut, r.ContactID)
		}
		if r.Status == r.OldStatus {
			continue
		}
		data := MessageStatusEvent{MessageID: r.ID, SessionID: r.SessionID, Status: r.Status, ErrorCode: r.ErrorCode, At: now}
		if ev, ok := statusEvent(r.TenantID, r.SenderUserID, r.AssigneeID, r.QueueID, data); ok {
			events = append(events, ev)
		}
	}
	if len(optedOut) > 0 {
		if _, err := tx.ExecContext(ctx, sqlMarkContactsOptedOut, pq.Array(optedOut), now); err != nil {
			return false, nil, fmt.Errorf("mark contact opted out: %w", err)
		}
	}
	return true, events, nil
}
