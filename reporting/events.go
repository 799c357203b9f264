package reporting

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"
)

// EventType names an event tenants can subscribe to.
type EventType string

// The subscribable events. The data each carries is the struct of the same name below.
const (
	EventSessionCreated  EventType = "session.created"
	EventSessionClosed   EventType = "session.closed"
	EventMessageReceived EventType = "message.received"
	EventMessageSent     EventType = "message.sent"
	EventMessageStatus   EventType = "message.status"
	EventAgentStatus     EventType = "agent.status"
)

// EventTypes lists every subscribable event.
var EventTypes = []EventType{EventSessionCreated, EventSessionClosed, EventMessageReceived, EventMessageSent, EventMessageStatus, EventAgentStatus}

// Valid reports whether t is a subscribable event.
func (t EventType) Valid() bool { return slices.Contains(EventTypes, t) }

// Envelope is the JSON body of every delivery. ID is the event's id: the same on every try and
// for every subscription, so receivers can drop repeats (delivery is at least once).
type Envelope struct {
	ID         string          `json:"id"`
	Type       EventType       `json:"type"`
	TenantID   string          `json:"tenant_id"`
	OccurredAt time.Time       `json:"occurred_at"`
	Data       json.RawMessage `json:"data"`
}

// SessionCreated is the data of session.created: a session opened, by a contact's text or an
// agent's.
type SessionCreated struct {
	SessionID    string    `json:"session_id"`
	Type         string    `json:"type"`
	Number       string    `json:"number"`
	Contact      string    `json:"contact"`
	OwnerUserID  *string   `json:"owner_user_id"`
	OwnerQueueID *string   `json:"owner_queue_id"`
	QueueID      *string   `json:"queue_id"`
	CreatedAt    time.Time `json:"created_at"`
}

// The outcomes a closed session reports in SessionClosed.Status.
const (
	// SessionCompleted: the conversation took place (an agent wrote in it).
	SessionCompleted = "completed"
	// SessionFailed: it ended without one, and FailureReason says why.
	SessionFailed = "failed"
)

// SessionClosed is the data of session.closed. Status is SessionCompleted or SessionFailed;
// FailureReason is set only when it failed, and is a sentence for a person ("No agent replied
// before the session closed after 24 hours idle."), never a pass-through error.
type SessionClosed struct {
	SessionID     string    `json:"session_id"`
	Type          string    `json:"type"`
	Number        string    `json:"number"`
	Contact       string    `json:"contact"`
	Status        string    `json:"status"`
	FailureReason string    `json:"failure_reason,omitempty"`
	CloseReason   string    `json:"close_reason"`
	AssigneeID    *string   `json:"assignee_id"`
	QueueID       *string   `json:"queue_id"`
	MessagesIn    int       `json:"messages_in"`
	MessagesOut   int       `json:"messages_out"`
	CreatedAt     time.Time `json:"created_at"`
	ClosedAt      time.Time `json:"closed_at"`
}

// MessageReceived is the data of message.received: a contact's text stored in a session.
type MessageReceived struct {
	MessageID  string    `json:"message_id"`
	SessionID  string    `json:"session_id"`
	From       string    `json:"from"`
	To         string    `json:"to"`
	Body       string    `json:"body"`
	Media      []string  `json:"media"`
	Segments   int       `json:"segments"`
	ReceivedAt time.Time `json:"received_at"`
}

// MessageSent is the data of message.sent: an outbound text accepted for sending (stored in
// the outbox), by an agent (SenderUserID) or by directsms itself (Kind deflection, help, opt-out
// or opt-in confirmation). Its fate follows as message.status events.
type MessageSent struct {
	MessageID    string    `json:"message_id"`
	SessionID    string    `json:"session_id"`
	Kind         string    `json:"kind"`
	From         string    `json:"from"`
	To           string    `json:"to"`
	Body         string    `json:"body"`
	Segments     int       `json:"segments"`
	Encoding     string    `json:"encoding"`
	SenderUserID *string   `json:"sender_user_id"`
	Status       string    `json:"status"`
	CreatedAt    time.Time `json:"created_at"`
}

// MessageStatus is the data of message.status: an outbound text moved to Status (sent,
// delivered, undelivered, failed…); ErrorCode and ErrorMessage are the carrier's when it failed.
type MessageStatus struct {
	MessageID    string    `json:"message_id"`
	SessionID    string    `json:"session_id"`
	Status       string    `json:"status"`
	ErrorCode    *string   `json:"error_code"`
	ErrorMessage *string   `json:"error_message"`
	ChangedAt    time.Time `json:"changed_at"`
}

// AgentStatus is the data of agent.status: a user's availability changed. Reason says what did
// it (the agent, an admin, the missed-chat threshold…); ChangedBy is the user who did, if any.
type AgentStatus struct {
	UserID         string    `json:"user_id"`
	Status         string    `json:"status"`
	PreviousStatus string    `json:"previous_status"`
	Reason         string    `json:"reason"`
	ChangedBy      *string   `json:"changed_by"`
	ChangedAt      time.Time `json:"changed_at"`
}

// sqlEnqueueEvent stores an event and its deliveries, and nothing when no subscription wants
// it (one index lookup). The work is the SQL function reporting_enqueue
// (sql/migrations/0010_event_producers.sql), shared with the triggers that produce events from
// PL/pgSQL.
const sqlEnqueueEvent = `SELECT reporting_enqueue($1, $2, $3, $4)`

// Enqueue records that eventType happened to tenantID at now, with data (one of the event
// structs above, marshalled as JSON), for every subscription of the tenant that wants it. It
// writes inside the producer's tx, so the event is delivered exactly when the change it
// describes is committed, and never when that rolls back. Delivery is the Dispatcher's job.
func Enqueue(ctx context.Context, tx *sqlx.Tx, now time.Time, tenantID string, eventType EventType, data any) error {
	if !eventType.Valid() {
		return fmt.Errorf("enqueue event %q: not a subscribable event", eventType)
	}
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("enqueue %s: encode data: %w", eventType, err)
	}
	if _, err := tx.ExecContext(ctx, sqlEnqueueEvent, tenantID, string(eventType), string(b), now.UTC()); err != nil {
		return fmt.Errorf("enqueue %s for tenant %s: %w", eventType, tenantID, err)
	}
	return nil
}
