package routing

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"

	"directsms/directory"
	"directsms/internal/apperr"
	"directsms/numbers"
	"directsms/sql/pg"
)

// MessageStatus is where a message is on its way. Outbound messages start queued (in the
// outbox), are sending while a worker hands them to the carrier and until the carrier reports
// more, then sent, then one outcome. Inbound messages are received.
type MessageStatus string

// The message statuses, as stored and as the API shows them.
const (
	MessageQueued      MessageStatus = "queued"
	MessageSending     MessageStatus = "sending"
	MessageSent        MessageStatus = "sent"
	MessageDelivered   MessageStatus = "delivered"
	MessageUndelivered MessageStatus = "undelivered"
	MessageFailed      MessageStatus = "failed"
	MessageRead        MessageStatus = "read"
	MessageCanceled    MessageStatus = "canceled"
	MessageReceived    MessageStatus = "received"
)

// The display types of the sessions an agent's text opens.
const (
	sessionOutboundDirect = "Messaging Outbound (SMS Direct)"
	sessionOutbound       = "Messaging Outbound"
)

// maxIdempotencyKey is the longest Idempotency-Key accepted, as the column allows.
const maxIdempotencyKey = 255

// Outbound is the agents' sending side. Send checks who may text whom from which number and
// queues the text in the outbox (the messages table) in one transaction, never calling a
// carrier; a Worker sends it. ApplyStatus moves a sent message forward on the carrier's status
// callbacks. It is safe for concurrent use, and several processes may share one database.
type Outbound struct {
	db      *sqlx.DB
	nowFunc func() time.Time
	log     *slog.Logger
}

// OutboundConfig is what an Outbound needs besides its database; the zero value works.
type OutboundConfig struct {
	// NowFunc is the clock; time.Now when nil.
	NowFunc func() time.Time
	// Logger receives the status callbacks that could not be matched; slog.Default when nil.
	Logger *slog.Logger
}

