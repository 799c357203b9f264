package gateway_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"directsms/directory"
	"directsms/gateway"
	"directsms/routing"
	"directsms/sql/pg"
)

// streamWait is how long a test waits for something that should happen on a stream: generous,
// because the machine is shared and the race detector is slow. No test asserts a tight time.
const streamWait = 10 * time.Second

// startHub runs an event hub on db until the test ends.
func startHub(t *testing.T, db *sqlx.DB, dsn string, tune func(*routing.Hub)) *routing.Hub {
	t.Helper()
	hub := routing.NewHub(db, dsn, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if tune != nil {
		tune(hub)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- hub.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("hub: %v", err)
			}
		case <-time.After(streamWait):
			t.Errorf("hub did not stop within %s", streamWait)
		}
	})
	return hub
}

// serve starts another API server on the env's database, with its own connection pool and its
// own hub, as another process would, and returns its URL.
func (e *env) serve(cfg gateway.Config, tune func(*routing.Hub)) string {
	e.t.Helper()
	db, err := pg.Open(context.Background(), e.dsn)
	if err != nil {
		e.t.Fatalf("open: %v", err)
	}
	e.t.Cleanup(func() { db.Close() })
	hub := startHub(e.t, db, e.dsn, tune)
	api := gateway.New(cfg, gateway.Deps{
		DB: db, Directory: directory.NewStore(db, nil), Hub: hub, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	srv := httptest.NewServer(api)
	e.t.Cleanup(srv.Close)
	return srv.URL
}

// agent creates an agent in tenantID, in the tenant's first team, and returns its id and API
// key.
func (e *env) agent(tenantID, name string) (id, key string) {
	e.t.Helper()
	ctx := context.Background()
	var admin directory.Principal
	var team string
	if err := e.db.QueryRow(`SELECT id, primary_team_id FROM users WHERE tenant_id = $1 AND role = 'admin' ORDER BY created_at LIMIT 1`, tenantID).Scan(&admin.UserID, &team); err != nil {
		e.t.Fatalf("find the admin of %s: %v", tenantID, err)
	}
	admin.TenantID, admin.Role = tenantID, directory.RoleAdmin
	u, err := e.dir.CreateUser(ctx, admin, directory.NewUser{Name: name, Email: name + "@example.com", TeamIDs: []string{team}})
	if err != nil {
		e.t.Fatalf("create agent %s: %v", name, err)
	}
	k, err := e.dir.CreateAPIKey(ctx, tenantID, u.ID, "events test")
	if err != nil {
		e.t.Fatalf("key for %s: %v", name, err)
	}
	return u.ID, k.Key
}

func (e *env) insertID(query string, args ...any) string {
	e.t.Helper()
	var id string
	if err := e.db.Get(&id, query, args...); err != nil {
		e.t.Fatalf("%s: %v", query, err)
	}
	return id
}

// publish commits events in one transaction on db and returns their ids.
func publish(t *testing.T, db *sqlx.DB, events ...routing.Event) []string {
	t.Helper()
	err := pg.InTx(context.Background(), db, func(tx *sqlx.Tx) error {
		return routing.Publish(context.Background(), tx, time.Now(), events...)
	})
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	var ids []string
	if err := db.Select(&ids, `SELECT e.id::text FROM (SELECT id FROM events ORDER BY id DESC LIMIT $1) e ORDER BY e.id`, len(events)); err != nil {
		t.Fatalf("read ids: %v", err)
	}
	return ids
}

func userEvent(tenantID, userID string, n int) routing.Event {
	return routing.Event{TenantID: tenantID, UserID: userID, Type: routing.EventMessageReceived, Data: map[string]any{"n": n}}
}

// sseEvent is one parsed Server-Sent Event, or a comment.
type sseEvent struct {
	ID, Type, Data, Comment string
}

// stream is a client reading GET /v1/events over real HTTP.
type stream struct {
	t      *testing.T
	header http.Header
	events chan sseEvent
	cancel context.CancelFunc
	done   chan struct{}
}

// openStream connects to base's event stream with key; header adds request headers and query
// is appended to the path.
func openStream(t *testing.T, base, key, query string, header map[string]string) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/events"+query, nil)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := (&http.Client{}).Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET /v1/events: %v", err)
	}
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		cancel()
		t.Fatalf("GET /v1/events: got %d %s, want 200", res.StatusCode, b)
	}
	s := &stream{t: t, header: res.Header, events: make(chan sseEvent, 1000), cancel: cancel, done: make(chan struct{})}
	go s.read(res.Body)
	t.Cleanup(s.close)
	return s
}

