package routing

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"directsms/internal/apperr"
	"directsms/sql/pg"
)

// StreamEvent is one event as a subscriber receives it.
type StreamEvent struct {
	ID        int64
	TenantID  string
	UserID    string // set when the event is addressed to one user…
	QueueID   string // …or to everyone who sees a queue
	Type      EventType
	Data      json.RawMessage
	CreatedAt time.Time
}

// Audience is who a subscription is for: one user of one tenant, who receives events addressed
// to them and to the queues they see.
type Audience struct {
	TenantID string
	UserID   string
	// QueueIDs are the user's effective queues when subscribing (UserQueueIDs); the hub
	// re-reads them every RefreshInterval so membership changes apply to open streams.
	QueueIDs []string
}

// PresenceTimeout is how long a client_connections row counts without a heartbeat: three missed
// heartbeats mean the process holding the connection is gone.
const PresenceTimeout = 45 * time.Second

// Defaults for the Hub's tuning fields.
const (
	DefaultPollInterval      = time.Second
	DefaultHeartbeatInterval = 15 * time.Second
	DefaultRefreshInterval   = 30 * time.Second
	DefaultGapMaxHold        = 15 * time.Second
	DefaultBufferSize        = 1024
	DefaultBatchSize         = 500
)

var (
	// ErrStreamUnavailable is returned by Subscribe when the hub is not running (stopped, or
	// never started); it answers 503.
	ErrStreamUnavailable = &apperr.Error{Kind: apperr.KindUnavailable, Code: "stream_unavailable", Message: "the event stream is not available; retry shortly"}
	// ErrSlowSubscriber ends a subscription whose consumer fell BufferSize events behind.
	ErrSlowSubscriber = errors.New("event stream: subscriber fell too far behind")
	// ErrStreamStopped ends every subscription when the hub stops (the process shuts down).
	ErrStreamStopped = errors.New("event stream: stopped")
	// ErrSubscriptionClosed is the reason of a subscription its owner closed.
	ErrSubscriptionClosed = errors.New("event stream: subscription closed")
)

const (
	// The hub reads every tenant's new events at once; dispatch matches each to its tenant.
	sqlSelectEventsAfter = `SELECT id, tenant_id, COALESCE(user_id::text, '') AS user_id, COALESCE(queue_id::text, '') AS queue_id, type, data, created_at
		FROM events WHERE id > $1 ORDER BY id LIMIT $2`
	sqlSelectAudienceEvents = `SELECT id, tenant_id, COALESCE(user_id::text, '') AS user_id, COALESCE(queue_id::text, '') AS queue_id, type, data, created_at
		FROM events
		WHERE tenant_id = $1 AND id > $2 AND id <= $3 AND (user_id = $4 OR queue_id = ANY($5::uuid[]))
		ORDER BY id LIMIT $6`
	sqlSelectMaxEventID = `SELECT COALESCE(max(id), 0) FROM events`
	// Transactions that hold the lock every INSERT into events takes before it draws an id.
	sqlSelectEventWriters = `SELECT DISTINCT virtualtransaction FROM pg_locks
		WHERE locktype = 'relation' AND mode = 'RowExclusiveLock'
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
		AND relation = 'events'::regclass`
	// A user's effective queues: direct membership, or membership of a team that is a member.
	sqlSelectUsersQueues = `WITH a AS (SELECT x.tenant_id, x.user_id FROM unnest($1::uuid[], $2::uuid[]) AS x(tenant_id, user_id))
		SELECT a.user_id::text AS user_id, qm.queue_id::text AS queue_id FROM a
		JOIN queue_members qm ON qm.tenant_id = a.tenant_id AND qm.user_id = a.user_id
		UNION
		SELECT a.user_id::text, qm.queue_id::text FROM a
		JOIN team_members tm ON tm.tenant_id = a.tenant_id AND tm.user_id = a.user_id
		JOIN queue_members qm ON qm.tenant_id = tm.tenant_id AND qm.team_id = tm.team_id`
	sqlInsertConnection = `INSERT INTO client_connections (tenant_id, user_id, process_id, connected_at, last_seen_at)
		VALUES ($1, $2, $3, $4, $4) RETURNING id`
	sqlDeleteConnection        = `DELETE FROM client_connections WHERE id = $1`
	sqlDeleteProcessConnection = `DELETE FROM client_connections WHERE process_id = $1`
	// The heartbeat re-creates a row another process swept while this one could not reach the
	// database, so a connected agent never stays "gone" after an outage.
	sqlUpsertConnections = `INSERT INTO client_connections (id, tenant_id, user_id, process_id, connected_at, last_seen_at)
		SELECT c.id, c.tenant_id, c.user_id, $5, c.connected_at, $6
		FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::timestamptz[]) AS c(id, tenant_id, user_id, connected_at)
		JOIN users u ON u.tenant_id = c.tenant_id AND u.id = c.user_id
		ON CONFLICT (id) DO UPDATE SET last_seen_at = EXCLUDED.last_seen_at`
	sqlDeleteStaleConnections = `DELETE FROM client_connections WHERE last_seen_at < $1`
	sqlSelectHasConnection    = `SELECT EXISTS (SELECT 1 FROM client_connections
		WHERE tenant_id = $1 AND user_id = $2 AND last_seen_at > $3)`
	sqlMarkOffersDelivered = `UPDATE offers SET delivered_at = $4
		WHERE tenant_id = $1 AND id = ANY($2) AND user_id = $3 AND status = 'pending' AND delivered_at IS NULL`
)

