package routing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"directsms/internal/apperr"
	"directsms/sql/pg"
	"directsms/sql/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// wait is how long a test waits for something that should happen: generous, because the
// machine is shared and the race detector is slow; tests never assert a tight time.
const wait = 10 * time.Second

// streamDB is one test's database with helpers to fill the directory and publish events.
type streamDB struct {
	t   *testing.T
	db  *sqlx.DB
	dsn string
}

func newStreamDB(t *testing.T) *streamDB {
	t.Helper()
	dsn := pgtest.NewDSN(t)
	db, err := pg.Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return &streamDB{t: t, db: db, dsn: dsn}
}

func (f *streamDB) id(query string, args ...any) string {
	f.t.Helper()
	var id string
	if err := f.db.Get(&id, query, args...); err != nil {
		f.t.Fatalf("%s: %v", query, err)
	}
	return id
}

func (f *streamDB) exec(query string, args ...any) {
	f.t.Helper()
	if _, err := f.db.Exec(query, args...); err != nil {
		f.t.Fatalf("%s: %v", query, err)
	}
}

// sqlInsertAgents creates $2 agents named $3 (with a number when there are several) in tenant
// $1, each in the tenant's team "Everyone" as its primary team, as every active user must be.
const sqlInsertAgents = `WITH t AS (SELECT id FROM teams WHERE tenant_id = $1 AND name = 'Everyone'),
	u AS (INSERT INTO users (tenant_id, name, email, role, primary_team_id)
		SELECT $1, $3 || CASE WHEN $2 > 1 THEN ' ' || i ELSE '' END, $3 || i || '@example.com', 'agent', t.id
		FROM generate_series(1, $2) AS i, t RETURNING id, tenant_id, primary_team_id),
	m AS (INSERT INTO team_members (tenant_id, team_id, user_id) SELECT tenant_id, primary_team_id, id FROM u)
	SELECT id FROM u`

// tenant creates a tenant with a team "Everyone" that its users belong to.
func (f *streamDB) tenant(name string) string {
	f.t.Helper()
	id := f.id(`INSERT INTO tenants (name) VALUES ($1) RETURNING id`, name)
	f.exec(`INSERT INTO teams (tenant_id, name) VALUES ($1, 'Everyone')`, id)
	return id
}

func (f *streamDB) user(tenantID, name string) string {
	f.t.Helper()
	return f.id(sqlInsertAgents, tenantID, 1, name)
}

func (f *streamDB) team(tenantID, name string, userIDs ...string) string {
	f.t.Helper()
	id := f.id(`INSERT INTO teams (tenant_id, name) VALUES ($1, $2) RETURNING id`, tenantID, name)
	for _, u := range userIDs {
		f.exec(`INSERT INTO team_members (tenant_id, team_id, user_id) VALUES ($1, $2, $3)`, tenantID, id, u)
	}
	return id
}

func (f *streamDB) queue(tenantID, name string) string {
	f.t.Helper()
	return f.id(`INSERT INTO queues (tenant_id, name, kind) VALUES ($1, $2, 'sms') RETURNING id`, tenantID, name)
}

func (f *streamDB) queueUser(tenantID, queueID, userID string) {
	f.t.Helper()
	f.exec(`INSERT INTO queue_members (tenant_id, queue_id, user_id) VALUES ($1, $2, $3)`, tenantID, queueID, userID)
}

func (f *streamDB) queueTeam(tenantID, queueID, teamID string) {
	f.t.Helper()
	f.exec(`INSERT INTO queue_members (tenant_id, queue_id, team_id) VALUES ($1, $2, $3)`, tenantID, queueID, teamID)
}

