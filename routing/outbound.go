package routing

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
	wake    func()
	batch   *batcher[*queueItem, queueResult]
	notify  *notifier
}

// OutboundConfig is what an Outbound needs besides its database; the zero value works.
type OutboundConfig struct {
	// NowFunc is the clock; time.Now when nil.
	NowFunc func() time.Time
	// Logger receives the status callbacks kept for later; slog.Default when nil.
	Logger *slog.Logger
	// Wake, when set, is called after a text is queued: the Wake of this process's Waker.
	Wake func()
}

// NewOutbound returns the sending service over db.
func NewOutbound(db *sqlx.DB, cfg OutboundConfig) *Outbound {
	if cfg.NowFunc == nil {
		cfg.NowFunc = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Wake == nil {
		cfg.Wake = func() {}
	}
	log := cfg.Logger.With("component", "outbound")
	o := &Outbound{db: db, nowFunc: cfg.NowFunc, log: log, wake: cfg.Wake, notify: newNotifier(db, log)}
	o.batch = newBatcher(o.queueBatch)
	return o
}

// Close waits for an event notification in flight; call it before closing the database.
func (o *Outbound) Close() {
	o.notify.close()
}

func (o *Outbound) now() time.Time { return o.nowFunc().UTC() }

// Wake tells this process's outbox worker that texts were queued, by Send or by anyone else
// (inbound routing's replies), so they go out at once rather than at its next poll.
func (o *Outbound) Wake() { o.wake() }

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
	// sqlQueueTexts runs outbound_queue_texts (migration 0009): queueing a batch of texts in
	// one statement and one transaction.
	sqlQueueTexts = `SELECT idx, answer, replayed, COALESCE(refusal, '') AS refusal FROM outbound_queue_texts($1, $2)`
)

// refusals are the API errors outbound_queue_text answers, by the code it gives.
var refusals = map[string]error{
	"idempotency_key_reused": errIdempotencyKeyReused,
	"unknown_session":        apperr.Invalid("session_id", "unknown_session", "no such session in this tenant"),
	"session_mismatch:to":    apperr.Invalid("to", "session_mismatch", "to is not the contact of the session"),
	"session_mismatch:from":  apperr.Invalid("from", "session_mismatch", "from is not the number of the session"),
	"from_required": apperr.Invalid("from", "from_required",
		"from is required: you do not own exactly one direct number and no session_id was given"),
	"sender_not_allowed":  errSenderNotAllowed,
	"recipient_opted_out": errRecipientOptedOut,
}

// Send queues an agent's text. The refusals: 403 sender_not_allowed (not a number the caller
// may send from), 409 recipient_opted_out, 422 invalid_number (to or from), empty_body,
// body_too_long (over MaxSegments), from_required (no from, no session, and not exactly one
// direct number), unknown_session, session_mismatch (to or from is not the session's),
// invalid_idempotency_key and idempotency_key_reused. Nothing reaches a carrier here: the
// message is committed first, and a Worker sends it. Concurrent sends are committed together
// (see batcher), so the answer waits at most for one batch.
func (o *Outbound) Send(ctx context.Context, p directory.Principal, req SendRequest) (Queued, error) {
	segments, enc, err := checkBody(req.Body)
	if err != nil {
		return Queued{}, err
	}
	if err := checkIdempotencyKey(req.IdempotencyKey); err != nil {
		return Queued{}, err
	}
	if req.SessionID != "" && !isUUID(req.SessionID) {
		return Queued{}, refusals["unknown_session"]
	}
	if req.SessionID == "" && strings.TrimSpace(req.To) == "" {
		return Queued{}, apperr.Invalid("to", "invalid_number", "to is required: the number to text")
	}
	region, err := o.regionFor(ctx, p.TenantID, req.To, req.From)
	if err != nil {
		return Queued{}, err
	}
	item := queueItem{Tenant: p.TenantID, User: p.UserID, Session: strings.ToLower(req.SessionID), Body: req.Body,
		Segments: segments, Encoding: string(enc), Key: req.IdempotencyKey}
	if strings.TrimSpace(req.To) != "" {
		to, err := recipient(req.To, region)
		if err != nil {
			return Queued{}, err
		}
		item.To, item.ToKind = to.Value, string(to.Kind)
	}
	if strings.TrimSpace(req.From) != "" {
		n, err := numbers.Normalize(req.From, region)
		if err != nil {
			return Queued{}, apperr.Invalid("from", "invalid_number", err.Error())
		}
		item.From = string(n)
	}
	if req.IdempotencyKey != "" {
		item.Hash = hex.EncodeToString(requestHash(req))
	}
	res, err := o.batch.do(ctx, &item)
	if err != nil {
		return Queued{}, fmt.Errorf("queue text for user %s: %w", p.UserID, err)
	}
	if res.Refusal != "" {
		if refusal, ok := refusals[res.Refusal]; ok {
			return Queued{}, refusal
		}
		return Queued{}, fmt.Errorf("queue text for user %s: unknown refusal %q", p.UserID, res.Refusal)
	}
	var q Queued
	if err := json.Unmarshal(res.Answer, &q); err != nil {
		return Queued{}, fmt.Errorf("queue text for user %s: read answer: %w", p.UserID, err)
	}
	q.Replayed = res.Replayed
	if !q.Replayed {
		o.Wake()
	}
	return q, nil
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

// regionFor reads the tenant's default region (with routing's sqlTenantRegion) only when an
// input is written nationally: a number that starts with "+" reads the same in every region.
func (o *Outbound) regionFor(ctx context.Context, tenantID string, inputs ...string) (string, error) {
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
	if err := o.db.GetContext(ctx, &region, sqlTenantRegion, tenantID); err != nil {
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

// MessageDetail is one text of a session, in or out, with its delivery details, as
// GET /v1/messages/{id} shows it.
type MessageDetail struct {
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
func (o *Outbound) GetMessage(ctx context.Context, p directory.Principal, id string) (MessageDetail, error) {
	if !isUUID(id) {
		return MessageDetail{}, apperr.NotFound("message")
	}
	var m MessageDetail
	seesAll := p.Role == directory.RoleAdmin || p.Role == directory.RoleSupervisor
	err := o.db.GetContext(ctx, &m, sqlSelectMessage, p.TenantID, strings.ToLower(id), p.UserID, seesAll)
	if err == pg.ErrNoRows {
		return MessageDetail{}, apperr.NotFound("message")
	}
	if err != nil {
		return MessageDetail{}, fmt.Errorf("get message %s: %w", id, err)
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
