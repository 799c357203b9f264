package reporting

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/lib/pq"

	"directsms/internal/apperr"
	"directsms/sql/pg"
)

// Secret length bounds: long enough to resist guessing, short enough to store.
const (
	MinSecretLength = 16
	MaxSecretLength = 256
)

// Subscription is a tenant's registration for events; its secret is never read back.
type Subscription struct {
	ID        string      `json:"id" db:"id"`
	URL       string      `json:"url" db:"url"`
	Events    []EventType `json:"events" db:"-"`
	CreatedBy *string     `json:"created_by" db:"created_by"`
	CreatedAt time.Time   `json:"created_at" db:"created_at"`
}

// NewSubscription is what creating a subscription takes.
type NewSubscription struct {
	URL    string
	Secret string
	Events []string
}

// Attempt is one try of one delivery, as the delivery log shows it. StatusCode is the
// receiver's answer; Error is why there was none (or what the answer meant), and Outcome what
// the try decided: delivered, retrying or failed.
type Attempt struct {
	ID         int64     `json:"id"`
	EventID    string    `json:"event_id"`
	EventType  EventType `json:"event_type"`
	Attempt    int       `json:"attempt"`
	At         time.Time `json:"at"`
	StatusCode *int      `json:"status_code"`
	Error      *string   `json:"error"`
	DurationMS int       `json:"duration_ms"`
	Outcome    string    `json:"outcome"`
}

const (
	sqlInsertSubscription = `INSERT INTO event_subscriptions (tenant_id, url, secret, events, created_by, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		RETURNING id, url, events, created_by, created_at`
	sqlSelectSubscription = `SELECT id, url, events, created_by, created_at FROM event_subscriptions
		WHERE tenant_id = $1 AND id = $2`
	sqlListSubscriptions = `SELECT id, url, events, created_by, created_at FROM event_subscriptions
		WHERE tenant_id = $1 AND ($2 = '' OR id > CAST(NULLIF($2, '') AS uuid))
		ORDER BY id LIMIT $3`
	sqlDeleteSubscription = `DELETE FROM event_subscriptions WHERE tenant_id = $1 AND id = $2`
	sqlListAttempts       = `SELECT a.id, d.event_id, e.type, a.attempt, a.at, a.status_code, a.error, a.duration_ms, a.outcome
		FROM webhook_attempts a
		JOIN webhook_deliveries d ON d.id = a.delivery_id
		JOIN webhook_events e ON e.id = d.event_id
		WHERE a.tenant_id = $1 AND a.subscription_id = $2 AND ($3 = 0 OR a.id < $3)
		ORDER BY a.id DESC LIMIT $4`
)

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// CreateSubscription registers url for events, deliveries signed with secret. allowPrivate
// lets the URL point at private or loopback addresses (development only).
func (s *Store) CreateSubscription(ctx context.Context, tenantID, createdBy string, in NewSubscription, allowPrivate bool) (Subscription, error) {
	if len(in.Secret) < MinSecretLength || len(in.Secret) > MaxSecretLength || !storable(in.Secret) {
		return Subscription{}, apperr.Invalid("secret", "invalid_secret", fmt.Sprintf("secret must be %d to %d characters of UTF-8 text without NUL", MinSecretLength, MaxSecretLength))
	}
	if len(in.Events) == 0 {
		return Subscription{}, apperr.Invalid("events", "invalid_events", "events must name at least one event")
	}
	var events []string
	for _, e := range in.Events {
		if !EventType(e).Valid() {
			return Subscription{}, apperr.Invalid("events", "invalid_event", fmt.Sprintf("unknown event %q: use session.created, session.closed, message.received, message.sent, message.status or agent.status", e))
		}
		if !slices.Contains(events, e) {
			events = append(events, e)
		}
	}
	u, err := s.checkURL(ctx, in.URL, allowPrivate)
	if err != nil {
		return Subscription{}, err
	}
	var creator *string
	if createdBy != "" {
		creator = &createdBy
	}
	var row subscriptionRow
	if err := s.db.GetContext(ctx, &row, sqlInsertSubscription, tenantID, u, in.Secret, pq.Array(events), creator, s.now()); err != nil {
		return Subscription{}, fmt.Errorf("create event subscription for tenant %s: %w", tenantID, err)
	}
	return row.subscription(), nil
}