func (s *stream) read(body io.ReadCloser) {
	defer close(s.done)
	defer close(s.events)
	defer body.Close()
	sc := bufio.NewScanner(body)
	var ev sseEvent
	var data []string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.ID != "" || ev.Type != "" || data != nil {
				ev.Data = strings.Join(data, "\n")
				s.events <- ev
			}
			ev, data = sseEvent{}, nil
		case strings.HasPrefix(line, ":"):
			s.events <- sseEvent{Comment: strings.TrimSpace(line[1:])}
		case strings.HasPrefix(line, "id: "):
			ev.ID = line[len("id: "):]
		case strings.HasPrefix(line, "event: "):
			ev.Type = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			data = append(data, line[len("data: "):])
		}
	}
}

// close disconnects the client and waits until its reader is done.
func (s *stream) close() {
	s.cancel()
	<-s.done
}

// next is the next event, skipping comments; the test fails if none comes.
func (s *stream) next() sseEvent {
	s.t.Helper()
	deadline := time.After(streamWait)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				s.t.Fatalf("stream ended, want an event")
			}
			if ev.Comment != "" {
				continue
			}
			return ev
		case <-deadline:
			s.t.Fatalf("no event within %s", streamWait)
		}
	}
}

// nextIDs reads n events and returns their ids.
func (s *stream) nextIDs(n int) []string {
	s.t.Helper()
	ids := make([]string, 0, n)
	for range n {
		ids = append(ids, s.next().ID)
	}
	return ids
}

func TestEvents_AgentReceivesAnEventPublishedElsewhereAsItIsCommitted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ann, key := e.agent(e.tenantID, "ann")
	// No periodic reads: only the notification can bring the event, so this shows it is
	// pushed on commit, not found by polling.
	base := e.serve(gateway.Config{}, func(h *routing.Hub) { h.PollInterval = time.Hour })
	s := openStream(t, base, key, "", nil)
	for name, want := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"} {
		if got := s.header.Get(name); got != want {
			t.Errorf("got %s %q, want %q", name, got, want)
		}
	}

	ids := publish(t, e.db, routing.Event{TenantID: e.tenantID, UserID: ann, Type: routing.EventMessageReceived, Data: map[string]any{"session_id": "s1", "body": "line one\nline two"}})
	got := s.next()
	want := sseEvent{ID: ids[0], Type: "message.received", Data: `{"body":"line one\nline two","session_id":"s1"}`}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestEvents_ResumingWithTheLastEventIDGetsExactlyWhatWasMissed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ann, key := e.agent(e.tenantID, "ann")
	for _, tc := range []struct {
		name   string
		resume func(last string) (query string, header map[string]string)
	}{
		{"Last-Event-ID header", func(last string) (string, map[string]string) {
			return "", map[string]string{"Last-Event-ID": last}
		}},
		{"last_event_id parameter", func(last string) (string, map[string]string) { return "?last_event_id=" + last, nil }},
		{"the header wins over the parameter", func(last string) (string, map[string]string) {
			return "?last_event_id=1", map[string]string{"Last-Event-ID": last}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first := openStream(t, e.srv.URL, key, "", nil)
			seen := publish(t, e.db, userEvent(e.tenantID, ann, 1), userEvent(e.tenantID, ann, 2))
			if got := first.nextIDs(2); !equal(got, seen) {
				t.Fatalf("got %v, want %v", got, seen)
			}
			first.close()
			missed := publish(t, e.db, userEvent(e.tenantID, ann, 3), userEvent(e.tenantID, ann, 4))

			query, header := tc.resume(seen[1])
			again := openStream(t, e.srv.URL, key, query, header)
			live := publish(t, e.db, userEvent(e.tenantID, ann, 5))
			want := append(missed, live...)
			if got := again.nextIDs(3); !equal(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
			marker := publish(t, e.db, userEvent(e.tenantID, ann, 6))
			if got := again.next().ID; got != marker[0] {
				t.Fatalf("got %s, want the marker %s (a duplicate?)", got, marker[0])
			}
		})
	}
}