// NewOutbound returns the sending service over db.
func NewOutbound(db *sqlx.DB, cfg OutboundConfig) *Outbound {
	if cfg.NowFunc == nil {
		cfg.NowFunc = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Outbound{db: db, nowFunc: cfg.NowFunc, log: cfg.Logger.With("component", "outbound")}
}

func (o *Outbound) now() time.Time { return o.nowFunc().UTC() }

// SendRequest is an agent's text: POST /v1/messages. From may be empty when the agent owns
// exactly one direct number or SessionID names the conversation; To may be empty when
// SessionID is set. IdempotencyKey, when set, makes a retried request answer what the first
// one did without sending again.
type SendRequest struct {
	To             string
	Body           string
	From           string
	SessionID      string
	IdempotencyKey string
}

// Queued is the answer to a send: the message is in the outbox.
type Queued struct {
	ID        string        `json:"id"`
	SessionID string        `json:"session_id"`
	Status    MessageStatus `json:"status"`
	Segments  int           `json:"segments"`
	Encoding  Encoding      `json:"encoding"`
	// Replayed says the answer is the one stored for an earlier request with the same
	// Idempotency-Key, and nothing was queued this time.
	Replayed bool `json:"-"`
}

// The refusals of Send that are not about one malformed field.
var (
	errSenderNotAllowed = &apperr.Error{Kind: apperr.KindForbidden, Code: "sender_not_allowed", Field: "from",
		Message: "you may send only from your direct numbers, direct numbers of SMS queues you belong to, or numbers assigned to you for outbound"}
	errRecipientOptedOut = apperr.Conflict("recipient_opted_out",
		"the recipient opted out (replied STOP); nothing can be sent to them until they opt back in")
	errIdempotencyKeyReused = apperr.Invalid("Idempotency-Key", "idempotency_key_reused",
		"this Idempotency-Key was used for a different request; use a new key for a new message")
)

const (
	sqlTenantRegion = `SELECT default_region FROM tenants WHERE id = $1`
	// sqlSenderNumber answers whether user $2 may send from number $3, and what the number is.
	// The user's queues are its effective memberships: queues it is a member of, and queues
	// one of its teams is a member of.
	sqlSenderNumber = `WITH mine AS (
			SELECT qm.queue_id FROM queue_members qm WHERE qm.tenant_id = $1 AND qm.user_id = $2
			UNION
			SELECT qm.queue_id FROM queue_members qm JOIN team_members tm ON tm.team_id = qm.team_id
			WHERE qm.tenant_id = $1 AND tm.user_id = $2
		)
		SELECT n.e164, n.direct, n.sms_user_id, n.sms_queue_id, pq.id AS personal_queue_id,
			COALESCE(n.sms_user_id = $2, false)
			OR (n.direct AND COALESCE(n.sms_queue_id IN (SELECT queue_id FROM mine), false))
			OR EXISTS (SELECT 1 FROM number_outbound o WHERE o.number_id = n.id
				AND (o.user_id = $2 OR o.queue_id IN (SELECT queue_id FROM mine))) AS allowed
		FROM numbers n LEFT JOIN queues pq ON pq.personal_user_id = n.sms_user_id
		WHERE n.tenant_id = $1 AND n.e164 = $3`
	sqlOwnDirectNumbers = `SELECT e164 FROM numbers WHERE tenant_id = $1 AND sms_user_id = $2 ORDER BY e164 LIMIT 2`
	sqlSelectSession    = `SELECT s.id, s.number, s.status, s.assignee_id, c.id AS contact_id, c.address, c.opted_out
		FROM sessions s JOIN contacts c ON c.id = s.contact_id
		WHERE s.tenant_id = $1 AND s.id = $2`
	// sqlUpsertContact finds or creates the contact at an address. When a concurrent
	// transaction creates it after this statement's snapshot, neither half answers; the caller
	// runs it again and then finds it.
	sqlUpsertContact = `WITH ins AS (
			INSERT INTO contacts (tenant_id, address, kind, created_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT ON CONSTRAINT contacts_address_key DO NOTHING
			RETURNING id, opted_out
		)
		SELECT id, opted_out FROM ins
		UNION ALL
		SELECT id, opted_out FROM contacts WHERE tenant_id = $1 AND address = $2
		LIMIT 1`
	// sqlOpenSession continues the contact's open session on the number, or opens an outbound
	// one assigned to the sender with its timeline's first steps. The partial unique index on
	// open sessions makes concurrent first texts open one session; the loser finds no row in
	// either half and runs the statement again.
	sqlOpenSession = `WITH found AS (
			SELECT id FROM sessions WHERE tenant_id = $1 AND contact_id = $2 AND number = $3 AND status = 'open'
		), ins AS (
			INSERT INTO sessions (tenant_id, contact_id, number, type, owner_user_id, owner_queue_id, queue_id,
				assignee_id, team_id, last_message_at, created_at, assigned_at)
			SELECT $1, $2, $3, $4, $5, $6, $7, $8, (SELECT primary_team_id FROM users WHERE tenant_id = $1 AND id = $8), $9, $9, $9
			WHERE NOT EXISTS (SELECT 1 FROM found)
			ON CONFLICT (tenant_id, contact_id, number) WHERE status = 'open' DO NOTHING
			RETURNING id
		), timeline AS (
			INSERT INTO session_events (tenant_id, session_id, kind, data, at)
			SELECT $1, ins.id, e.kind, CAST(e.data AS jsonb), $9
			FROM ins, (VALUES ('created', $10), ('assigned', $11)) AS e(kind, data)
		)
		SELECT id, false AS created FROM found
		UNION ALL
		SELECT id, true AS created FROM ins`
	// sqlInsertMessage queues the text and records the agent's reply on its session: the first
	// text after the contact's first inbound one is the session's first response.
	sqlInsertMessage = `WITH s AS (
			UPDATE sessions SET last_message_at = $9, last_agent_reply_at = $9,
				first_response_at = CASE WHEN first_response_at IS NULL AND first_inbound_at IS NOT NULL THEN $9 ELSE first_response_at END
			WHERE tenant_id = $1 AND id = $2
		)
		INSERT INTO messages (tenant_id, session_id, direction, kind, from_address, to_address, body, segments, encoding,
			sender_user_id, status, created_at, status_changed_at)
		VALUES ($1, $2, 'out', 'text', $3, $4, $5, $6, $7, $8, 'queued', $9, $9)
		RETURNING id`
	sqlInsertIdempotencyKey = `INSERT INTO idempotency_keys (tenant_id, user_id, key, request_hash, created_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT ON CONSTRAINT idempotency_keys_pkey DO NOTHING
		RETURNING true`
	sqlSelectIdempotencyKey = `SELECT request_hash, response FROM idempotency_keys WHERE tenant_id = $1 AND user_id = $2 AND key = $3`
	sqlSaveIdempotentAnswer = `UPDATE idempotency_keys SET message_id = $4, response = $5 WHERE tenant_id = $1 AND user_id = $2 AND key = $3`
)

// senderNumber is a tenant number and whether the caller may send from it.
type senderNumber struct {
	E164            string  `db:"e164"`
	Direct          bool    `db:"direct"`
	SMSUserID       *string `db:"sms_user_id"`
	SMSQueueID      *string `db:"sms_queue_id"`
	PersonalQueueID *string `db:"personal_queue_id"`
	Allowed         bool    `db:"allowed"`
}

// sessionRef is the conversation a request names.
type sessionRef struct {
	ID         string  `db:"id"`
	Number     string  `db:"number"`
	Status     string  `db:"status"`
	AssigneeID *string `db:"assignee_id"`
	ContactID  string  `db:"contact_id"`
	Address    string  `db:"address"`
	OptedOut   bool    `db:"opted_out"`
}

// errReplayed ends the transaction of a request whose Idempotency-Key was already answered.
var errReplayed = errors.New("idempotent replay")

// Send queues an agent's text. The refusals: 403 sender_not_allowed (not a number the caller
// may send from), 409 recipient_opted_out, 422 invalid_number (to or from), empty_body,
// body_too_long (over MaxSegments), from_required (no from, no session, and not exactly one
// direct number), unknown_session, session_mismatch (to or from is not the session's),
// invalid_idempotency_key and idempotency_key_reused. Nothing reaches a carrier here: the
// message is committed first, and a Worker sends it.
func (o *Outbound) Send(ctx context.Context, p directory.Principal, req SendRequest) (Queued, error) {
	segments, enc, err := checkBody(req.Body)
	if err != nil {
		return Queued{}, err
	}
	if err := checkIdempotencyKey(req.IdempotencyKey); err != nil {
		return Queued{}, err
	}
	if req.SessionID != "" && !isUUID(req.SessionID) {
		return Queued{}, apperr.Invalid("session_id", "unknown_session", "no session "+truncate(req.SessionID, 64)+" in this tenant")
	}
	if req.SessionID == "" && strings.TrimSpace(req.To) == "" {
		return Queued{}, apperr.Invalid("to", "invalid_number", "to is required: the number to text")
	}
	now := o.now()
	var out Queued
	err = pg.InTx(ctx, o.db, func(tx *sqlx.Tx) error {
		if req.IdempotencyKey != "" {
			replay, found, err := claimIdempotencyKey(ctx, tx, p, req, now)
			if err != nil {
				return err
			}
			if found {
				out = replay
				return errReplayed
			}
		}
		q, err := o.queue(ctx, tx, p, req, segments, enc, now)
		if err != nil {
			return err
		}
		out = q
		if req.IdempotencyKey != "" {
			answer, err := json.Marshal(q)
			if err != nil {
				return fmt.Errorf("encode answer: %w", err)
			}
			if _, err := tx.ExecContext(ctx, sqlSaveIdempotentAnswer, p.TenantID, p.UserID, req.IdempotencyKey, q.ID, string(answer)); err != nil {
				return fmt.Errorf("save idempotent answer: %w", err)
			}
		}
		return nil
	})
	if errors.Is(err, errReplayed) {
		out.Replayed = true
		return out, nil
	}
	if err != nil {
		if _, ok := apperr.As(err); ok {
			return Queued{}, err
		}
		return Queued{}, fmt.Errorf("queue text for user %s: %w", p.UserID, err)
	}
	return out, nil
}

// checkBody refuses an empty body and one over MaxSegments, and counts the segments.
func checkBody(body string) (int, Encoding, error) {
	if strings.TrimSpace(body) == "" {
		return 0, "", apperr.Invalid("body", "empty_body", "body is empty; write the text to send")
	}
	segments, enc := CountSegments(body)
	if segments > MaxSegments {
		return 0, "", apperr.Invalid("body", "body_too_long",
			fmt.Sprintf("body needs %d %s segments; at most %d are allowed", segments, enc, MaxSegments))
	}
	return segments, enc, nil
}

// checkIdempotencyKey accepts 1 to 255 printable ASCII characters, the shape clients generate
// (UUIDs, request ids).
func checkIdempotencyKey(key string) error {
	if key == "" {
		return nil
	}
	bad := apperr.Invalid("Idempotency-Key", "invalid_idempotency_key", "Idempotency-Key must be 1 to 255 printable ASCII characters")
	if len(key) > maxIdempotencyKey || strings.TrimSpace(key) == "" {
		return bad
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return bad
		}
	}
	return nil
}