// Hub fans the events of every process out to this process's subscribers. Build it with
// NewHub, set any tuning field, then start Run; Subscribe waits until Run has found where the
// stream stands.
//
// Publish writes events inside the transaction that causes them and NOTIFYs NotifyChannel on
// commit. Every process runs one Hub: one dedicated LISTEN connection, and one reader that,
// whenever it is woken (a notification, a listener reconnect, or a periodic tick that covers a
// lost notification), reads every new event once and hands each to the in-process subscribers
// whose audience it is addressed to. Hundreds of subscribers cost one query per wake-up, not one
// each.
//
// Ordering. Event ids come from a sequence, and transactions commit in any order: tx A can take
// id 10, tx B id 11, and B commit first. A reader that remembered "the last id I saw" would pass
// 10 and never come back. The hub keeps a watermark instead: every id at or below it is final
// (its row is committed and was delivered, or it will never exist). It advances only through a
// contiguous run of ids. A hole (a missing id below a committed one) is held until it is known to
// be final: the id was taken by a transaction that held the events table's RowExclusiveLock from
// before it took the id until it ended, so once every transaction that held that lock just after
// the hole was seen has ended (pg_locks, compared by virtual transaction id, which is never
// reused), the next read is final for the hole: a committed row shows up there, a rolled-back one
// never will and is skipped. This waits only for transactions that write events, never for
// unrelated long ones, and involves no guessing with clocks. At start the watermark is the newest
// id, once the writers in flight at that moment have ended. As a safety valve for a writer stuck
// in an open transaction, a hole older than GapMaxHold is skipped with a warning, so one stuck
// session cannot freeze every stream; an event such a transaction later commits is not streamed
// live (a client that resumes from an earlier id still reads it).
//
// Resuming. A subscriber that resumes after an id reads what it missed with its own query, up to
// the watermark at the moment it joined (final, so that read is exact), while the hub queues
// what comes after for it; then it continues with the queue. Nothing is missed and nothing is
// sent twice.
//
// Slow consumers. Each subscriber has a bounded queue; a subscriber that falls BufferSize events
// behind is dropped (its channel closes, Err says why) and its client reconnects with
// Last-Event-ID.
//
// Presence. Each subscription is a row in client_connections while it lasts, refreshed every
// HeartbeatInterval by one statement per hub and deleted when it ends, so any process can tell
// whether an agent has a connected client (HasConnectedClient).
type Hub struct {
	// NowFunc stamps presence rows and delivery times; time.Now when nil.
	NowFunc func() time.Time
	// PollInterval is how often the hub reads new events without being notified, covering a
	// notification lost while the listener reconnected.
	PollInterval time.Duration
	// HeartbeatInterval is how often presence rows are refreshed.
	HeartbeatInterval time.Duration
	// RefreshInterval is how often subscribers' queue memberships are re-read.
	RefreshInterval time.Duration
	// GapMaxHold is how long a hole in the ids may hold the stream back (see the package notes).
	GapMaxHold time.Duration
	// BufferSize is how many events a subscriber may fall behind before it is dropped.
	BufferSize int
	// BatchSize is how many events one read takes.
	BatchSize int

	db        *sqlx.DB
	dsn       string
	log       *slog.Logger
	processID string

	started atomic.Bool
	ready   chan struct{} // closed once the watermark is known
	done    chan struct{} // closed when Run returns
	polls   atomic.Int64  // event reads, for tests of the one-read-per-wake rule

	mu        sync.Mutex
	stopped   bool
	watermark int64 // every id at or below is final; guarded by mu, written only by Run
	subs      map[*Subscription]struct{}
	byUser    map[string]map[*Subscription]struct{}
	byQueue   map[string]map[*Subscription]struct{}

	gap *gap // the first hole above the watermark; Run's goroutine only
}

