package reporting_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"directsms/internal/apperr"
	"directsms/reporting"
	"directsms/sql/pg"
	"directsms/sql/pgtest"
)

// receiver is a local webhook endpoint that answers from a script and keeps what it got.
type receiver struct {
	srv    *httptest.Server
	secret string

	mu       sync.Mutex
	answers  []int // status per request, in order; 200 once they run out
	delays   map[int]time.Duration
	got      []reporting.Envelope
	verified []bool
	headers  []http.Header
}

func newReceiver(t *testing.T, secret string, answers ...int) *receiver {
	t.Helper()
	rc := &receiver{secret: secret, answers: answers, delays: map[int]time.Duration{}}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var env reporting.Envelope
		if err := json.Unmarshal(body, &env); err != nil {
			t.Errorf("receiver: got body %q, want an envelope: %v", body, err)
		}
		rc.mu.Lock()
		n := len(rc.got)
		rc.got = append(rc.got, env)
		rc.verified = append(rc.verified, reporting.VerifySignature(rc.secret, body, r.Header.Get(reporting.SignatureHeader)))
		rc.headers = append(rc.headers, r.Header.Clone())
		status := http.StatusOK
		if n < len(rc.answers) {
			status = rc.answers[n]
		}
		delay := rc.delays[n]
		rc.mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
			}
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) envelopes() []reporting.Envelope {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]reporting.Envelope(nil), rc.got...)
}

// eventsEnv is a database with a tenant and a store, for event tests.
type eventsEnv struct {
	db    *sqlx.DB
	store *reporting.Store
	h     *tenantHistory
}

func newEventsEnv(t *testing.T) *eventsEnv {
	t.Helper()
	db := pgtest.NewDB(t)
	return &eventsEnv{db: db, store: reporting.NewStore(db, nil), h: newTenant(t, db, "Hooks", "UTC")}
}

func (e *eventsEnv) subscribe(t *testing.T, tenantID, url, secret string, events ...string) reporting.Subscription {
	t.Helper()
	sub, err := e.store.CreateSubscription(context.Background(), tenantID, "", reporting.NewSubscription{URL: url, Secret: secret, Events: events}, true)
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	return sub
}

// enqueue commits one event as a producer would.
func (e *eventsEnv) enqueue(t *testing.T, tenantID string, now time.Time, typ reporting.EventType, data any) {
	t.Helper()
	err := pg.InTx(context.Background(), e.db, func(tx *sqlx.Tx) error {
		return reporting.Enqueue(context.Background(), tx, now, tenantID, typ, data)
	})
	if err != nil {
		t.Fatalf("enqueue: %v", err)
	}
}

func (e *eventsEnv) dispatcher(cfg reporting.DispatcherConfig) *reporting.Dispatcher {
	cfg.AllowPrivateURLs = true
	if cfg.Backoff == nil {
		cfg.Backoff = func(int) time.Duration { return time.Minute }
	}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	return reporting.NewDispatcher(e.db, cfg)
}

func (e *eventsEnv) runOnce(t *testing.T, d *reporting.Dispatcher, now time.Time) int {
	t.Helper()
	n, err := d.RunOnce(context.Background(), now)
	if err != nil {
		t.Fatalf("run once: %v", err)
	}
	return n
}

var t0 = time.Date(2026, 3, 8, 6, 30, 0, 0, time.UTC)

func closedData() reporting.SessionClosed {
	return reporting.SessionClosed{
		SessionID: "0f8fad5b-d9cb-469f-a165-70867728950e", Type: reporting.TypeInboundDirect, Number: "+14155550100",
		Contact: "+16175550111", Status: reporting.SessionFailed, FailureReason: "No agent replied before the session closed after 24 hours idle.",
		CloseReason: "idle", CreatedAt: t0.Add(-24 * time.Hour), ClosedAt: t0,
	}
}

