package routing

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"directsms/directory"
	"directsms/internal/apperr"
	"directsms/numbers"
)

// SessionType is a session's reporting type, fixed when the session opens.
type SessionType string

// The session types, as displayed and reported.
const (
	TypeInboundDirect  SessionType = "Messaging Inbound (SMS Direct)"
	TypeOutboundDirect SessionType = "Messaging Outbound (SMS Direct)"
	TypeInbound        SessionType = "Messaging Inbound"
	TypeOutbound       SessionType = "Messaging Outbound"
)

// Valid reports whether t is one of the four types.
func (t SessionType) Valid() bool {
	switch t {
	case TypeInboundDirect, TypeOutboundDirect, TypeInbound, TypeOutbound:
		return true
	}
	return false
}

// Session is one conversation between a contact and a tenant number.
type Session struct {
	ID      string      `json:"id"`
	Type    SessionType `json:"type"`
	Status  string      `json:"status"`
	Contact Contact     `json:"contact"`
	Number  string      `json:"number"`
	// Owner is who owned the number when the session opened: {"user_id"} or {"queue_id"}.
	Owner Owner `json:"owner"`
	// QueueID is the queue the session lives in now: the owner's personal queue, the owner
	// queue, or where a reroute moved it.
	QueueID       *string    `json:"queue_id"`
	AssigneeID    *string    `json:"assignee_id"`
	TeamID        *string    `json:"team_id"`
	Deflected     bool       `json:"deflected"`
	RouteStep     string     `json:"route_step"`
	ReroutedCount int        `json:"rerouted_count"`
	MissedCount   int        `json:"missed_count"`
	CreatedAt     time.Time  `json:"created_at"`
	LastMessageAt time.Time  `json:"last_message_at"`
	AssignedAt    *time.Time `json:"assigned_at"`
	ClosedAt      *time.Time `json:"closed_at"`
	CloseReason   *string    `json:"close_reason"`
	// Events is the session's timeline, oldest first; filled by GetSession only.
	Events []SessionEvent `json:"events,omitempty"`
}

// Owner is a session's owner: exactly one of the two is set.
type Owner struct {
	UserID  *string `json:"user_id,omitempty"`
	QueueID *string `json:"queue_id,omitempty"`
}

// Contact is the outside party of a session.
type Contact struct {
	ID       string `json:"id"`
	Address  string `json:"address"`
	Kind     string `json:"kind"`
	OptedOut bool   `json:"opted_out"`
}

// SessionEvent is one step on a session's timeline: created, offered, skipped, rerouted,
// waiting, assigned, consent, closed, and the steps other parts add (missed, deflected).
type SessionEvent struct {
	Kind string          `json:"kind" db:"kind"`
	Data json.RawMessage `json:"data" db:"data"`
	At   time.Time       `json:"at" db:"at"`
}

// Message is one text in or out of a session.
type Message struct {
	ID           string          `json:"id" db:"id"`
	SessionID    string          `json:"session_id" db:"session_id"`
	Direction    string          `json:"direction" db:"direction"`
	Kind         string          `json:"kind" db:"kind"`
	From         string          `json:"from" db:"from_address"`
	To           string          `json:"to" db:"to_address"`
	Body         string          `json:"body" db:"body"`
	Media        json.RawMessage `json:"media" db:"media"`
	Segments     int             `json:"segments" db:"segments"`
	Encoding     string          `json:"encoding" db:"encoding"`
	SenderUserID *string         `json:"sender_user_id" db:"sender_user_id"`
	Status       string          `json:"status" db:"status"`
	ErrorCode    *string         `json:"error_code" db:"error_code"`
	CreatedAt    time.Time       `json:"created_at" db:"created_at"`
}

// SessionFilter narrows FindSessions; empty fields do not filter.
type SessionFilter struct {
	Status string
	Type   string
	// Assignee is "me" or a user id.
	Assignee string
	QueueID  string
	// Number is a tenant number, Contact a contact's address, in any common form.
	Number  string
	Contact string
	Limit   int
	// Cursor is the id of the last session of the previous page.
	Cursor string
}

// sqlVisible limits sessions s to what the caller may see ($3 its role, $4 its user id): admins
// and supervisors every session of the tenant; agents the sessions assigned to them, offered to
// them, or in a queue they are an effective member of.
const sqlVisible = `(CAST($3 AS text) <> 'agent' OR s.assignee_id = $4
	OR EXISTS (SELECT 1 FROM offers o WHERE o.session_id = s.id AND o.user_id = $4 AND o.status = 'pending')
	OR s.queue_id IN (SELECT qm.queue_id FROM queue_members qm WHERE qm.user_id = $4
		UNION SELECT qm.queue_id FROM team_members tm JOIN queue_members qm ON qm.team_id = tm.team_id WHERE tm.user_id = $4))`