// requestHash identifies what a request asked for, so a reused key with another request is
// told apart from a retry.
func requestHash(req SendRequest) []byte {
	b, _ := json.Marshal([4]string{req.To, req.Body, req.From, req.SessionID})
	h := sha256.Sum256(b)
	return h[:]
}

// claimIdempotencyKey records the key for this request, or, when the key was already used,
// returns the first request's answer. A concurrent request with the same key waits on the
// insert until the first commits (and then finds its answer) or rolls back (and then takes
// the key itself).
func claimIdempotencyKey(ctx context.Context, tx *sqlx.Tx, p directory.Principal, req SendRequest, now time.Time) (Queued, bool, error) {
	hash := requestHash(req)
	var inserted bool
	err := tx.GetContext(ctx, &inserted, sqlInsertIdempotencyKey, p.TenantID, p.UserID, req.IdempotencyKey, hash, now)
	if err == nil {
		return Queued{}, false, nil
	}
	if err != pg.ErrNoRows {
		return Queued{}, false, fmt.Errorf("claim idempotency key: %w", err)
	}
	var stored struct {
		Hash     []byte         `db:"request_hash"`
		Response sql.NullString `db:"response"`
	}
	if err := tx.GetContext(ctx, &stored, sqlSelectIdempotencyKey, p.TenantID, p.UserID, req.IdempotencyKey); err != nil {
		return Queued{}, false, fmt.Errorf("read idempotency key: %w", err)
	}
	if string(stored.Hash) != string(hash) {
		return Queued{}, false, errIdempotencyKeyReused
	}
	var q Queued
	if !stored.Response.Valid || json.Unmarshal([]byte(stored.Response.String), &q) != nil {
		return Queued{}, false, fmt.Errorf("idempotency key of user %s has no stored answer", p.UserID)
	}
	return q, true, nil
}