func TestDispatcher_TheSignatureVerifiesWithTheSubscriptionSecret(t *testing.T) {
	t.Parallel()
	e := newEventsEnv(t)
	rc := newReceiver(t, "a-secret-of-sixteen+")
	e.subscribe(t, e.h.ID, rc.srv.URL+"/hooks", rc.secret, "session.closed")
	e.enqueue(t, e.h.ID, t0, reporting.EventSessionClosed, closedData())

	if n := e.runOnce(t, e.dispatcher(reporting.DispatcherConfig{}), t0); n != 1 {
		t.Fatalf("got %d tries, want 1", n)
	}
	got := rc.envelopes()
	if len(got) != 1 || !rc.verified[0] {
		t.Fatalf("got %d deliveries, verified %v; want one that verifies", len(got), rc.verified)
	}
	env := got[0]
	if env.Type != reporting.EventSessionClosed || env.TenantID != e.h.ID || !env.OccurredAt.Equal(t0) || env.ID == "" {
		t.Errorf("got envelope %+v, want session.closed of tenant %s at %s with an id", env, e.h.ID, t0)
	}
	var data reporting.SessionClosed
	if err := json.Unmarshal(env.Data, &data); err != nil {
		t.Fatal(err)
	}
	want := closedData()
	if data.SessionID != want.SessionID || data.Status != "failed" || data.FailureReason != want.FailureReason || !data.ClosedAt.Equal(want.ClosedAt) {
		t.Errorf("got data %+v, want %+v", data, want)
	}
	h := rc.headers[0]
	if h.Get(reporting.EventIDHeader) != env.ID || h.Get(reporting.EventTypeHeader) != "session.closed" || h.Get(reporting.AttemptHeader) != "1" || h.Get("Content-Type") != "application/json" {
		t.Errorf("got headers %v, want the event id, type, attempt 1 and JSON", h)
	}
	if reporting.VerifySignature("another-secret-16chars", []byte("{}"), h.Get(reporting.SignatureHeader)) {
		t.Error("a signature verified under the wrong secret")
	}
}