const sqlSessionColumns = `s.id, s.type, s.status, s.number, s.owner_user_id, s.owner_queue_id, s.queue_id, s.assignee_id,
	s.team_id, s.deflected, s.route_step, s.rerouted_count, s.missed_count, s.created_at, s.last_message_at,
	s.assigned_at, s.closed_at, s.close_reason,
	c.id AS contact_id, c.address AS contact_address, c.kind AS contact_kind, c.opted_out AS contact_opted_out`

const (
	sqlSelectSession = `SELECT ` + sqlSessionColumns + `
		FROM sessions s JOIN contacts c ON c.id = s.contact_id
		WHERE s.tenant_id = $1 AND s.id = $2 AND ` + sqlVisible
	// sqlFindSessions lists newest first; the cursor is the last session's id, and rows strictly
	// after it in (created_at, id) order follow.
	sqlFindSessions = `SELECT ` + sqlSessionColumns + `
		FROM sessions s JOIN contacts c ON c.id = s.contact_id
		WHERE s.tenant_id = $1 AND ` + sqlVisible + `
		  AND ($2 = '' OR (s.created_at, s.id) < (SELECT x.created_at, x.id FROM sessions x WHERE x.tenant_id = $1 AND x.id = CAST(NULLIF($2, '') AS uuid)))
		  AND ($5 = '' OR s.status = $5)
		  AND ($6 = '' OR s.type = $6)
		  AND ($7 = '' OR s.assignee_id = CAST(NULLIF($7, '') AS uuid))
		  AND ($8 = '' OR s.queue_id = CAST(NULLIF($8, '') AS uuid))
		  AND ($9 = '' OR s.number = $9)
		  AND ($10 = '' OR c.address = $10)
		ORDER BY s.created_at DESC, s.id DESC
		LIMIT $11`
	sqlSelectSessionEvents = `SELECT kind, data, at FROM session_events WHERE tenant_id = $1 AND session_id = $2 ORDER BY id`
	// sqlSelectMessages lists a session's messages oldest first, after the cursor message.
	sqlSelectMessages = `SELECT m.id, m.session_id, m.direction, m.kind, m.from_address, m.to_address, m.body, COALESCE(m.media, '[]') AS media,
			m.segments, m.encoding, m.sender_user_id, m.status, m.error_code, m.created_at
		FROM messages m
		WHERE m.tenant_id = $1 AND m.session_id = $2
		  AND ($3 = '' OR (m.created_at, m.id) > (SELECT x.created_at, x.id FROM messages x WHERE x.tenant_id = $1 AND x.id = CAST(NULLIF($3, '') AS uuid)))
		ORDER BY m.created_at, m.id
		LIMIT $4`
	sqlTenantRegion = `SELECT default_region FROM tenants WHERE id = $1`
)

// sessionRow is a session as sqlSessionColumns reads it.
type sessionRow struct {
	ID              string     `db:"id"`
	Type            string     `db:"type"`
	Status          string     `db:"status"`
	Number          string     `db:"number"`
	OwnerUserID     *string    `db:"owner_user_id"`
	OwnerQueueID    *string    `db:"owner_queue_id"`
	QueueID         *string    `db:"queue_id"`
	AssigneeID      *string    `db:"assignee_id"`
	TeamID          *string    `db:"team_id"`
	Deflected       bool       `db:"deflected"`
	RouteStep       string     `db:"route_step"`
	ReroutedCount   int        `db:"rerouted_count"`
	MissedCount     int        `db:"missed_count"`
	CreatedAt       time.Time  `db:"created_at"`
	LastMessageAt   time.Time  `db:"last_message_at"`
	AssignedAt      *time.Time `db:"assigned_at"`
	ClosedAt        *time.Time `db:"closed_at"`
	CloseReason     *string    `db:"close_reason"`
	ContactID       string     `db:"contact_id"`
	ContactAddress  string     `db:"contact_address"`
	ContactKind     string     `db:"contact_kind"`
	ContactOptedOut bool       `db:"contact_opted_out"`
}

func (r sessionRow) session() Session {
	utc := func(t *time.Time) *time.Time {
		if t == nil {
			return nil
		}
		u := t.UTC()
		return &u
	}
	return Session{
		ID: r.ID, Type: SessionType(r.Type), Status: r.Status, Number: r.Number,
		Contact: Contact{ID: r.ContactID, Address: r.ContactAddress, Kind: r.ContactKind, OptedOut: r.ContactOptedOut},
		Owner:   Owner{UserID: r.OwnerUserID, QueueID: r.OwnerQueueID},
		QueueID: r.QueueID, AssigneeID: r.AssigneeID, TeamID: r.TeamID, Deflected: r.Deflected,
		RouteStep: r.RouteStep, ReroutedCount: r.ReroutedCount, MissedCount: r.MissedCount,
		CreatedAt: r.CreatedAt.UTC(), LastMessageAt: r.LastMessageAt.UTC(),
		AssignedAt: utc(r.AssignedAt), ClosedAt: utc(r.ClosedAt), CloseReason: r.CloseReason,
	}
}