// offer creates a contact, a session and a pending offer of it to userID.
func (f *streamDB) offer(tenantID, userID string) string {
	f.t.Helper()
	now := time.Now()
	contact := f.id(`INSERT INTO contacts (tenant_id, address, kind, created_at) VALUES ($1, '+1415555' || lpad((floor(random() * 10000))::int::text, 4, '0'), 'number', $2)
		ON CONFLICT (tenant_id, address) DO UPDATE SET kind = EXCLUDED.kind RETURNING id`, tenantID, now)
	session := f.id(`INSERT INTO sessions (tenant_id, contact_id, number, type, last_message_at, created_at)
		VALUES ($1, $2, '+14155550100', 'Messaging Inbound (SMS Direct)', $3, $3) RETURNING id`, tenantID, contact, now)
	return f.id(`INSERT INTO offers (tenant_id, session_id, user_id, direct, created_at, expires_at)
		VALUES ($1, $2, $3, true, $4::timestamptz, $4::timestamptz + interval '1 minute') RETURNING id`, tenantID, session, userID, now)
}

// publish commits events in one transaction and returns their ids.
func (f *streamDB) publish(events ...Event) []int64 {
	f.t.Helper()
	tx := f.begin(events...)
	if err := tx.Commit(); err != nil {
		f.t.Fatalf("commit: %v", err)
	}
	return f.lastIDs(len(events))
}

// begin publishes events in a transaction it leaves open.
func (f *streamDB) begin(events ...Event) *sqlx.Tx {
	f.t.Helper()
	tx, err := f.db.Beginx()
	if err != nil {
		f.t.Fatalf("begin: %v", err)
	}
	f.t.Cleanup(func() { tx.Rollback() }) //nolint:errcheck // committed or rolled back already, usually
	if err := Publish(context.Background(), tx, time.Now(), events...); err != nil {
		f.t.Fatalf("publish: %v", err)
	}
	return tx
}

func (f *streamDB) lastIDs(n int) []int64 {
	f.t.Helper()
	var ids []int64
	if err := f.db.Select(&ids, `SELECT id FROM (SELECT id FROM events ORDER BY id DESC LIMIT $1) e ORDER BY id`, n); err != nil {
		f.t.Fatalf("read ids: %v", err)
	}
	return ids
}

// hub starts a hub on the test's database, tuned by tune, and stops it when the test ends.
func (f *streamDB) hub(tune func(*Hub)) *Hub {
	f.t.Helper()
	h := NewHub(f.db, f.dsn, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if tune != nil {
		tune(h)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	f.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				f.t.Errorf("hub run: %v", err)
			}
		case <-time.After(wait):
			f.t.Errorf("hub did not stop within %s", wait)
		}
	})
	return h
}

func subscribe(t *testing.T, h *Hub, aud Audience, after int64) *Subscription {
	t.Helper()
	s, err := h.Subscribe(context.Background(), aud, after)
	if err != nil {
		t.Fatalf("subscribe %+v: %v", aud, err)
	}
	t.Cleanup(s.Close)
	return s
}

// next is the subscription's next event; the test fails if none comes.
func next(t *testing.T, s *Subscription) StreamEvent {
	t.Helper()
	select {
	case ev, ok := <-s.Events():
		if !ok {
			t.Fatalf("subscription ended: %v", s.Err())
		}
		return ev
	case <-time.After(wait):
		t.Fatalf("no event within %s", wait)
	}
	return StreamEvent{}
}

// nextIDs reads n events and returns their ids.
func nextIDs(t *testing.T, s *Subscription, n int) []int64 {
	t.Helper()
	ids := make([]int64, 0, n)
	for range n {
		ids = append(ids, next(t, s).ID)
	}
	return ids
}

// quiet fails if an event arrives within d.
func quiet(t *testing.T, s *Subscription, d time.Duration) {
	t.Helper()
	select {
	case ev, ok := <-s.Events():
		if ok {
			t.Fatalf("got event %d %s, want none yet", ev.ID, ev.Type)
		}
		t.Fatalf("subscription ended: %v", s.Err())
	case <-time.After(d):
	}
}

func toUser(tenantID, userID string, n int) Event {
	return Event{TenantID: tenantID, UserID: userID, Type: EventMessageReceived, Data: map[string]any{"n": n}}
}