// queue does the work of Send inside tx.
func (o *Outbound) queue(ctx context.Context, tx *sqlx.Tx, p directory.Principal, req SendRequest, segments int, enc Encoding, now time.Time) (Queued, error) {
	region, err := lazyRegion(ctx, tx, p.TenantID, req.To, req.From)
	if err != nil {
		return Queued{}, err
	}
	var to numbers.Address
	if strings.TrimSpace(req.To) != "" {
		if to, err = recipient(req.To, region); err != nil {
			return Queued{}, err
		}
	}
	var from string
	if strings.TrimSpace(req.From) != "" {
		n, err := numbers.Normalize(req.From, region)
		if err != nil {
			return Queued{}, apperr.Invalid("from", "invalid_number", err.Error())
		}
		from = string(n)
	}

	var sess *sessionRef
	if req.SessionID != "" {
		if sess, err = getSession(ctx, tx, p.TenantID, req.SessionID); err != nil {
			return Queued{}, err
		}
		if to.Value != "" && to.Value != sess.Address {
			return Queued{}, apperr.Invalid("to", "session_mismatch", "to is not the contact of session "+sess.ID)
		}
		if from != "" && from != sess.Number {
			return Queued{}, apperr.Invalid("from", "session_mismatch", "from is not the number of session "+sess.ID)
		}
		from = sess.Number
		if to.Value == "" {
			to = numbers.Address{Value: sess.Address}
		}
	}
	if from == "" {
		if from, err = ownDirectNumber(ctx, tx, p); err != nil {
			return Queued{}, err
		}
	}

	num, err := senderFor(ctx, tx, p, from, sess)
	if err != nil {
		return Queued{}, err
	}

	var contactID string
	if sess != nil {
		if sess.OptedOut {
			return Queued{}, errRecipientOptedOut
		}
		contactID = sess.ContactID
	} else {
		var optedOut bool
		if contactID, optedOut, err = upsertContact(ctx, tx, p.TenantID, to, now); err != nil {
			return Queued{}, err
		}
		if optedOut {
			return Queued{}, errRecipientOptedOut
		}
	}

	sessionID := ""
	if sess != nil && sess.Status == "open" {
		sessionID = sess.ID
	} else if sessionID, err = openSession(ctx, tx, p, contactID, num, now); err != nil {
		return Queued{}, err
	}

	var id string
	if err := tx.GetContext(ctx, &id, sqlInsertMessage, p.TenantID, sessionID, from, to.Value, req.Body,
		segments, string(enc), p.UserID, now); err != nil {
		return Queued{}, fmt.Errorf("insert message: %w", err)
	}
	return Queued{ID: id, SessionID: sessionID, Status: MessageQueued, Segments: segments, Encoding: enc}, nil
}