// GetSession returns a session the caller may see, with its timeline.
func (s *Service) GetSession(ctx context.Context, p directory.Principal, sessionID string) (Session, error) {
	sess, err := s.getSession(ctx, p, sessionID)
	if err != nil {
		return Session{}, err
	}
	if err := s.db.SelectContext(ctx, &sess.Events, sqlSelectSessionEvents, p.TenantID, sessionID); err != nil {
		return Session{}, fmt.Errorf("session %s timeline: %w", sessionID, err)
	}
	return sess, nil
}

func (s *Service) getSession(ctx context.Context, p directory.Principal, sessionID string) (Session, error) {
	var row sessionRow
	err := s.db.GetContext(ctx, &row, sqlSelectSession, p.TenantID, sessionID, string(p.Role), p.UserID)
	if isNoRows(err) {
		return Session{}, errSessionNotFound
	}
	if err != nil {
		return Session{}, fmt.Errorf("get session %s: %w", sessionID, err)
	}
	return row.session(), nil
}

// FindSessions lists the sessions the caller may see that match f, newest first, fetching
// f.Limit+1 so the caller can tell whether another page follows.
func (s *Service) FindSessions(ctx context.Context, p directory.Principal, f SessionFilter) ([]Session, error) {
	if f.Status != "" && f.Status != "open" && f.Status != "closed" {
		return nil, apperr.Invalid("status", "invalid_status", "status must be open or closed")
	}
	if f.Type != "" && !SessionType(f.Type).Valid() {
		return nil, apperr.Invalid("type", "invalid_type", fmt.Sprintf("type must be one of %q, %q, %q, %q", TypeInboundDirect, TypeInbound, TypeOutboundDirect, TypeOutbound))
	}
	if f.Assignee == "me" {
		f.Assignee = p.UserID
	}
	if f.Assignee != "" && !isUUID(f.Assignee) {
		return nil, apperr.Invalid("assignee", "invalid_assignee", "assignee must be me or a user id")
	}
	if f.QueueID != "" && !isUUID(f.QueueID) {
		return nil, apperr.Invalid("queue_id", "invalid_queue_id", "queue_id must be a queue id")
	}
	if f.Cursor != "" && !isUUID(f.Cursor) {
		return nil, apperr.Invalid("cursor", "invalid_cursor", "cursor must be a next_cursor from a previous page")
	}
	if f.Number != "" || f.Contact != "" {
		var region string
		if err := s.db.GetContext(ctx, &region, sqlTenantRegion, p.TenantID); err != nil {
			return nil, fmt.Errorf("tenant %s region: %w", p.TenantID, err)
		}
		if f.Number != "" {
			n, err := numbers.Normalize(f.Number, region)
			if err != nil {
				return nil, apperr.Invalid("number", "invalid_number", err.Error())
			}
			f.Number = string(n)
		}
		if f.Contact != "" {
			a, err := numbers.ClassifyAddress(f.Contact, region)
			if err != nil {
				return nil, apperr.Invalid("contact", "invalid_number", err.Error())
			}
			f.Contact = a.Value
		}
	}
	var rows []sessionRow
	err := s.db.SelectContext(ctx, &rows, sqlFindSessions, p.TenantID, strings.ToLower(f.Cursor), string(p.Role), p.UserID,
		f.Status, f.Type, strings.ToLower(f.Assignee), strings.ToLower(f.QueueID), f.Number, f.Contact, f.Limit+1)
	if err != nil {
		return nil, fmt.Errorf("find sessions: %w", err)
	}
	out := make([]Session, len(rows))
	for i, r := range rows {
		out[i] = r.session()
	}
	return out, nil
}

// SessionMessages lists the messages of a session the caller may see, oldest first, limit+1 of
// them after the cursor message id.
func (s *Service) SessionMessages(ctx context.Context, p directory.Principal, sessionID string, limit int, cursor string) ([]Message, error) {
	if cursor != "" && !isUUID(cursor) {
		return nil, apperr.Invalid("cursor", "invalid_cursor", "cursor must be a next_cursor from a previous page")
	}
	if _, err := s.getSession(ctx, p, sessionID); err != nil {
		return nil, err
	}
	out := []Message{}
	if err := s.db.SelectContext(ctx, &out, sqlSelectMessages, p.TenantID, sessionID, strings.ToLower(cursor), limit+1); err != nil {
		return nil, fmt.Errorf("messages of session %s: %w", sessionID, err)
	}
	return out, nil
}

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
