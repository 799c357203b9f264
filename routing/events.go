package routing

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// EventType names a real-time event an agent's client receives.
type EventType string

// The event types of GET /v1/events.
const (
	EventSessionOffered   EventType = "session.offered"
	EventSessionAssigned  EventType = "session.assigned"
	EventSessionWithdrawn EventType = "session.withdrawn"
	EventSessionClosed    EventType = "session.closed"
	EventMessageReceived  EventType = "message.received"
	EventMessageStatus    EventType = "message.status"
	EventAgentStatus      EventType = "agent.status"
)

// Event is one real-time event, addressed to one user or to everyone who can see a queue.
type Event struct {
	TenantID string
	UserID   string // set for one user…
	QueueID  string // …or for a queue's audience
	Type     EventType
	Data     any
}

// NotifyChannel is the PostgreSQL channel that wakes every process's event streams when events
// are committed, whichever process wrote them.
const NotifyChannel = "directsms_events"

const (
	sqlInsertEvents = `INSERT INTO events (tenant_id, user_id, queue_id, type, data, created_at)
		SELECT tenant_id, NULLIF(user_id, '')::uuid, NULLIF(queue_id, '')::uuid, type, data::jsonb, $6
		FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[]) AS e(tenant_id, user_id, queue_id, type, data)`
	sqlNotifyEvents = `SELECT pg_notify($1, '')`
)

// Publish stores events inside tx, so they exist exactly when what they describe is committed,
// and notifies listeners on commit. It does one insert however many events there are.
func Publish(ctx context.Context, tx *sqlx.Tx, now time.Time, events ...Event) error {
	if len(events) == 0 {
		return nil
	}
	if err := insertEvents(ctx, tx, now, events); err != nil {
		return err
	}
	// Notifications with the same payload in one transaction are folded into one by PostgreSQL.
	if _, err := tx.ExecContext(ctx, sqlNotifyEvents, NotifyChannel); err != nil {
		return fmt.Errorf("notify events: %w", err)
	}
	return nil
}

// insertEvents is Publish without the notification, for the busy paths whose commits must not
// queue behind the notification lock: they wake a notifier after committing instead.
func insertEvents(ctx context.Context, tx *sqlx.Tx, now time.Time, events []Event) error {
	n := len(events)
	if n == 0 {
		return nil
	}
	tenants, users, queues, types, data := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, e := range events {
		b, err := json.Marshal(e.Data)
		if err != nil {
			return fmt.Errorf("publish %s: encode: %w", e.Type, err)
		}
		tenants[i], users[i], queues[i], types[i], data[i] = e.TenantID, e.UserID, e.QueueID, string(e.Type), string(b)
	}
	if _, err := tx.ExecContext(ctx, sqlInsertEvents, pq.Array(tenants), pq.Array(users), pq.Array(queues), pq.Array(types), pq.Array(data), now); err != nil {
		return fmt.Errorf("publish %d events: %w", n, err)
	}
	return nil
}