// lazyRegion reads the tenant's default region only when an input is written nationally:
// a number that starts with "+" reads the same in every region.
func lazyRegion(ctx context.Context, tx *sqlx.Tx, tenantID string, inputs ...string) (string, error) {
	national := false
	for _, in := range inputs {
		if in = strings.TrimSpace(in); in != "" && !strings.HasPrefix(in, "+") {
			national = true
		}
	}
	if !national {
		return "", nil
	}
	var region string
	if err := tx.GetContext(ctx, &region, sqlTenantRegion, tenantID); err != nil {
		return "", fmt.Errorf("read region of tenant %s: %w", tenantID, err)
	}
	return region, nil
}

// recipient classifies the To of a text. A short code can be texted; an alphanumeric sender
// id cannot.
func recipient(input, region string) (numbers.Address, error) {
	addr, err := numbers.ClassifyAddress(input, region)
	if err != nil {
		return numbers.Address{}, apperr.Invalid("to", "invalid_number", err.Error())
	}
	if addr.Kind == numbers.KindAlphanumeric {
		return numbers.Address{}, apperr.Invalid("to", "invalid_number",
			fmt.Sprintf("%q is an alphanumeric sender id, which cannot receive texts", truncate(input, 64)))
	}
	return addr, nil
}

func getSession(ctx context.Context, tx *sqlx.Tx, tenantID, id string) (*sessionRef, error) {
	var s sessionRef
	err := tx.GetContext(ctx, &s, sqlSelectSession, tenantID, strings.ToLower(id))
	if err == pg.ErrNoRows {
		return nil, apperr.Invalid("session_id", "unknown_session", "no session "+id+" in this tenant")
	}
	if err != nil {
		return nil, fmt.Errorf("read session %s: %w", id, err)
	}
	return &s, nil
}