// subscriptionRow is a subscription as scanned, events still in their array form.
type subscriptionRow struct {
	Subscription
	EventsArray pq.StringArray `db:"events"`
}

func (r subscriptionRow) subscription() Subscription {
	sub := r.Subscription
	sub.Events = make([]EventType, len(r.EventsArray))
	for i, e := range r.EventsArray {
		sub.Events[i] = EventType(e)
	}
	return sub
}

// GetSubscription returns one of the tenant's subscriptions.
func (s *Store) GetSubscription(ctx context.Context, tenantID, id string) (Subscription, error) {
	if !uuidPattern.MatchString(id) {
		return Subscription{}, apperr.NotFound("event subscription")
	}
	var row subscriptionRow
	if err := s.db.GetContext(ctx, &row, sqlSelectSubscription, tenantID, id); err != nil {
		if errors.Is(err, pg.ErrNoRows) {
			return Subscription{}, apperr.NotFound("event subscription")
		}
		return Subscription{}, fmt.Errorf("get event subscription %s: %w", id, err)
	}
	return row.subscription(), nil
}

// ListSubscriptions returns up to limit of the tenant's subscriptions with ids after cursor
// ("" for the first page), in id order.
func (s *Store) ListSubscriptions(ctx context.Context, tenantID, cursor string, limit int) ([]Subscription, error) {
	if cursor != "" && !uuidPattern.MatchString(cursor) {
		return nil, apperr.Invalid("cursor", "invalid_cursor", "cursor is not one this list handed out")
	}
	var rows []subscriptionRow
	if err := s.db.SelectContext(ctx, &rows, sqlListSubscriptions, tenantID, cursor, limit); err != nil {
		return nil, fmt.Errorf("list event subscriptions of tenant %s: %w", tenantID, err)
	}
	out := make([]Subscription, len(rows))
	for i, r := range rows {
		out[i] = r.subscription()
	}
	return out, nil
}

// DeleteSubscription removes a subscription with its pending deliveries and its log.
func (s *Store) DeleteSubscription(ctx context.Context, tenantID, id string) error {
	if !uuidPattern.MatchString(id) {
		return apperr.NotFound("event subscription")
	}
	res, err := s.db.ExecContext(ctx, sqlDeleteSubscription, tenantID, id)
	if err != nil {
		return fmt.Errorf("delete event subscription %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("delete event subscription %s: %w", id, err)
	} else if n == 0 {
		return apperr.NotFound("event subscription")
	}
	return nil
}

// ListAttempts returns a subscription's delivery log, newest try first: up to limit tries
// older than cursor (the id of the last try of the previous page, "" for the first page).
func (s *Store) ListAttempts(ctx context.Context, tenantID, subscriptionID, cursor string, limit int) ([]Attempt, error) {
	if _, err := s.GetSubscription(ctx, tenantID, subscriptionID); err != nil {
		return nil, err
	}
	var before int64
	if cursor != "" {
		n, err := strconv.ParseInt(cursor, 10, 64)
		if err != nil || n <= 0 {
			return nil, apperr.Invalid("cursor", "invalid_cursor", "cursor is not one this list handed out")
		}
		before = n
	}
	rows, err := s.db.QueryContext(ctx, sqlListAttempts, tenantID, subscriptionID, before, limit)
	if err != nil {
		return nil, fmt.Errorf("list deliveries of subscription %s: %w", subscriptionID, err)
	}
	defer rows.Close()
	out := []Attempt{}
	for rows.Next() {
		var a Attempt
		if err := rows.Scan(&a.ID, &a.EventID, &a.EventType, &a.Attempt, &a.At, &a.StatusCode, &a.Error, &a.DurationMS, &a.Outcome); err != nil {
			return nil, fmt.Errorf("list deliveries of subscription %s: %w", subscriptionID, err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list deliveries of subscription %s: %w", subscriptionID, err)
	}
	return out, nil
}