func equal(a, b []string) bool {
	return strings.Join(a, ",") == strings.Join(b, ",")
}

func TestEvents_AnotherUsersAndAnotherTenantsEventsNeverArrive(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ann, key := e.agent(e.tenantID, "ann")
	bob, _ := e.agent(e.tenantID, "bob")
	otherTenant, otherAdmin, _ := e.newTenant("Other")
	otherQueue := e.insertID(`INSERT INTO queues (tenant_id, name, kind) VALUES ($1, 'theirs', 'sms') RETURNING id`, otherTenant)
	mustExec(t, e.db, `INSERT INTO queue_members (tenant_id, queue_id, user_id) VALUES ($1, $2, $3)`, otherTenant, otherQueue, otherAdmin)
	s := openStream(t, e.srv.URL, key, "", nil)

	publish(t, e.db,
		userEvent(e.tenantID, bob, 1),
		userEvent(otherTenant, otherAdmin, 2),
		routing.Event{TenantID: otherTenant, QueueID: otherQueue, Type: routing.EventSessionAssigned, Data: map[string]any{}},
		userEvent(e.tenantID, e.adminID, 3),
	)
	// Events arrive in id order: the marker, published last, coming first proves none of the
	// others was on its way.
	marker := publish(t, e.db, userEvent(e.tenantID, ann, 4))
	if got := s.next().ID; got != marker[0] {
		t.Fatalf("got event %s, want only the marker %s", got, marker[0])
	}
}