// ownDirectNumber infers from when the request names neither from nor a session: the
// caller's direct number, when it has exactly one.
func ownDirectNumber(ctx context.Context, tx *sqlx.Tx, p directory.Principal) (string, error) {
	var owned []string
	if err := tx.SelectContext(ctx, &owned, sqlOwnDirectNumbers, p.TenantID, p.UserID); err != nil {
		return "", fmt.Errorf("read direct numbers: %w", err)
	}
	if len(owned) != 1 {
		return "", apperr.Invalid("from", "from_required",
			"from is required: you do not own exactly one direct number and no session_id was given")
	}
	return owned[0], nil
}

// senderFor answers the number to send from, refusing one the caller may not use. The
// assignee of a session may always reply on the session's number, so a queue's agents can
// answer texts that came in on a number the queue owns without outbound assignments.
func senderFor(ctx context.Context, tx *sqlx.Tx, p directory.Principal, from string, sess *sessionRef) (senderNumber, error) {
	var n senderNumber
	err := tx.GetContext(ctx, &n, sqlSenderNumber, p.TenantID, p.UserID, from)
	if err == pg.ErrNoRows {
		return senderNumber{}, errSenderNotAllowed
	}
	if err != nil {
		return senderNumber{}, fmt.Errorf("check sender %s: %w", numbers.E164(from).Masked(), err)
	}
	assignee := sess != nil && sess.AssigneeID != nil && *sess.AssigneeID == p.UserID
	if !n.Allowed && !assignee {
		return senderNumber{}, errSenderNotAllowed
	}
	return n, nil
}

func upsertContact(ctx context.Context, tx *sqlx.Tx, tenantID string, to numbers.Address, now time.Time) (string, bool, error) {
	for range 2 {
		var c struct {
			ID       string `db:"id"`
			OptedOut bool   `db:"opted_out"`
		}
		err := tx.GetContext(ctx, &c, sqlUpsertContact, tenantID, to.Value, string(to.Kind), now)
		if err == nil {
			return c.ID, c.OptedOut, nil
		}
		if err != pg.ErrNoRows {
			return "", false, fmt.Errorf("find contact: %w", err)
		}
	}
	return "", false, errors.New("find contact: created concurrently but not visible")
}

// openSession continues the contact's open session on the number or opens an outbound one:
// typed by whether the number is direct, owned by whoever owns the number, living in the
// owner's queue, assigned to the sender.
func openSession(ctx context.Context, tx *sqlx.Tx, p directory.Principal, contactID string, n senderNumber, now time.Time) (string, error) {
	typ := sessionOutbound
	if n.Direct {
		typ = sessionOutboundDirect
	}
	queueID := n.SMSQueueID
	if n.SMSUserID != nil {
		queueID = n.PersonalQueueID
	}
	created, _ := json.Marshal(map[string]string{"direction": "out", "type": typ, "by_user_id": p.UserID})
	assigned, _ := json.Marshal(map[string]string{"user_id": p.UserID, "reason": "sender"})
	for range 2 {
		var row struct {
			ID      string `db:"id"`
			Created bool   `db:"created"`
		}
		err := tx.GetContext(ctx, &row, sqlOpenSession, p.TenantID, contactID, n.E164, typ, n.SMSUserID, n.SMSQueueID,
			queueID, p.UserID, now, string(created), string(assigned))
		if err == nil {
			return row.ID, nil
		}
		if err != pg.ErrNoRows {
			return "", fmt.Errorf("open session: %w", err)
		}
	}
	return "", errors.New("open session: opened concurrently but not visible")
}