// gap is a hole in the ids just above the watermark that is not known to be final yet.
type gap struct {
	// below is the committed id seen above the hole when it was first seen: every id under it
	// was drawn before the hole was seen.
	below int64
	since time.Time
	// writers are the transactions writing events when the hole was first checked, less those
	// seen finished since; nil until the first check.
	writers map[string]struct{}
	// settled is set once writers is empty: the next read is final for every id under below.
	settled bool
}

// NewHub builds a hub that reads events through db and listens for notifications on its own
// connection to dsn.
func NewHub(db *sqlx.DB, dsn string, log *slog.Logger) *Hub {
	if log == nil {
		log = slog.Default()
	}
	return &Hub{
		db:        db,
		dsn:       pg.WithDefaults(dsn),
		log:       log.With("component", "event_hub"),
		processID: newProcessID(),
		ready:     make(chan struct{}),
		done:      make(chan struct{}),
		subs:      map[*Subscription]struct{}{},
		byUser:    map[string]map[*Subscription]struct{}{},
		byQueue:   map[string]map[*Subscription]struct{}{},
	}
}

func newProcessID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	b := make([]byte, 4)
	rand.Read(b) //nolint:errcheck // crypto/rand.Read never fails
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
}

func (h *Hub) defaults() {
	if h.NowFunc == nil {
		h.NowFunc = time.Now
	}
	if h.PollInterval <= 0 {
		h.PollInterval = DefaultPollInterval
	}
	if h.HeartbeatInterval <= 0 {
		h.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if h.RefreshInterval <= 0 {
		h.RefreshInterval = DefaultRefreshInterval
	}
	if h.GapMaxHold <= 0 {
		h.GapMaxHold = DefaultGapMaxHold
	}
	if h.BufferSize <= 0 {
		h.BufferSize = DefaultBufferSize
	}
	if h.BatchSize <= 0 {
		h.BatchSize = DefaultBatchSize
	}
}

func (h *Hub) now() time.Time { return h.NowFunc().UTC() }

// Run listens and dispatches until ctx ends, then ends every subscription and removes this
// process's presence rows. Database outages are logged and retried, never fatal; Run returns
// an error only when the hub cannot work at all (LISTEN refused, or Run called twice).
func (h *Hub) Run(ctx context.Context) error {
	if !h.started.CompareAndSwap(false, true) {
		return errors.New("event hub: Run called twice")
	}
	defer close(h.done)
	h.defaults()
	defer h.stop()

	listener := pq.NewListener(h.dsn, 100*time.Millisecond, 10*time.Second, h.listenerEvent)
	// Closing the listener when ctx ends also frees Listen while the database is unreachable;
	// a second Close only reports that it is closed.
	stopClosing := context.AfterFunc(ctx, func() { listener.Close() })
	defer func() {
		stopClosing()
		listener.Close()
	}()
	// Listen waits for the first connection; lib/pq answers net.ErrClosed when it had to wait
	// even though the channel is then listened to, so only a server refusal is fatal.
	if err := listener.Listen(NotifyChannel); err != nil && ctx.Err() == nil {
		var pqErr *pq.Error
		if errors.As(err, &pqErr) {
			return fmt.Errorf("listen on %s: %w", NotifyChannel, err)
		}
		if !errors.Is(err, net.ErrClosed) && !errors.Is(err, pq.ErrChannelAlreadyOpen) {
			h.log.Warn("listen will be retried on reconnect", "err", err)
		}
	}
	if err := h.start(ctx); err != nil {
		return nil //nolint:nilerr // start only fails when ctx ended: a normal stop
	}
	close(h.ready)

	poll := time.NewTicker(h.PollInterval)
	defer poll.Stop()
	heartbeat := time.NewTicker(h.HeartbeatInterval)
	defer heartbeat.Stop()
	refresh := time.NewTicker(h.RefreshInterval)
	defer refresh.Stop()
	var pinging atomic.Bool
	notify := listener.NotificationChannel()
	// While a hole waits on a writer, the hub looks again soon: a writer that rolls back sends
	// no notification.
	var recheck <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-notify:
			if !ok {
				notify = nil
				continue
			}
			// One read covers every notification queued so far.
			drain(notify)
			recheck = h.pollAll(ctx)
		case <-poll.C:
			recheck = h.pollAll(ctx)
		case <-recheck:
			recheck = h.pollAll(ctx)
		case <-heartbeat.C:
			h.heartbeat(ctx)
			// A connection that died without a reset is only noticed when used.
			if pinging.CompareAndSwap(false, true) {
				go func() {
					defer pinging.Store(false)
					listener.Ping() //nolint:errcheck // a failed ping makes the listener reconnect; it logs through listenerEvent
				}()
			}
		case <-refresh.C:
			h.refreshAudiences(ctx)
		}
	}
}