func toQueue(tenantID, queueID string, n int) Event {
	return Event{TenantID: tenantID, QueueID: queueID, Type: EventSessionAssigned, Data: map[string]any{"n": n}}
}

func TestHub_DeliversTheUsersAndTheirQueuesEventsAndNothingElse(t *testing.T) {
	t.Parallel()
	f := newStreamDB(t)
	acme, other := f.tenant("Acme"), f.tenant("Other")
	ann, bob, stranger := f.user(acme, "ann"), f.user(acme, "bob"), f.user(other, "stranger")
	direct, viaTeam, notMine := f.queue(acme, "direct"), f.queue(acme, "via team"), f.queue(acme, "not mine")
	f.queueUser(acme, direct, ann)
	f.queueTeam(acme, viaTeam, f.team(acme, "sales", ann))
	f.queueUser(acme, notMine, bob)
	otherQueue := f.queue(other, "theirs")
	f.queueUser(other, otherQueue, stranger)

	h := f.hub(nil)
	queues, err := UserQueueIDs(context.Background(), f.db, acme, ann)
	if err != nil {
		t.Fatalf("queues: %v", err)
	}
	slices.Sort(queues)
	if want := []string{direct, viaTeam}; !slices.Equal(queues, sortedCopy(want)) {
		t.Fatalf("got queues %v, want %v", queues, sortedCopy(want))
	}
	s := subscribe(t, h, Audience{TenantID: acme, UserID: ann, QueueIDs: queues}, 0)

	ids := f.publish(
		toUser(acme, bob, 1),          // another user
		toUser(other, stranger, 2),    // another tenant
		toQueue(acme, notMine, 3),     // a queue ann is not in
		toQueue(other, otherQueue, 4), // another tenant's queue
		toUser(acme, ann, 5),          // ann's
		toQueue(acme, direct, 6),      // ann's queue
		toQueue(acme, viaTeam, 7),     // ann's team's queue
		toUser(acme, bob, 8),          // another user again
		toUser(acme, ann, 9),          // ann's
	)
	got := nextIDs(t, s, 4)
	if want := []int64{ids[4], ids[5], ids[6], ids[8]}; !slices.Equal(got, want) {
		t.Fatalf("got ids %v, want %v", got, want)
	}
	// A marker published last proves nothing else was on its way.
	marker := f.publish(toUser(acme, ann, 10))
	if ev := next(t, s); ev.ID != marker[0] || ev.Type != EventMessageReceived || string(ev.Data) != `{"n": 10}` || ev.TenantID != acme || ev.UserID != ann {
		t.Fatalf("got %+v (data %s), want the marker %d", ev, ev.Data, marker[0])
	}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

func TestHub_OutOfOrderCommitsAreDeliveredInIDOrderOnceTheEarlierCommits(t *testing.T) {
	t.Parallel()
	f := newStreamDB(t)
	acme := f.tenant("Acme")
	ann := f.user(acme, "ann")
	h := f.hub(nil)
	s := subscribe(t, h, Audience{TenantID: acme, UserID: ann}, 0)

	txA := f.begin(toUser(acme, ann, 1)) // takes the lower id…
	txB := f.begin(toUser(acme, ann, 2)) // …and B the higher one, then commits first
	if err := txB.Commit(); err != nil {
		t.Fatalf("commit B: %v", err)
	}
	quiet(t, s, 1500*time.Millisecond)
	if err := txA.Commit(); err != nil {
		t.Fatalf("commit A: %v", err)
	}
	ids := f.lastIDs(2)
	if got := nextIDs(t, s, 2); !slices.Equal(got, ids) {
		t.Fatalf("got ids %v, want %v", got, ids)
	}
}

func TestHub_RolledBackIDIsSkippedWithoutWaitingForTheMaxHold(t *testing.T) {
	t.Parallel()
	f := newStreamDB(t)
	acme := f.tenant("Acme")
	ann := f.user(acme, "ann")
	h := f.hub(func(h *Hub) { h.GapMaxHold = time.Hour })
	s := subscribe(t, h, Audience{TenantID: acme, UserID: ann}, 0)

	txA := f.begin(toUser(acme, ann, 1))
	b := f.publish(toUser(acme, ann, 2))
	quiet(t, s, 300*time.Millisecond)
	if err := txA.Rollback(); err != nil {
		t.Fatalf("rollback A: %v", err)
	}
	if ev := next(t, s); ev.ID != b[0] {
		t.Fatalf("got id %d, want %d", ev.ID, b[0])
	}
}

func TestHub_HoleHeldPastTheMaxHoldIsSkippedAndAResumeStillReadsIt(t *testing.T) {
	t.Parallel()
	f := newStreamDB(t)
	acme := f.tenant("Acme")
	ann := f.user(acme, "ann")
	h := f.hub(func(h *Hub) { h.GapMaxHold = 300 * time.Millisecond })
	s := subscribe(t, h, Audience{TenantID: acme, UserID: ann}, 0)
	before := f.publish(toUser(acme, ann, 0))
	next(t, s)

	txA := f.begin(toUser(acme, ann, 1)) // stuck open past the hold
	b := f.publish(toUser(acme, ann, 2))
	if ev := next(t, s); ev.ID != b[0] {
		t.Fatalf("got id %d, want %d: a stuck writer must not freeze the stream", ev.ID, b[0])
	}
	if err := txA.Commit(); err != nil {
		t.Fatalf("commit A: %v", err)
	}
	resumed := subscribe(t, h, Audience{TenantID: acme, UserID: ann}, before[0])
	if got, want := nextIDs(t, resumed, 2), []int64{b[0] - 1, b[0]}; !slices.Equal(got, want) {
		t.Fatalf("resumed got ids %v, want %v", got, want)
	}
}

func TestHub_EventCommittedWithoutANotificationArrivesByPolling(t *testing.T) {
	t.Parallel()
	f := newStreamDB(t)
	acme := f.tenant("Acme")
	ann := f.user(acme, "ann")
	h := f.hub(func(h *Hub) { h.PollInterval = 100 * time.Millisecond })
	s := subscribe(t, h, Audience{TenantID: acme, UserID: ann}, 0)

	id := f.id(`INSERT INTO events (tenant_id, user_id, type, data, created_at) VALUES ($1, $2, 'agent.status', '{}', now()) RETURNING id`, acme, ann)
	if ev := next(t, s); fmt.Sprint(ev.ID) != id {
		t.Fatalf("got id %d, want %s", ev.ID, id)
	}
}

func TestHub_ListenerReconnectReadsWhatWasCommittedMeanwhile(t *testing.T) {
	t.Parallel()
	f := newStreamDB(t)
	acme := f.tenant("Acme")
	ann := f.user(acme, "ann")
	// No periodic read: only the reconnect can bring the event.
	h := f.hub(func(h *Hub) { h.PollInterval = time.Hour })
	s := subscribe(t, h, Audience{TenantID: acme, UserID: ann}, 0)

	// An event whose notification was lost (written while the listener was away).
	id := f.id(`INSERT INTO events (tenant_id, user_id, type, data, created_at) VALUES ($1, $2, 'agent.status', '{}', now()) RETURNING id`, acme, ann)
	quiet(t, s, 300*time.Millisecond)
	var killed bool
	if err := f.db.Get(&killed, `SELECT bool_or(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN %'`); err != nil || !killed {
		t.Fatalf("terminate the listener: got %v, %v", killed, err)
	}
	if ev := next(t, s); fmt.Sprint(ev.ID) != id {
		t.Fatalf("got id %d, want %s", ev.ID, id)
	}
	// And it listens again.
	again := f.publish(toUser(acme, ann, 1))
	if ev := next(t, s); ev.ID != again[0] {
		t.Fatalf("got id %d, want %d", ev.ID, again[0])
	}
}

func TestHub_OneReadPerWakeServesHundredsOfSubscribers(t *testing.T) {
	t.Parallel()
	f := newStreamDB(t)
	acme := f.tenant("Acme")
	const n = 200
	var users []string
	if err := f.db.Select(&users, sqlInsertAgents, acme, n, "agent"); err != nil {
		t.Fatalf("users: %v", err)
	}
	shared := f.queue(acme, "everyone")
	f.exec(`INSERT INTO queue_members (tenant_id, queue_id, user_id) SELECT $1, $2, unnest($3::uuid[])`, acme, shared, pq.Array(users))
	h := f.hub(func(h *Hub) { h.PollInterval = time.Hour })
	subs := make([]*Subscription, n)
	for i, u := range users {
		subs[i] = subscribe(t, h, Audience{TenantID: acme, UserID: u, QueueIDs: []string{shared}}, 0)
	}

	before := h.polls.Load()
	events := []Event{toQueue(acme, shared, 0)}
	for i, u := range users {
		events = append(events, toUser(acme, u, i+1))
	}
	ids := f.publish(events...)
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i, s := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			want := []int64{ids[0], ids[i+1]}
			for _, w := range want {
				select {
				case ev := <-s.Events():
					if ev.ID != w {
						errs <- fmt.Sprintf("subscriber %d got id %d, want %d", i, ev.ID, w)
						return
					}
				case <-time.After(wait):
					errs <- fmt.Sprintf("subscriber %d: no event %d within %s", i, w, wait)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if reads := h.polls.Load() - before; reads > 2 {
		t.Fatalf("got %d event reads for one commit and %d subscribers, want at most 2", reads, n)
	}
}

func TestHub_ResumeReadsWhatWasMissedThenLiveWithoutGapsOrDuplicates(t *testing.T) {
	t.Parallel()
	f := newStreamDB(t)
	acme := f.tenant("Acme")
	ann, bob := f.user(acme, "ann"), f.user(acme, "bob")
	q := f.queue(acme, "sales")
	f.queueUser(acme, q, ann)
	// Small pages, so the resume takes several reads while live events keep coming.
	h := f.hub(func(h *Hub) { h.BatchSize = 4 })

	mixed := func(from int) []Event {
		var evs []Event
		for i := from; i < from+30; i++ {
			switch i % 3 {
			case 0:
				evs = append(evs, toUser(acme, ann, i))
			case 1:
				evs = append(evs, toQueue(acme, q, i))
			default:
				evs = append(evs, toUser(acme, bob, i))
			}
		}
		return evs
	}
	missed := f.publish(mixed(0)...)
	after := missed[9]

	var live []int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 10 {
			live = append(live, f.publish(mixed(300 + 30*i)[:3]...)...)
		}
	}()
	s := subscribe(t, h, Audience{TenantID: acme, UserID: ann, QueueIDs: []string{q}}, after)
	<-done

	// Ann's events are every third id but bob's: positions 0 and 1 of each triple.
	var want []int64
	for i, id := range missed {
		if id > after && i%3 != 2 {
			want = append(want, id)
		}
	}
	for i, id := range live {
		if i%3 != 2 {
			want = append(want, id)
		}
	}
	if got := nextIDs(t, s, len(want)); !slices.Equal(got, want) {
		t.Fatalf("got ids %v, want %v", got, want)
	}
	marker := f.publish(toUser(acme, ann, 999))
	if ev := next(t, s); ev.ID != marker[0] {
		t.Fatalf("got id %d after everything, want the marker %d (a duplicate?)", ev.ID, marker[0])
	}
}

func TestHub_SlowSubscriberIsDroppedAndOthersGoOn(t *testing.T) {
	t.Parallel()
	f := newStreamDB(t)
	acme := f.tenant("Acme")
	ann, bob := f.user(acme, "ann"), f.user(acme, "bob")
	h := f.hub(func(h *Hub) { h.BufferSize = 5 })
	slow := subscribe(t, h, Audience{TenantID: acme, UserID: ann}, 0)
	fine := subscribe(t, h, Audience{TenantID: acme, UserID: bob}, 0)

	var evs []Event
	for i := range 20 {
		evs = append(evs, toUser(acme, ann, i))
	}
	f.publish(evs...)
	deadline := time.After(wait)
	for open := true; open; {
		select {
		case _, open = <-slow.Events():
		case <-deadline:
			t.Fatalf("slow subscriber still open after %s", wait)
		}
	}
	if !errors.Is(slow.Err(), ErrSlowSubscriber) {
		t.Fatalf("got reason %v, want %v", slow.Err(), ErrSlowSubscriber)
	}
	ids := f.publish(toUser(acme, bob, 1))
	if ev := next(t, fine); ev.ID != ids[0] {
		t.Fatalf("got id %d, want %d", ev.ID, ids[0])
	}
	waitFor(t, "the dropped subscriber's presence row is removed", func() bool {
		ok, err := HasConnectedClient(context.Background(), f.db, acme, ann, time.Now())
		return err == nil && !ok
	})
}

func TestHub_QueueMembershipChangesApplyToOpenStreams(t *testing.T) {
	t.Parallel()
	f := newStreamDB(t)
	acme := f.tenant("Acme")
	ann := f.user(acme, "ann")
	q := f.queue(acme, "sales")
	h := f.hub(func(h *Hub) { h.RefreshInterval = 50 * time.Millisecond })
	s := subscribe(t, h, Audience{TenantID: acme, UserID: ann}, 0)

	team := f.team(acme, "sales", ann)
	f.queueTeam(acme, q, team)
	waitFor(t, "the hub sees ann's new queue", func() bool { return subscribedTo(h, s, q) })
	ids := f.publish(toQueue(acme, q, 1))
	if ev := next(t, s); ev.ID != ids[0] {
		t.Fatalf("got id %d, want %d", ev.ID, ids[0])
	}

	f.exec(`DELETE FROM team_members WHERE team_id = $1`, team)
	waitFor(t, "the hub drops ann's old queue", func() bool { return !subscribedTo(h, s, q) })
	f.publish(toQueue(acme, q, 2))
	marker := f.publish(toUser(acme, ann, 3))
	if ev := next(t, s); ev.ID != marker[0] {
		t.Fatalf("got id %d, want the marker %d: the queue is no longer ann's", ev.ID, marker[0])
	}
}

func subscribedTo(h *Hub, s *Subscription, queueID string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := s.queues[queueID]
	return ok
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, wait)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestHub_StopEndsSubscriptionsAndRemovesPresence(t *testing.T) {
	t.Parallel()
	f := newStreamDB(t)
	acme := f.tenant("Acme")
	ann := f.user(acme, "ann")
	h := NewHub(f.db, f.dsn, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	s := subscribe(t, h, Audience{TenantID: acme, UserID: ann}, 0)
	if ok, err := HasConnectedClient(context.Background(), f.db, acme, ann, time.Now()); err != nil || !ok {
		t.Fatalf("connected: got %v, %v, want true", ok, err)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if _, open := <-s.Events(); open {
		t.Fatalf("subscription still open after stop")
	}
	if !errors.Is(s.Err(), ErrStreamStopped) {
		t.Fatalf("got reason %v, want %v", s.Err(), ErrStreamStopped)
	}
	if ok, err := HasConnectedClient(context.Background(), f.db, acme, ann, time.Now()); err != nil || ok {
		t.Fatalf("connected after stop: got %v, %v, want false", ok, err)
	}
	if _, err := h.Subscribe(context.Background(), Audience{TenantID: acme, UserID: ann}, 0); !errors.Is(err, ErrStreamUnavailable) {
		t.Fatalf("subscribe after stop: got %v, want %v", err, ErrStreamUnavailable)
	}
}

func TestHub_SubscribeRefusesUnknownUsers(t *testing.T) {
	t.Parallel()
	f := newStreamDB(t)
	acme, other := f.tenant("Acme"), f.tenant("Other")
	stranger := f.user(other, "stranger")
	h := f.hub(nil)
	for _, tc := range []struct {
		name string
		aud  Audience
	}{
		{"not a uuid", Audience{TenantID: acme, UserID: "ann"}},
		{"another tenant's user", Audience{TenantID: acme, UserID: stranger}},
		{"no such user", Audience{TenantID: acme, UserID: "00000000-0000-0000-0000-000000000000"}},
		{"a queue that is not a uuid", Audience{TenantID: other, UserID: stranger, QueueIDs: []string{"q"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := h.Subscribe(context.Background(), tc.aud, 0); !apperr.IsNotFound(err) {
				t.Fatalf("got %v, want not found", err)
			}
		})
	}
}

func TestHasConnectedClient_FreshRowsOnlyOfThatUser(t *testing.T) {
	t.Parallel()
	f := newStreamDB(t)
	acme, other := f.tenant("Acme"), f.tenant("Other")
	ann, bob, stale := f.user(acme, "ann"), f.user(acme, "bob"), f.user(acme, "stale")
	stranger := f.user(other, "stranger")
	now := time.Now()
	f.exec(`INSERT INTO client_connections (tenant_id, user_id, process_id, connected_at, last_seen_at) VALUES ($1, $2, 'p', $3, $3)`, acme, ann, now.Add(-10*time.Second))
	f.exec(`INSERT INTO client_connections (tenant_id, user_id, process_id, connected_at, last_seen_at) VALUES ($1, $2, 'p', $3, $3)`, acme, stale, now.Add(-PresenceTimeout-time.Second))
	f.exec(`INSERT INTO client_connections (tenant_id, user_id, process_id, connected_at, last_seen_at) VALUES ($1, $2, 'p', $3, $3)`, other, stranger, now)
	for _, tc := range []struct {
		name             string
		tenantID, userID string
		want             bool
	}{
		{"refreshed within the timeout", acme, ann, true},
		{"not refreshed for longer than the timeout", acme, stale, false},
		{"no row", acme, bob, false},
		{"the user of another tenant", acme, stranger, false},
		{"not a uuid", acme, "ann", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := HasConnectedClient(context.Background(), f.db, tc.tenantID, tc.userID, now)
			if err != nil || got != tc.want {
				t.Fatalf("got %v, %v, want %v", got, err, tc.want)
			}
		})
	}
}

func TestHub_HeartbeatRefreshesPresenceRecreatesSweptRowsAndSweepsDeadOnes(t *testing.T) {
	t.Parallel()
	f := newStreamDB(t)
	acme := f.tenant("Acme")
	ann, ghost := f.user(acme, "ann"), f.user(acme, "ghost")
	var mu sync.Mutex
	clock := time.Now()
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); clock = clock.Add(d) }
	h := f.hub(func(h *Hub) { h.NowFunc = now; h.HeartbeatInterval = 50 * time.Millisecond })
	subscribe(t, h, Audience{TenantID: acme, UserID: ann}, 0)
	// A row left by a process that died.
	f.exec(`INSERT INTO client_connections (tenant_id, user_id, process_id, connected_at, last_seen_at) VALUES ($1, $2, 'dead', $3, $3)`, acme, ghost, now())

	advance(PresenceTimeout + time.Minute)
	waitFor(t, "ann's row is refreshed past the timeout", func() bool {
		ok, err := HasConnectedClient(context.Background(), f.db, acme, ann, now())
		return err == nil && ok
	})
	waitFor(t, "the dead process's row is swept", func() bool {
		var n int
		return f.db.Get(&n, `SELECT count(*) FROM client_connections WHERE process_id = 'dead'`) == nil && n == 0
	})
	f.exec(`DELETE FROM client_connections WHERE user_id = $1`, ann)
	waitFor(t, "ann's row swept by another process comes back", func() bool {
		ok, err := HasConnectedClient(context.Background(), f.db, acme, ann, now())
		return err == nil && ok
	})
}

func TestMarkOfferDelivered_OnlyThePendingUnmarkedOfferOfThatUser(t *testing.T) {
	t.Parallel()
	f := newStreamDB(t)
	acme, other := f.tenant("Acme"), f.tenant("Other")
	ann, bob := f.user(acme, "ann"), f.user(acme, "bob")
	f.user(other, "stranger")
	earlier := time.Now().Add(-time.Minute).UTC().Truncate(time.Microsecond)
	now := time.Now().UTC().Truncate(time.Microsecond)

	pending := f.offer(acme, ann)
	marked := f.offer(acme, ann)
	f.exec(`UPDATE offers SET delivered_at = $2 WHERE id = $1`, marked, earlier)
	accepted := f.offer(acme, ann)
	f.exec(`UPDATE offers SET status = 'accepted', resolved_at = now() WHERE id = $1`, accepted)
	bobs := f.offer(acme, bob)

	for _, tc := range []struct {
		name                    string
		tenantID, userID, offer string
		want                    bool
		wantAt                  *time.Time
	}{
		{"a pending offer of the user is marked", acme, ann, pending, true, &now},
		{"an offer already marked keeps its first time", acme, ann, marked, false, &earlier},
		{"a resolved offer is not marked", acme, ann, accepted, false, nil},
		{"another user's offer is not marked", acme, ann, bobs, false, nil},
		{"another tenant cannot mark it", other, ann, bobs, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := MarkOfferDelivered(context.Background(), f.db, tc.tenantID, tc.userID, tc.offer, now)
			if err != nil || got != tc.want {
				t.Fatalf("got %v, %v, want %v", got, err, tc.want)
			}
			var at *time.Time
			if err := f.db.Get(&at, `SELECT delivered_at FROM offers WHERE id = $1`, tc.offer); err != nil {
				t.Fatalf("read: %v", err)
			}
			if (at == nil) != (tc.wantAt == nil) || (at != nil && !at.Equal(*tc.wantAt)) {
				t.Fatalf("got delivered_at %v, want %v", at, tc.wantAt)
			}
		})
	}
	if _, err := MarkOfferDelivered(context.Background(), f.db, acme, ann, "nope", now); err == nil {
		t.Fatalf("got no error for an offer id that is not a uuid")
	}
}

func TestSubscription_DeliveredMarksTheOffersOfSessionOfferedEvents(t *testing.T) {
	t.Parallel()
	f := newStreamDB(t)
	acme := f.tenant("Acme")
	ann := f.user(acme, "ann")
	first, second := f.offer(acme, ann), f.offer(acme, ann)
	h := f.hub(nil)
	s := subscribe(t, h, Audience{TenantID: acme, UserID: ann}, 0)

	f.publish(
		Event{TenantID: acme, UserID: ann, Type: EventSessionOffered, Data: map[string]any{"offer_id": first, "session_id": "x"}},
		Event{TenantID: acme, UserID: ann, Type: EventMessageReceived, Data: map[string]any{"offer_id": "not an offer"}},
		Event{TenantID: acme, UserID: ann, Type: EventSessionOffered, Data: map[string]any{"offer_id": second, "session_id": "y"}},
	)
	evs := []StreamEvent{next(t, s), next(t, s), next(t, s)}
	if err := s.Delivered(context.Background(), evs...); err != nil {
		t.Fatalf("delivered: %v", err)
	}
	var delivered int
	if err := f.db.Get(&delivered, `SELECT count(*) FROM offers WHERE id IN ($1, $2) AND delivered_at IS NOT NULL`, first, second); err != nil || delivered != 2 {
		t.Fatalf("got %d offers delivered, %v, want both", delivered, err)
	}
}