func TestEvents_QueueEventsReachDirectAndTeamMembersOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	direct, directKey := e.agent(e.tenantID, "direct")
	viaTeam, teamKey := e.agent(e.tenantID, "via-team")
	outsider, outsiderKey := e.agent(e.tenantID, "outsider")
	queue := e.insertID(`INSERT INTO queues (tenant_id, name, kind) VALUES ($1, 'sales', 'sms') RETURNING id`, e.tenantID)
	team := e.insertID(`INSERT INTO teams (tenant_id, name) VALUES ($1, 'sales') RETURNING id`, e.tenantID)
	mustExec(t, e.db, `INSERT INTO team_members (tenant_id, team_id, user_id) VALUES ($1, $2, $3)`, e.tenantID, team, viaTeam)
	mustExec(t, e.db, `INSERT INTO queue_members (tenant_id, queue_id, user_id) VALUES ($1, $2, $3)`, e.tenantID, queue, direct)
	mustExec(t, e.db, `INSERT INTO queue_members (tenant_id, queue_id, team_id) VALUES ($1, $2, $3)`, e.tenantID, queue, team)

	streams := map[string]*stream{
		direct:   openStream(t, e.srv.URL, directKey, "", nil),
		viaTeam:  openStream(t, e.srv.URL, teamKey, "", nil),
		outsider: openStream(t, e.srv.URL, outsiderKey, "", nil),
	}
	queued := publish(t, e.db, routing.Event{TenantID: e.tenantID, QueueID: queue, Type: routing.EventSessionOffered, Data: map[string]any{"session_id": "s"}})
	markers := publish(t, e.db, userEvent(e.tenantID, direct, 1), userEvent(e.tenantID, viaTeam, 2), userEvent(e.tenantID, outsider, 3))
	for _, tc := range []struct {
		name string
		user string
		want []string
	}{
		{"a direct member gets it", direct, []string{queued[0], markers[0]}},
		{"a member through a team gets it", viaTeam, []string{queued[0], markers[1]}},
		{"a non-member does not", outsider, []string{markers[2]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := streams[tc.user].nextIDs(len(tc.want)); !equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestEvents_EventPublishedThroughOneProcessReachesAClientOfAnother(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ann, key := e.agent(e.tenantID, "ann")
	quietHub := func(h *routing.Hub) { h.PollInterval = time.Hour }
	processA := e.serve(gateway.Config{}, quietHub)
	processB := e.serve(gateway.Config{}, quietHub)
	onA := openStream(t, processA, key, "", nil)
	onB := openStream(t, processB, key, "", nil)

	// Written through a connection of its own, as process A's routing would.
	writer, err := pg.Open(context.Background(), e.dsn)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer writer.Close()
	ids := publish(t, writer, userEvent(e.tenantID, ann, 1))
	for name, s := range map[string]*stream{"process A": onA, "process B": onB} {
		if got := s.next().ID; got != ids[0] {
			t.Errorf("%s: got %s, want %s", name, got, ids[0])
		}
	}
}

func TestEvents_OutOfOrderCommitsAreNotLost(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ann, key := e.agent(e.tenantID, "ann")
	s := openStream(t, e.srv.URL, key, "", nil)

	ctx := context.Background()
	txA, err := e.db.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	defer txA.Rollback() //nolint:errcheck // committed below
	if err := routing.Publish(ctx, txA, time.Now(), userEvent(e.tenantID, ann, 1)); err != nil {
		t.Fatalf("publish A: %v", err)
	}
	b := publish(t, e.db, userEvent(e.tenantID, ann, 2)) // a later id, committed first
	if err := txA.Commit(); err != nil {
		t.Fatalf("commit A: %v", err)
	}
	var a string
	if err := e.db.Get(&a, `SELECT id::text FROM events WHERE data->>'n' = '1'`); err != nil {
		t.Fatalf("read A: %v", err)
	}
	if got, want := s.nextIDs(2), []string{a, b[0]}; !equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// Offers published together reach the stream together, written with one flush; each is
// recorded as delivered once that flush has sent it.
func TestEvents_StreamedOffersAreRecordedAsDelivered(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ann, key := e.agent(e.tenantID, "ann")
	now := time.Now()
	const burst = 100
	offers := make([]string, burst)
	events := make([]routing.Event, burst)
	for i := range offers {
		contact := e.insertID(`INSERT INTO contacts (tenant_id, address, kind, created_at) VALUES ($1, $2, 'number', $3) RETURNING id`,
			e.tenantID, fmt.Sprintf("+1415556%04d", i), now)
		session := e.insertID(`INSERT INTO sessions (tenant_id, contact_id, number, type, last_message_at, created_at)
			VALUES ($1, $2, '+14155550100', 'Messaging Inbound (SMS Direct)', $3, $3) RETURNING id`, e.tenantID, contact, now)
		offers[i] = e.insertID(`INSERT INTO offers (tenant_id, session_id, user_id, direct, created_at, expires_at)
			VALUES ($1, $2, $3, true, $4, $5) RETURNING id`, e.tenantID, session, ann, now, now.Add(time.Minute))
		events[i] = routing.Event{TenantID: e.tenantID, UserID: ann, Type: routing.EventSessionOffered,
			Data: map[string]any{"offer_id": offers[i], "session_id": session}}
	}
	s := openStream(t, e.srv.URL, key, "", nil)

	publish(t, e.db, events...)
	for i, offer := range offers {
		if got := s.next(); got.Type != "session.offered" || !strings.Contains(got.Data, offer) {
			t.Fatalf("event %d: got %+v, want offer %s", i, got, offer)
		}
	}
	deadline := time.Now().Add(streamWait)
	for {
		var delivered int
		if err := e.db.Get(&delivered, `SELECT count(*) FROM offers WHERE id = ANY($1) AND delivered_at IS NOT NULL`, pq.Array(offers)); err != nil {
			t.Fatalf("read offers: %v", err)
		}
		if delivered == burst {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d offers marked delivered %s after they were streamed", delivered, burst, streamWait)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestEvents_PresenceLastsAsLongAsTheConnection(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ann, key := e.agent(e.tenantID, "ann")
	connected := func() bool {
		ok, err := routing.HasConnectedClient(context.Background(), e.db, e.tenantID, ann, time.Now())
		if err != nil {
			t.Fatalf("presence: %v", err)
		}
		return ok
	}
	if connected() {
		t.Fatalf("connected before connecting")
	}
	s := openStream(t, e.srv.URL, key, "", nil)
	if !connected() {
		t.Fatalf("got not connected while the stream is open, want connected")
	}
	s.close()
	deadline := time.Now().Add(streamWait)
	for connected() {
		if time.Now().After(deadline) {
			t.Fatalf("still connected %s after the client left", streamWait)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestEvents_IdleStreamSendsHeartbeats(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key := e.agent(e.tenantID, "ann")
	base := e.serve(gateway.Config{EventHeartbeat: 50 * time.Millisecond}, nil)
	s := openStream(t, base, key, "", nil)
	select {
	case ev := <-s.events:
		if ev.Comment != "heartbeat" {
			t.Fatalf("got %+v, want a heartbeat comment", ev)
		}
	case <-time.After(streamWait):
		t.Fatalf("no heartbeat within %s", streamWait)
	}
}

func TestEvents_ServerReadAndWriteTimeoutsDoNotEndTheStream(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ann, key := e.agent(e.tenantID, "ann")
	api := gateway.New(gateway.Config{}, gateway.Deps{
		DB: e.db, Directory: e.dir, Hub: e.hub, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	srv := httptest.NewUnstartedServer(api)
	srv.Config.ReadTimeout = 200 * time.Millisecond
	srv.Config.WriteTimeout = 200 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	s := openStream(t, srv.URL, key, "", nil)

	time.Sleep(600 * time.Millisecond)
	ids := publish(t, e.db, userEvent(e.tenantID, ann, 1))
	if got := s.next().ID; got != ids[0] {
		t.Fatalf("got %s, want %s", got, ids[0])
	}
}

func TestEvents_RefusesBadResumePointsAndMissingKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key := e.agent(e.tenantID, "ann")
	for _, tc := range []struct {
		name   string
		path   string
		header map[string]string
		key    string
		status int
		code   string
		field  string
	}{
		{"a Last-Event-ID that is not a number", "/v1/events", map[string]string{"Last-Event-ID": "abc"}, key, http.StatusBadRequest, "invalid_request", "Last-Event-ID"},
		{"a negative Last-Event-ID", "/v1/events", map[string]string{"Last-Event-ID": "-1"}, key, http.StatusBadRequest, "invalid_request", "Last-Event-ID"},
		{"a last_event_id that is not a number", "/v1/events?last_event_id=1.5", nil, key, http.StatusBadRequest, "invalid_request", "last_event_id"},
		{"no key", "/v1/events", nil, "", http.StatusUnauthorized, "unauthenticated", ""},
		{"a wrong method", "/v1/events", nil, key, http.StatusMethodNotAllowed, "method_not_allowed", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := http.MethodGet
			if tc.status == http.StatusMethodNotAllowed {
				method = http.MethodPost
			}
			req, err := http.NewRequest(method, e.srv.URL+tc.path, nil)
			if err != nil {
				t.Fatalf("request: %v", err)
			}
			if tc.key != "" {
				req.Header.Set("Authorization", "Bearer "+tc.key)
			}
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			res, err := e.srv.Client().Do(req)
			if err != nil {
				t.Fatalf("do: %v", err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			r := response{Status: res.StatusCode, Header: res.Header, Body: b}
			expect(t, r, tc.status, tc.code)
			if tc.field != "" {
				if got := fmt.Sprint(r.JSON(t)["error"].(map[string]any)["field"]); got != tc.field {
					t.Fatalf("got field %q, want %q", got, tc.field)
				}
			}
		})
	}
}

func TestEvents_WithoutAHubAnswers503(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv := httptest.NewServer(gateway.New(gateway.Config{}, gateway.Deps{
		DB: e.db, Directory: e.dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}))
	t.Cleanup(srv.Close)
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/v1/events", nil)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+e.adminKey)
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("do: %v", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	expect(t, response{Status: res.StatusCode, Body: b}, http.StatusServiceUnavailable, "stream_unavailable")
}