func drain(c <-chan *pq.Notification) {
	for {
		select {
		case _, ok := <-c:
			if !ok {
				return
			}
		default:
			return
		}
	}
}

func (h *Hub) listenerEvent(ev pq.ListenerEventType, err error) {
	switch ev {
	case pq.ListenerEventDisconnected:
		h.log.Warn("event listener disconnected; reconnecting", "err", err)
	case pq.ListenerEventConnectionAttemptFailed:
		h.log.Warn("event listener could not connect", "err", err)
	case pq.ListenerEventReconnected:
		// lib/pq sends a nil notification next, which makes Run read what it missed.
		h.log.Info("event listener reconnected")
	}
}

// start sets the watermark at the newest id once it is final: every transaction that was
// writing events when it was read has ended (or GapMaxHold passed).
func (h *Hub) start(ctx context.Context) error {
	for {
		var newest int64
		err := h.db.GetContext(ctx, &newest, sqlSelectMaxEventID)
		var writers map[string]struct{}
		if err == nil {
			writers, err = h.eventWriters(ctx)
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			h.log.Warn("event stream cannot read its starting point; retrying", "err", err)
			if err := sleep(ctx, h.PollInterval); err != nil {
				return err
			}
			continue
		}
		since := time.Now()
		for len(writers) > 0 && time.Since(since) < h.GapMaxHold {
			if err := sleep(ctx, 20*time.Millisecond); err != nil {
				return err
			}
			current, err := h.eventWriters(ctx)
			if err != nil {
				continue
			}
			intersect(writers, current)
		}
		h.mu.Lock()
		h.watermark = newest
		h.mu.Unlock()
		return nil
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// gapRecheck is how soon the hub looks again at a hole that waits on a writer.
const gapRecheck = 50 * time.Millisecond

// pollAll reads until it has caught up, or the hole it stops at is waiting on a writer; then it
// returns a timer for the next look at that hole, or nil.
func (h *Hub) pollAll(ctx context.Context) <-chan time.Time {
	for range 100 {
		again, err := h.poll(ctx)
		if err != nil {
			if ctx.Err() == nil {
				h.log.Warn("read events", "err", err)
			}
			break
		}
		if !again {
			break
		}
	}
	if h.gap != nil {
		return time.After(gapRecheck)
	}
	return nil
}

// poll reads the events after the watermark once and dispatches the contiguous run it can; it
// reports whether reading again right away would make progress.
func (h *Hub) poll(ctx context.Context) (bool, error) {
	// A hole settled before this read started is final in what this read sees.
	final := h.gap
	if final != nil && !final.settled {
		final = nil
	}
	h.mu.Lock()
	from := h.watermark
	h.mu.Unlock()
	var rows []eventRow
	h.polls.Add(1)
	if err := sqlx.SelectContext(ctx, h.db, &rows, sqlSelectEventsAfter, from, h.BatchSize); err != nil {
		return false, fmt.Errorf("read events after %d: %w", from, err)
	}

	h.mu.Lock()
	held := false
	for i := 0; i < len(rows); {
		ev := rows[i].event()
		next := h.watermark + 1
		if ev.ID == next {
			h.dispatch(ev)
			h.watermark = ev.ID
			i++
			continue
		}
		if h.gap != nil && next >= h.gap.below {
			h.gap = nil
		}
		if h.gap == nil {
			h.gap = &gap{below: ev.ID, since: time.Now()}
		}
		if h.gap == final {
			// Rolled back or never inserted: final, skip it.
			h.watermark = min(ev.ID, h.gap.below) - 1
			continue
		}
		if time.Since(h.gap.since) >= h.GapMaxHold {
			h.log.Warn("event ids held uncommitted past the max hold are skipped; events they commit later are not streamed live",
				"from_id", next, "to_id", ev.ID-1, "held_ms", time.Since(h.gap.since).Milliseconds())
			h.watermark = ev.ID - 1
			continue
		}
		held = true
		break
	}
	if h.gap != nil && h.watermark+1 >= h.gap.below {
		h.gap = nil
	}
	h.mu.Unlock()

	if h.gap == nil || h.gap.settled {
		return !held && len(rows) == h.BatchSize, nil
	}
	current, err := h.eventWriters(ctx)
	if err != nil {
		return false, err
	}
	if h.gap.writers == nil {
		h.gap.writers = current
	} else {
		intersect(h.gap.writers, current)
	}
	h.gap.settled = len(h.gap.writers) == 0
	return h.gap.settled, nil
}

func (h *Hub) eventWriters(ctx context.Context) (map[string]struct{}, error) {
	var ids []string
	if err := sqlx.SelectContext(ctx, h.db, &ids, sqlSelectEventWriters); err != nil {
		return nil, fmt.Errorf("read event writers: %w", err)
	}
	set := make(map[string]struct{}, len(ids))
	for _, id := range ids {
		set[id] = struct{}{}
	}
	return set, nil
}

// intersect keeps in set only what is also in other.
func intersect(set, other map[string]struct{}) {
	for k := range set {
		if _, ok := other[k]; !ok {
			delete(set, k)
		}
	}
}

type eventRow struct {
	ID        int64     `db:"id"`
	TenantID  string    `db:"tenant_id"`
	UserID    string    `db:"user_id"`
	QueueID   string    `db:"queue_id"`
	Type      string    `db:"type"`
	Data      []byte    `db:"data"`
	CreatedAt time.Time `db:"created_at"`
}

func (r eventRow) event() StreamEvent {
	return StreamEvent{
		ID: r.ID, TenantID: r.TenantID, UserID: r.UserID, QueueID: r.QueueID,
		Type: EventType(r.Type), Data: json.RawMessage(r.Data), CreatedAt: r.CreatedAt.UTC(),
	}
}

// dispatch hands ev to every subscriber it is addressed to; h.mu is held.
func (h *Hub) dispatch(ev StreamEvent) {
	var set map[*Subscription]struct{}
	if ev.UserID != "" {
		set = h.byUser[ev.UserID]
	} else {
		set = h.byQueue[ev.QueueID]
	}
	for s := range set {
		if s.aud.TenantID == ev.TenantID {
			s.push(ev)
		}
	}
}

// stop ends every subscription and removes this process's presence rows.
func (h *Hub) stop() {
	h.mu.Lock()
	h.stopped = true
	subs := h.subs
	h.subs = map[*Subscription]struct{}{}
	h.byUser = map[string]map[*Subscription]struct{}{}
	h.byQueue = map[string]map[*Subscription]struct{}{}
	for s := range subs {
		s.registered = false
	}
	h.mu.Unlock()
	for s := range subs {
		s.cancel(ErrStreamStopped)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := h.db.ExecContext(ctx, sqlDeleteProcessConnection, h.processID); err != nil {
		h.log.Warn("remove presence rows on stop; they expire on their own", "process_id", h.processID, "err", err)
	}
}

// heartbeat refreshes this process's presence rows and sweeps those of processes that died.
func (h *Hub) heartbeat(ctx context.Context) {
	h.mu.Lock()
	n := len(h.subs)
	ids, tenants, users, connected := make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
	for s := range h.subs {
		ids, tenants, users = append(ids, s.connID), append(tenants, s.aud.TenantID), append(users, s.aud.UserID)
		connected = append(connected, s.connectedAt.Format(time.RFC3339Nano))
	}
	h.mu.Unlock()
	now := h.now()
	if n > 0 {
		if _, err := h.db.ExecContext(ctx, sqlUpsertConnections, pq.Array(ids), pq.Array(tenants), pq.Array(users), pq.Array(connected), h.processID, now); err != nil {
			h.log.Warn("refresh presence", "connections", n, "err", err)
		}
	}
	if _, err := h.db.ExecContext(ctx, sqlDeleteStaleConnections, now.Add(-PresenceTimeout)); err != nil {
		h.log.Warn("sweep stale presence", "err", err)
	}
}

// refreshAudiences re-reads the queues of every subscribed user in one query.
func (h *Hub) refreshAudiences(ctx context.Context) {
	h.mu.Lock()
	users := map[string]string{}
	for s := range h.subs {
		users[s.aud.UserID] = s.aud.TenantID
	}
	h.mu.Unlock()
	if len(users) == 0 {
		return
	}
	tenants, ids := make([]string, 0, len(users)), make([]string, 0, len(users))
	for u, t := range users {
		tenants, ids = append(tenants, t), append(ids, u)
	}
	queues, err := usersQueues(ctx, h.db, tenants, ids)
	if err != nil {
		h.log.Warn("refresh stream audiences", "users", len(ids), "err", err)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		if _, ok := users[s.aud.UserID]; ok {
			h.setQueues(s, queues[s.aud.UserID])
		}
	}
}

// setQueues replaces s's queues and the queue index; h.mu is held.
func (h *Hub) setQueues(s *Subscription, queueIDs []string) {
	for q := range s.queues {
		delete(h.byQueue[q], s)
		if len(h.byQueue[q]) == 0 {
			delete(h.byQueue, q)
		}
	}
	s.queues = make(map[string]struct{}, len(queueIDs))
	for _, q := range queueIDs {
		s.queues[q] = struct{}{}
		if h.byQueue[q] == nil {
			h.byQueue[q] = map[*Subscription]struct{}{}
		}
		h.byQueue[q][s] = struct{}{}
	}
}

func usersQueues(ctx context.Context, q sqlx.QueryerContext, tenantIDs, userIDs []string) (map[string][]string, error) {
	var rows []struct {
		UserID  string `db:"user_id"`
		QueueID string `db:"queue_id"`
	}
	if err := sqlx.SelectContext(ctx, q, &rows, sqlSelectUsersQueues, pq.Array(tenantIDs), pq.Array(userIDs)); err != nil {
		return nil, fmt.Errorf("read queues of %d users: %w", len(userIDs), err)
	}
	out := map[string][]string{}
	for _, r := range rows {
		out[r.UserID] = append(out[r.UserID], r.QueueID)
	}
	return out, nil
}

// UserQueueIDs returns the queues whose events a user sees: those the user is a member of
// directly or through one of their teams. Parent queues do not pass their members to child
// queues.
func UserQueueIDs(ctx context.Context, q sqlx.QueryerContext, tenantID, userID string) ([]string, error) {
	if !isUUID(tenantID) || !isUUID(userID) {
		return nil, apperr.NotFound("user")
	}
	m, err := usersQueues(ctx, q, []string{tenantID}, []string{userID})
	if err != nil {
		return nil, err
	}
	return m[userID], nil
}

// Subscribe starts a subscription for aud. With afterID > 0 it first delivers the audience's
// events after that id (a client resuming with Last-Event-ID), then the live ones; with 0 it
// starts with what is published from now on. It records a presence row for the user while the
// subscription lasts. The subscription ends when ctx ends, when Close is called, when its
// consumer falls too far behind, or when the hub stops.
func (h *Hub) Subscribe(ctx context.Context, aud Audience, afterID int64) (*Subscription, error) {
	if !isUUID(aud.TenantID) || !isUUID(aud.UserID) {
		return nil, apperr.NotFound("user")
	}
	// Ids are compared with what PostgreSQL prints: lower case.
	aud.TenantID, aud.UserID = strings.ToLower(aud.TenantID), strings.ToLower(aud.UserID)
	queues := make([]string, len(aud.QueueIDs))
	for i, q := range aud.QueueIDs {
		if !isUUID(q) {
			return nil, apperr.NotFound("queue")
		}
		queues[i] = strings.ToLower(q)
	}
	select {
	case <-h.ready:
	case <-h.done:
		return nil, ErrStreamUnavailable
	case <-ctx.Done():
		return nil, fmt.Errorf("subscribe %s: %w", aud.UserID, ctx.Err())
	}
	now := h.now()
	var connID string
	if err := h.db.GetContext(ctx, &connID, sqlInsertConnection, aud.TenantID, aud.UserID, h.processID, now); err != nil {
		if pg.IsViolation(err, "client_connections_user_fkey") {
			return nil, apperr.NotFound("user")
		}
		return nil, fmt.Errorf("record connection of %s: %w", aud.UserID, err)
	}
	sctx, cancel := context.WithCancelCause(ctx)
	s := &Subscription{
		hub: h, aud: Audience{TenantID: aud.TenantID, UserID: aud.UserID}, connID: connID, connectedAt: now,
		afterID: afterID, ctx: sctx, cancel: cancel,
		out: make(chan StreamEvent, outBuffer), wake: make(chan struct{}, 1),
	}
	h.mu.Lock()
	if h.stopped {
		h.mu.Unlock()
		cancel(ErrStreamStopped)
		s.deleteConnection()
		return nil, ErrStreamUnavailable
	}
	s.startAt = h.watermark
	s.registered = true
	h.subs[s] = struct{}{}
	if h.byUser[aud.UserID] == nil {
		h.byUser[aud.UserID] = map[*Subscription]struct{}{}
	}
	h.byUser[aud.UserID][s] = struct{}{}
	h.setQueues(s, queues)
	h.mu.Unlock()

	context.AfterFunc(sctx, s.cleanup)
	go s.pump()
	return s, nil
}

// remove unregisters s and reports whether it was registered (the hub had not stopped).
func (h *Hub) remove(s *Subscription) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !s.registered {
		return false
	}
	s.registered = false
	delete(h.subs, s)
	delete(h.byUser[s.aud.UserID], s)
	if len(h.byUser[s.aud.UserID]) == 0 {
		delete(h.byUser, s.aud.UserID)
	}
	h.setQueues(s, nil)
	return true
}

// Subscription is one client's view of the stream.
type Subscription struct {
	hub         *Hub
	aud         Audience // TenantID and UserID; the queues are in queues
	connID      string
	connectedAt time.Time
	afterID     int64
	ctx         context.Context
	cancel      context.CancelCauseFunc
	// out holds up to outBuffer events ready for the client, so a stream writing a burst can
	// see that more are waiting and send them with one flush.
	out       chan StreamEvent
	wake      chan struct{}
	cleanOnce sync.Once
	// startAt is the watermark when it joined: resumed reads go up to it, live ones come after.
	// Set before pump starts, never changed.
	startAt int64

	// Guarded by hub.mu.
	registered bool
	queues     map[string]struct{}

	mu      sync.Mutex
	pending []StreamEvent
}

// Events delivers the subscription's events in id order. It is closed when the subscription
// ends; Err then says why.
func (s *Subscription) Events() <-chan StreamEvent { return s.out }

// Err is why the subscription ended (ErrSlowSubscriber, ErrStreamStopped,
// ErrSubscriptionClosed, the context's error), or nil while it runs.
func (s *Subscription) Err() error {
	if s.ctx.Err() == nil {
		return nil
	}
	return context.Cause(s.ctx)
}

// Close ends the subscription and removes its presence row before returning.
func (s *Subscription) Close() {
	s.cancel(ErrSubscriptionClosed)
	s.cleanup()
}

// Delivered records that evs reached the subscriber's client: for each session.offered event
// carrying an offer_id of this user, the offer's delivered_at, all in one statement. Other
// events need nothing.
func (s *Subscription) Delivered(ctx context.Context, evs ...StreamEvent) error {
	var offers []string
	for _, ev := range evs {
		if ev.Type != EventSessionOffered {
			continue
		}
		var data struct {
			OfferID string `json:"offer_id"`
		}
		if json.Unmarshal(ev.Data, &data) == nil && isUUID(data.OfferID) {
			offers = append(offers, data.OfferID)
		}
	}
	if len(offers) == 0 {
		return nil
	}
	_, err := markOffersDelivered(ctx, s.hub.db, s.aud.TenantID, s.aud.UserID, offers, s.hub.now())
	return err
}

func (s *Subscription) cleanup() {
	s.cleanOnce.Do(func() {
		if s.hub.remove(s) {
			s.deleteConnection()
		}
	})
}

func (s *Subscription) deleteConnection() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.hub.db.ExecContext(ctx, sqlDeleteConnection, s.connID); err != nil {
		s.hub.log.Warn("remove presence row; it expires on its own", "connection_id", s.connID, "err", err)
	}
}

// push queues ev for the subscriber, or drops a subscriber that is too far behind; hub.mu is
// held, so it never blocks.
func (s *Subscription) push(ev StreamEvent) {
	if s.ctx.Err() != nil {
		return
	}
	s.mu.Lock()
	if len(s.pending) >= s.hub.BufferSize {
		s.pending = nil
		s.mu.Unlock()
		s.cancel(ErrSlowSubscriber)
		return
	}
	s.pending = append(s.pending, ev)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// outBuffer is how many events a subscription holds ready for its client beyond those pending.
const outBuffer = 64

// pump sends what the subscriber missed, then what the hub queues for it, in id order.
func (s *Subscription) pump() {
	defer close(s.out)
	last := s.afterID
	if s.afterID > 0 && s.afterID < s.startAt {
		var ok bool
		if last, ok = s.resume(); !ok {
			return
		}
	}
	for {
		select {
		case <-s.wake:
		case <-s.ctx.Done():
			return
		}
		s.mu.Lock()
		batch := s.pending
		s.pending = nil
		s.mu.Unlock()
		for _, ev := range batch {
			if ev.ID <= last {
				continue
			}
			if !s.send(ev) {
				return
			}
			last = ev.ID
		}
	}
}

// resume sends the audience's events after afterID up to the watermark it joined at, a page at
// a time, and returns the last id sent.
func (s *Subscription) resume() (int64, bool) {
	s.hub.mu.Lock()
	queues := make([]string, 0, len(s.queues))
	for q := range s.queues {
		queues = append(queues, q)
	}
	s.hub.mu.Unlock()
	last := s.afterID
	for {
		var rows []eventRow
		err := sqlx.SelectContext(s.ctx, s.hub.db, &rows, sqlSelectAudienceEvents,
			s.aud.TenantID, last, s.startAt, s.aud.UserID, pq.Array(queues), s.hub.BatchSize)
		if err != nil {
			s.cancel(fmt.Errorf("resume events of %s after %d: %w", s.aud.UserID, last, err))
			return last, false
		}
		for _, r := range rows {
			if !s.send(r.event()) {
				return last, false
			}
			last = r.ID
		}
		if len(rows) < s.hub.BatchSize {
			return last, true
		}
	}
}

func (s *Subscription) send(ev StreamEvent) bool {
	select {
	case s.out <- ev:
		return true
	case <-s.ctx.Done():
		return false
	}
}

// MarkOfferDelivered records that an offer reached one of its user's connected clients: it sets
// delivered_at when the offer is the user's, still pending and not yet marked, and reports
// whether it did. The unresponsive rule reads it.
func MarkOfferDelivered(ctx context.Context, db sqlx.ExecerContext, tenantID, userID, offerID string, now time.Time) (bool, error) {
	if !isUUID(offerID) {
		return false, fmt.Errorf("mark offer %q delivered: not a uuid", offerID)
	}
	n, err := markOffersDelivered(ctx, db, tenantID, userID, []string{offerID}, now)
	return n == 1, err
}

// markOffersDelivered is MarkOfferDelivered for several offers of one user, which must be
// uuids; it answers how many it marked.
func markOffersDelivered(ctx context.Context, db sqlx.ExecerContext, tenantID, userID string, offerIDs []string, now time.Time) (int64, error) {
	if !isUUID(tenantID) || !isUUID(userID) {
		return 0, fmt.Errorf("mark offers of %q delivered: not a uuid", userID)
	}
	res, err := db.ExecContext(ctx, sqlMarkOffersDelivered, tenantID, pq.Array(offerIDs), userID, now)
	if err != nil {
		return 0, fmt.Errorf("mark %d offers of %s delivered: %w", len(offerIDs), userID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("mark %d offers of %s delivered: %w", len(offerIDs), userID, err)
	}
	return n, nil
}

// HasConnectedClient reports whether the user has an event-stream client connected to any
// process: a presence row refreshed within PresenceTimeout of now.
func HasConnectedClient(ctx context.Context, q sqlx.QueryerContext, tenantID, userID string, now time.Time) (bool, error) {
	if !isUUID(tenantID) || !isUUID(userID) {
		return false, nil
	}
	var ok bool
	if err := sqlx.GetContext(ctx, q, &ok, sqlSelectHasConnection, tenantID, userID, now.Add(-PresenceTimeout)); err != nil {
		return false, fmt.Errorf("look for connected clients of %s: %w", userID, err)
	}
	return ok, nil
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func isUUID(s string) bool { return uuidRE.MatchString(s) }