func TestDispatcher_FailingTwiceThenSucceedingGetsTheSameEventThreeTimes(t *testing.T) {
	t.Parallel()
	e := newEventsEnv(t)
	rc := newReceiver(t, "retry-secret-0123456", http.StatusInternalServerError, http.StatusOK)
	// The second try times out rather than answering.
	rc.answers = []int{http.StatusInternalServerError, http.StatusOK, http.StatusOK}
	rc.delays[1] = 2 * time.Second
	sub := e.subscribe(t, e.h.ID, rc.srv.URL, rc.secret, "message.received")
	e.enqueue(t, e.h.ID, t0, reporting.EventMessageReceived, reporting.MessageReceived{MessageID: "m1", SessionID: "s1", From: "+16175550111", To: "+14155550100", Body: "hi", Segments: 1, ReceivedAt: t0})
	d := e.dispatcher(reporting.DispatcherConfig{Timeout: 300 * time.Millisecond})

	now := t0
	for try := 1; try <= 3; try++ {
		if n := e.runOnce(t, d, now); n != 1 {
			t.Fatalf("try %d: got %d tries, want 1", try, n)
		}
		if n := e.runOnce(t, d, now.Add(30*time.Second)); n != 0 {
			t.Fatalf("try %d: got %d tries before the backoff ran out, want 0", try, n)
		}
		now = now.Add(2 * time.Minute)
	}
	if n := e.runOnce(t, d, now.Add(time.Hour)); n != 0 {
		t.Fatalf("got %d tries after delivery, want 0", n)
	}
	got := rc.envelopes()
	if len(got) != 3 {
		t.Fatalf("got %d deliveries, want 3", len(got))
	}
	for i, env := range got {
		if env.ID != got[0].ID || !rc.verified[i] {
			t.Errorf("delivery %d: got id %s (verified %v), want %s, verified", i+1, env.ID, rc.verified[i], got[0].ID)
		}
		if a := rc.headers[i].Get(reporting.AttemptHeader); a != string(rune('1'+i)) {
			t.Errorf("delivery %d: got attempt header %s", i+1, a)
		}
	}

	log, err := e.store.ListAttempts(context.Background(), e.h.ID, sub.ID, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 3 {
		t.Fatalf("got %d logged tries, want 3", len(log))
	}
	// Newest first.
	wantOutcome := []string{"delivered", "retrying", "retrying"}
	for i, a := range log {
		if a.Attempt != 3-i || a.Outcome != wantOutcome[i] || a.EventID != got[0].ID || a.EventType != reporting.EventMessageReceived {
			t.Errorf("log %d: got attempt %d %s of %s, want attempt %d %s of %s", i, a.Attempt, a.Outcome, a.EventID, 3-i, wantOutcome[i], got[0].ID)
		}
		if a.At.Before(t0) {
			t.Errorf("log %d: got time %s before the first run", i, a.At)
		}
	}
	if log[0].StatusCode == nil || *log[0].StatusCode != 200 || log[0].Error != nil {
		t.Errorf("got last try %v/%v, want 200 and no error", log[0].StatusCode, log[0].Error)
	}
	if log[1].StatusCode != nil || log[1].Error == nil || !strings.Contains(*log[1].Error, "timed out") || log[1].DurationMS < 250 {
		t.Errorf("got second try %v/%v in %d ms, want a timeout after ~300 ms", log[1].StatusCode, log[1].Error, log[1].DurationMS)
	}
	if log[2].StatusCode == nil || *log[2].StatusCode != 500 || log[2].Error == nil || !strings.Contains(*log[2].Error, "500") {
		t.Errorf("got first try %v/%v, want 500 explained", log[2].StatusCode, log[2].Error)
	}
}

func TestDispatcher_GivesUpAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	e := newEventsEnv(t)
	rc := newReceiver(t, "gives-up-secret-0123", http.StatusServiceUnavailable, http.StatusServiceUnavailable, http.StatusServiceUnavailable)
	sub := e.subscribe(t, e.h.ID, rc.srv.URL, rc.secret, "agent.status")
	e.enqueue(t, e.h.ID, t0, reporting.EventAgentStatus, reporting.AgentStatus{UserID: "u1", Status: "available", PreviousStatus: "away", Reason: "agent", ChangedAt: t0})
	d := e.dispatcher(reporting.DispatcherConfig{MaxAttempts: 2})
	e.runOnce(t, d, t0)
	e.runOnce(t, d, t0.Add(time.Hour))
	if n := e.runOnce(t, d, t0.Add(10*time.Hour)); n != 0 {
		t.Fatalf("got %d tries after giving up, want 0", n)
	}
	log, err := e.store.ListAttempts(context.Background(), e.h.ID, sub.ID, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 2 || log[0].Outcome != "failed" || log[1].Outcome != "retrying" {
		t.Fatalf("got %+v, want a retry then a failure", log)
	}
}

func TestDispatcher_ARedirectIsNotFollowed(t *testing.T) {
	t.Parallel()
	e := newEventsEnv(t)
	rc := newReceiver(t, "redirect-secret-0123", http.StatusFound)
	sub := e.subscribe(t, e.h.ID, rc.srv.URL, rc.secret, "session.created")
	e.enqueue(t, e.h.ID, t0, reporting.EventSessionCreated, reporting.SessionCreated{SessionID: "s1", CreatedAt: t0})
	e.runOnce(t, e.dispatcher(reporting.DispatcherConfig{}), t0)
	log, _ := e.store.ListAttempts(context.Background(), e.h.ID, sub.ID, "", 10)
	if len(log) != 1 || log[0].Outcome != "retrying" || log[0].Error == nil || !strings.Contains(*log[0].Error, "redirect") {
		t.Fatalf("got %+v, want a redirect logged as a failed try", log)
	}
}

func TestDispatcher_PrivateAddressRefusedAtDeliveryUnlessAllowed(t *testing.T) {
	t.Parallel()
	e := newEventsEnv(t)
	rc := newReceiver(t, "private-secret-01234")
	sub := e.subscribe(t, e.h.ID, rc.srv.URL, rc.secret, "session.created")
	e.enqueue(t, e.h.ID, t0, reporting.EventSessionCreated, reporting.SessionCreated{SessionID: "s1", CreatedAt: t0})
	strict := reporting.NewDispatcher(e.db, reporting.DispatcherConfig{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	e.runOnce(t, strict, t0)
	if len(rc.envelopes()) != 0 {
		t.Fatal("got a delivery to a loopback address, want it refused")
	}
	log, _ := e.store.ListAttempts(context.Background(), e.h.ID, sub.ID, "", 10)
	if len(log) != 1 || log[0].Error == nil || !strings.Contains(*log[0].Error, "private") {
		t.Fatalf("got %+v, want the private address named as the reason", log)
	}
}

func TestEnqueue_OnlySubscriptionsOfTheTenantThatWantTheEvent(t *testing.T) {
	t.Parallel()
	e := newEventsEnv(t)
	other := newTenant(t, e.db, "Other", "UTC")
	wants := newReceiver(t, "wants-secret-0123456")
	ignores := newReceiver(t, "ignores-secret-01234")
	foreign := newReceiver(t, "foreign-secret-01234")
	e.subscribe(t, e.h.ID, wants.srv.URL, wants.secret, "message.sent", "message.status")
	e.subscribe(t, e.h.ID, ignores.srv.URL, ignores.secret, "agent.status")
	e.subscribe(t, other.ID, foreign.srv.URL, foreign.secret, "message.sent")
	e.enqueue(t, e.h.ID, t0, reporting.EventMessageSent, reporting.MessageSent{MessageID: "m1", Kind: "text", Status: "queued", CreatedAt: t0})
	e.enqueue(t, e.h.ID, t0, reporting.EventSessionCreated, reporting.SessionCreated{SessionID: "s1", CreatedAt: t0})

	e.runOnce(t, e.dispatcher(reporting.DispatcherConfig{}), t0)
	if got := len(wants.envelopes()); got != 1 {
		t.Errorf("got %d deliveries to the subscriber, want 1", got)
	}
	if got := len(ignores.envelopes()) + len(foreign.envelopes()); got != 0 {
		t.Errorf("got %d deliveries to subscribers that did not ask, want 0", got)
	}
	var events int
	if err := e.db.Get(&events, `SELECT count(*) FROM webhook_events`); err != nil {
		t.Fatal(err)
	}
	if events != 1 {
		t.Errorf("got %d stored events, want 1 (nothing stored for an event nobody wants)", events)
	}
}

func TestEnqueue_ARolledBackProducerDeliversNothing(t *testing.T) {
	t.Parallel()
	e := newEventsEnv(t)
	rc := newReceiver(t, "rollback-secret-0123")
	e.subscribe(t, e.h.ID, rc.srv.URL, rc.secret, "session.created")
	tx := e.db.MustBegin()
	if err := reporting.Enqueue(context.Background(), tx, t0, e.h.ID, reporting.EventSessionCreated, reporting.SessionCreated{SessionID: "s1"}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if n := e.runOnce(t, e.dispatcher(reporting.DispatcherConfig{}), t0); n != 0 || len(rc.envelopes()) != 0 {
		t.Fatalf("got %d tries, want none for a rolled-back event", n)
	}
}

func TestEnqueue_AnUnknownEventTypeIsRefused(t *testing.T) {
	t.Parallel()
	e := newEventsEnv(t)
	err := pg.InTx(context.Background(), e.db, func(tx *sqlx.Tx) error {
		return reporting.Enqueue(context.Background(), tx, t0, e.h.ID, "session.offered", nil)
	})
	if err == nil {
		t.Fatal("got nil, want an error for an event nobody can subscribe to")
	}
}

func TestDispatcher_ConcurrentDispatchersDeliverEachEventOnce(t *testing.T) {
	t.Parallel()
	e := newEventsEnv(t)
	rc := newReceiver(t, "concurrent-secret-01")
	e.subscribe(t, e.h.ID, rc.srv.URL, rc.secret, "message.status")
	const events = 60
	for i := range events {
		e.enqueue(t, e.h.ID, t0, reporting.EventMessageStatus, reporting.MessageStatus{MessageID: string(rune('a' + i%26)), Status: "delivered", ChangedAt: t0})
	}
	var wg sync.WaitGroup
	for range 4 {
		d := e.dispatcher(reporting.DispatcherConfig{BatchSize: 7})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n, err := d.RunOnce(context.Background(), t0)
				if err != nil {
					t.Errorf("run once: %v", err)
					return
				}
				if n == 0 {
					return
				}
			}
		}()
	}
	wg.Wait()
	seen := map[string]int{}
	for _, env := range rc.envelopes() {
		seen[env.ID]++
	}
	if len(seen) != events {
		t.Errorf("got %d distinct events, want %d", len(seen), events)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("event %s: got %d deliveries, want 1", id, n)
		}
	}
}

func TestDispatcher_ADeletedSubscriptionGetsNothingMore(t *testing.T) {
	t.Parallel()
	e := newEventsEnv(t)
	rc := newReceiver(t, "deleted-secret-01234")
	sub := e.subscribe(t, e.h.ID, rc.srv.URL, rc.secret, "session.created")
	e.enqueue(t, e.h.ID, t0, reporting.EventSessionCreated, reporting.SessionCreated{SessionID: "s1"})
	if err := e.store.DeleteSubscription(context.Background(), e.h.ID, sub.ID); err != nil {
		t.Fatal(err)
	}
	if n := e.runOnce(t, e.dispatcher(reporting.DispatcherConfig{}), t0); n != 0 {
		t.Fatalf("got %d tries, want none after the subscription was deleted", n)
	}
	if _, err := e.store.ListAttempts(context.Background(), e.h.ID, sub.ID, "", 10); !apperr.IsNotFound(err) {
		t.Fatalf("got %v, want not found", err)
	}
}

func TestDispatcher_PruneKeepsPendingAndRecentEvents(t *testing.T) {
	t.Parallel()
	e := newEventsEnv(t)
	rc := newReceiver(t, "prune-secret-0123456", http.StatusOK, http.StatusInternalServerError)
	e.subscribe(t, e.h.ID, rc.srv.URL, rc.secret, "session.created")
	old := t0.Add(-40 * 24 * time.Hour)
	e.enqueue(t, e.h.ID, old, reporting.EventSessionCreated, reporting.SessionCreated{SessionID: "delivered"})
	d := e.dispatcher(reporting.DispatcherConfig{})
	e.runOnce(t, d, old)
	e.enqueue(t, e.h.ID, old, reporting.EventSessionCreated, reporting.SessionCreated{SessionID: "pending"})
	e.runOnce(t, d, old)
	e.enqueue(t, e.h.ID, t0, reporting.EventSessionCreated, reporting.SessionCreated{SessionID: "recent"})
	n, err := d.Prune(context.Background(), t0)
	if err != nil || n != 1 {
		t.Fatalf("got %d pruned (%v), want the one old delivered event", n, err)
	}
}

func TestCreateSubscription_InvalidInputIs422NamingTheField(t *testing.T) {
	t.Parallel()
	e := newEventsEnv(t)
	ok := reporting.NewSubscription{URL: "https://93.184.215.14/hooks", Secret: "0123456789abcdef", Events: []string{"session.closed"}}
	cases := []struct {
		name        string
		edit        func(*reporting.NewSubscription)
		field, code string
	}{
		{"short secret", func(s *reporting.NewSubscription) { s.Secret = "too-short" }, "secret", "invalid_secret"},
		{"no events", func(s *reporting.NewSubscription) { s.Events = nil }, "events", "invalid_events"},
		{"unknown event", func(s *reporting.NewSubscription) { s.Events = []string{"session.closed", "session.offered"} }, "events", "invalid_event"},
		{"relative url", func(s *reporting.NewSubscription) { s.URL = "/hooks" }, "url", "invalid_url"},
		{"ftp url", func(s *reporting.NewSubscription) { s.URL = "ftp://93.184.215.14/x" }, "url", "invalid_url"},
		{"url with credentials", func(s *reporting.NewSubscription) { s.URL = "https://user:pw@93.184.215.14/x" }, "url", "invalid_url"},
		{"bad port", func(s *reporting.NewSubscription) { s.URL = "https://93.184.215.14:99999/x" }, "url", "invalid_url"},
		{"empty url", func(s *reporting.NewSubscription) { s.URL = "" }, "url", "invalid_url"},
		{"url too long", func(s *reporting.NewSubscription) { s.URL = "https://93.184.215.14/" + strings.Repeat("a", 2048) }, "url", "invalid_url"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := ok
			tc.edit(&in)
			_, err := e.store.CreateSubscription(context.Background(), e.h.ID, "", in, false)
			a, isApp := apperr.As(err)
			if !isApp || a.Field != tc.field || a.Code != tc.code {
				t.Fatalf("got %v, want %s on %s", err, tc.code, tc.field)
			}
		})
	}
	sub, err := e.store.CreateSubscription(context.Background(), e.h.ID, "", ok, false)
	if err != nil || sub.URL != ok.URL || len(sub.Events) != 1 {
		t.Fatalf("got %+v, %v; want the valid subscription created", sub, err)
	}
}

func TestEnqueue_TextJSONBWouldRefuseIsStillDelivered(t *testing.T) {
	t.Parallel()
	e := newEventsEnv(t)
	rc := newReceiver(t, "nul-secret-012345678")
	e.subscribe(t, e.h.ID, rc.srv.URL, rc.secret, "message.received")
	body := "before\x00after \xff"
	e.enqueue(t, e.h.ID, t0, reporting.EventMessageReceived, reporting.MessageReceived{MessageID: "m1", Body: body, ReceivedAt: t0})
	e.runOnce(t, e.dispatcher(reporting.DispatcherConfig{}), t0)
	got := rc.envelopes()
	if len(got) != 1 || !rc.verified[0] {
		t.Fatalf("got %d deliveries, want one that verifies", len(got))
	}
	var data reporting.MessageReceived
	if err := json.Unmarshal(got[0].Data, &data); err != nil {
		t.Fatal(err)
	}
	if data.Body != "before\x00after \uFFFD" {
		t.Errorf("got body %q, want the NUL kept and the invalid byte replaced", data.Body)
	}
}