// truncate cuts s to at most n bytes, on a character boundary, for an error message, so
// pasted garbage stays short.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// Message is one text of a session, in or out, as GET /v1/messages/{id} shows it.
type Message struct {
	ID               string        `json:"id" db:"id"`
	SessionID        string        `json:"session_id" db:"session_id"`
	Direction        string        `json:"direction" db:"direction"`
	Kind             string        `json:"kind" db:"kind"`
	From             string        `json:"from" db:"from_address"`
	To               string        `json:"to" db:"to_address"`
	Body             string        `json:"body" db:"body"`
	Segments         int           `json:"segments" db:"segments"`
	Encoding         Encoding      `json:"encoding" db:"encoding"`
	SenderUserID     *string       `json:"sender_user_id" db:"sender_user_id"`
	Status           MessageStatus `json:"status" db:"status"`
	Provider         *string       `json:"provider" db:"provider"`
	CarrierMessageID *string       `json:"carrier_message_id" db:"carrier_message_id"`
	ErrorCode        *string       `json:"error_code" db:"error_code"`
	ErrorMessage     *string       `json:"error_message" db:"error_message"`
	// Attempts is how many times the outbox tried to hand the message to the carrier.
	Attempts int `json:"attempts" db:"attempts"`
	// NextAttemptAt is when a message waiting to be retried is tried again.
	NextAttemptAt   *time.Time `json:"next_attempt_at" db:"next_attempt_at"`
	CreatedAt       time.Time  `json:"created_at" db:"created_at"`
	StatusChangedAt time.Time  `json:"status_changed_at" db:"status_changed_at"`
	// AcceptedAt is when the carrier accepted the message.
	AcceptedAt *time.Time `json:"accepted_at" db:"accepted_at"`
}

// sqlSelectMessage reads a message the caller may see: admins and supervisors any of the
// tenant's; agents those they sent and those of sessions they are assigned, own, or can see
// through one of their queues.
const sqlSelectMessage = `SELECT m.id, m.session_id, m.direction, m.kind, m.from_address, m.to_address, m.body,
		m.segments, m.encoding, m.sender_user_id, m.status, m.provider, m.carrier_message_id, m.error_code,
		m.error_message, m.attempts, CASE WHEN m.status = 'queued' THEN m.next_attempt_at END AS next_attempt_at,
		m.created_at, m.status_changed_at, m.accepted_at
	FROM messages m JOIN sessions s ON s.id = m.session_id
	WHERE m.tenant_id = $1 AND m.id = $2 AND ($4 OR m.sender_user_id = $3 OR s.assignee_id = $3 OR s.owner_user_id = $3
		OR s.queue_id IN (
			SELECT qm.queue_id FROM queue_members qm WHERE qm.tenant_id = $1 AND qm.user_id = $3
			UNION
			SELECT qm.queue_id FROM queue_members qm JOIN team_members tm ON tm.team_id = qm.team_id
			WHERE qm.tenant_id = $1 AND tm.user_id = $3))`

// GetMessage returns a message the caller may see; any other id is not_found.
func (o *Outbound) GetMessage(ctx context.Context, p directory.Principal, id string) (Message, error) {
	if !isUUID(id) {
		return Message{}, apperr.NotFound("message")
	}
	var m Message
	seesAll := p.Role == directory.RoleAdmin || p.Role == directory.RoleSupervisor
	err := o.db.GetContext(ctx, &m, sqlSelectMessage, p.TenantID, strings.ToLower(id), p.UserID, seesAll)
	if err == pg.ErrNoRows {
		return Message{}, apperr.NotFound("message")
	}
	if err != nil {
		return Message{}, fmt.Errorf("get message %s: %w", id, err)
	}
	m.CreatedAt, m.StatusChangedAt = m.CreatedAt.UTC(), m.StatusChangedAt.UTC()
	m.NextAttemptAt, m.AcceptedAt = utcPtr(m.NextAttemptAt), utcPtr(m.AcceptedAt)
	return m, nil
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
