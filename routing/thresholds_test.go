package routing

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"directsms/directory"
	"directsms/numbers"
	"directsms/sql/pg"
	"directsms/sql/pgtest"
)

// thresholdWorld is a tenant with agent Ann (owner of a direct number, member of team Day) and
// agent Bob, whose team Day has the SMS queue Day queue; texts arrive through Service.Inbound
// at the world's clock, which tests move.
type thresholdWorld struct {
	t        *testing.T
	db       *sqlx.DB
	dsn      string
	svc      *Service
	clock    atomic.Pointer[time.Time]
	tenantID string
	account  string
	annID    string
	bobID    string
	teamID   string
	texts    int
}

const (
	annNumber   = "+14155550100"
	queueNumber = "+14155550101"
)

func newThresholdWorld(t *testing.T) *thresholdWorld {
	t.Helper()
	ctx := context.Background()
	w := &thresholdWorld{t: t, dsn: pgtest.NewDSN(t)}
	w.db = w.open()
	w.set(time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC))
	w.svc = NewService(w.db, Options{NowFunc: w.now})
	t.Cleanup(func() { w.svc.Close() })

	created, err := directory.NewStore(w.db, nil).CreateTenant(ctx, directory.NewTenant{Name: "Acme", AdminEmail: "admin@acme.example"})
	if err != nil {
		t.Fatalf("create tenant: %v", err)
	}
	w.tenantID = created.TenantID
	w.teamID = w.id(`INSERT INTO teams (tenant_id, name) VALUES ($1, 'Day') RETURNING id`, w.tenantID)
	w.annID = w.agent("Ann")
	w.bobID = w.agent("Bob")
	queueID := w.id(`INSERT INTO queues (tenant_id, name, kind) VALUES ($1, 'Day queue', 'sms') RETURNING id`, w.tenantID)
	w.exec(`INSERT INTO queue_members (tenant_id, queue_id, team_id) VALUES ($1, $2, $3)`, w.tenantID, queueID, w.teamID)

	store := numbers.NewStore(w.db, numbers.Config{})
	acct, err := store.CreateAccount(ctx, w.tenantID, numbers.NewAccount{
		Provider: numbers.ProviderTwilio, AccountSID: "AC0123456789abcdef0123456789abcdef", AuthToken: "token"})
	if err != nil {
		t.Fatalf("create carrier account: %v", err)
	}
	w.account = acct.ID
	for _, n := range []struct {
		e164   string
		direct bool
	}{{annNumber, true}, {queueNumber, false}} {
		if _, err := store.CreateNumber(ctx, w.tenantID, numbers.NewNumber{Number: n.e164, Direct: n.direct, CarrierAccountID: acct.ID}); err != nil {
			t.Fatalf("create number %s: %v", n.e164, err)
		}
		w.exec(`UPDATE numbers SET status = 'verified', verified_at = now(), verified_via = 'test' WHERE e164 = $1`, n.e164)
	}
	if _, err := store.AssignToUser(ctx, w.tenantID, w.annID, annNumber); err != nil {
		t.Fatalf("assign ann's number: %v", err)
	}
	if _, err := store.AssignToQueue(ctx, w.tenantID, queueID, queueNumber); err != nil {
		t.Fatalf("assign the queue's number: %v", err)
	}
	return w
}

// open connects a new pool to the world's database, as another process would.
func (w *thresholdWorld) open() *sqlx.DB {
	w.t.Helper()
	db, err := pg.Open(context.Background(), w.dsn)
	if err != nil {
		w.t.Fatalf("open database: %v", err)
	}
	w.t.Cleanup(func() { db.Close() })
	return db
}

func (w *thresholdWorld) now() time.Time          { return *w.clock.Load() }
func (w *thresholdWorld) set(at time.Time)        { w.clock.Store(&at) }
func (w *thresholdWorld) advance(d time.Duration) { w.set(w.now().Add(d)) }

func (w *thresholdWorld) id(query string, args ...any) string {
	w.t.Helper()
	var id string
	if err := w.db.Get(&id, query, args...); err != nil {
		w.t.Fatalf("%s: %v", query, err)
	}
	return id
}

func (w *thresholdWorld) exec(query string, args ...any) {
	w.t.Helper()
	if _, err := w.db.Exec(query, args...); err != nil {
		w.t.Fatalf("%s: %v", query, err)
	}
}

func (w *thresholdWorld) count(query string, args ...any) int {
	w.t.Helper()
	var n int
	if err := w.db.Get(&n, query, args...); err != nil {
		w.t.Fatalf("%s: %v", query, err)
	}
	return n
}

// agent creates an available agent in team Day (its primary team).
func (w *thresholdWorld) agent(name string) string {
	w.t.Helper()
	return w.id(`WITH u AS (INSERT INTO users (tenant_id, name, email, role, status, primary_team_id)
			VALUES ($1, $2, lower($2) || '@acme.example', 'agent', 'available', $3) RETURNING id, tenant_id),
		m AS (INSERT INTO team_members (tenant_id, team_id, user_id) SELECT tenant_id, $3, id FROM u)
		SELECT id FROM u`, w.tenantID, name, w.teamID)
}

// text delivers a text from a new contact to number and returns its session.
func (w *thresholdWorld) text(number string) string {
	w.t.Helper()
	w.texts++
	from, err := numbers.ClassifyAddress(fmt.Sprintf("+1415555%04d", 2000+w.texts), "US")
	if err != nil {
		w.t.Fatalf("classify sender: %v", err)
	}
	res, err := w.svc.Inbound(context.Background(), Inbound{
		AccountID: w.account, Provider: ProviderTwilio, AccountSID: "AC0123456789abcdef0123456789abcdef",
		CarrierMessageID: fmt.Sprintf("SM%032d", w.texts), From: from, To: number, Body: "hello"})
	if err != nil || res.Outcome != OutcomeRouted {
		w.t.Fatalf("inbound text: got %+v %v, want routed", res, err)
	}
	return res.SessionID
}

// pendingOffer is the session's pending offer to user.
func (w *thresholdWorld) pendingOffer(sessionID, userID string) string {
	w.t.Helper()
	return w.id(`SELECT id FROM offers WHERE session_id = $1 AND user_id = $2 AND status = 'pending'`, sessionID, userID)
}

func (w *thresholdWorld) sweep() SweepResult {
	w.t.Helper()
	res, err := SweepOffers(context.Background(), w.db, w.now())
	if err != nil {
		w.t.Fatalf("sweep offers: %v", err)
	}
	return res
}

// user reads an agent's status and counts.
func (w *thresholdWorld) user(id string) (status string, missed, unresponsive int) {
	w.t.Helper()
	var u struct {
		Status       string `db:"status"`
		Missed       int    `db:"missed_count"`
		Unresponsive int    `db:"unresponsive_count"`
	}
	if err := w.db.Get(&u, `SELECT status, missed_count, unresponsive_count FROM users WHERE id = $1`, id); err != nil {
		w.t.Fatalf("read user: %v", err)
	}
	return u.Status, u.Missed, u.Unresponsive
}

// connect gives the agent a connected event-stream client.
func (w *thresholdWorld) connect(userID string) {
	w.t.Helper()
	w.exec(`INSERT INTO client_connections (tenant_id, user_id, process_id, connected_at, last_seen_at) VALUES ($1, $2, 'test', $3, $3)`,
		w.tenantID, userID, w.now())
}

// deliverAll marks every pending offer delivered, as the event stream does.
func (w *thresholdWorld) deliverAll() {
	w.t.Helper()
	w.exec(`UPDATE offers SET delivered_at = $1 WHERE status = 'pending' AND delivered_at IS NULL`, w.now())
}

func (w *thresholdWorld) expectUser(id, status string, missed, unresponsive int) {
	w.t.Helper()
	gotStatus, gotMissed, gotUnresponsive := w.user(id)
	if gotStatus != status || gotMissed != missed || gotUnresponsive != unresponsive {
		w.t.Fatalf("user: got status %s missed %d unresponsive %d, want %s %d %d", gotStatus, gotMissed, gotUnresponsive, status, missed, unresponsive)
	}
}

func TestJudge(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	fresh, old := now.Add(-time.Second), now.Add(-DeliveryGrace)
	base := offerState{Eligible: true, Capacity: 4, CreatedAt: old, ExpiresAt: now.Add(time.Minute)}
	with := func(f func(*offerState)) offerState { o := base; f(&o); return o }
	connected := func() (bool, error) { return true, nil }
	gone := func() (bool, error) { return false, nil }
	cases := []struct {
		name      string
		o         offerState
		connected func() (bool, error)
		want      verdict
	}{
		{"delivered and not expired waits", base, gone, verdictWait},
		{"delivered and expired with free capacity is a miss", with(func(o *offerState) { o.ExpiresAt = now }), connected, verdictMissed},
		{"expired at capacity is not the agent's miss", with(func(o *offerState) { o.ExpiresAt, o.OpenSessions = now, 4 }), connected, verdictExpired},
		{"agent no longer available is rerouted at once", with(func(o *offerState) { o.Eligible = false }), connected, verdictUnavailable},
		{"fresh undelivered with a connected client waits", with(func(o *offerState) { o.Undelivered, o.CreatedAt = true, fresh }), connected, verdictWait},
		{"fresh undelivered without a client failed", with(func(o *offerState) { o.Undelivered, o.CreatedAt = true, fresh }), gone, verdictUndelivered},
		{"undelivered past the grace failed though a client is connected", with(func(o *offerState) { o.Undelivered = true }), connected, verdictUndelivered},
		{"undelivered and expired failed, not missed", with(func(o *offerState) { o.Undelivered, o.ExpiresAt = true, now }), connected, verdictUndelivered},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := judge(tc.o, now, tc.connected)
			if err != nil || got != tc.want {
				t.Fatalf("got %q %v, want %q", got, err, tc.want)
			}
		})
	}
}

func TestSweepOffers_TwoMissedDirectOffersSetMissedChatAndReroute(t *testing.T) {
	t.Parallel()
	w := newThresholdWorld(t)
	w.connect(w.annID)
	first := w.text(annNumber)
	offer := w.pendingOffer(first, w.annID)
	w.deliverAll()

	w.advance(59 * time.Second)
	if res := w.sweep(); res != (SweepResult{}) {
		t.Fatalf("sweep before the offer timeout: got %+v, want nothing done", res)
	}
	w.advance(time.Second)
	if res := w.sweep(); res != (SweepResult{Missed: 1, Rerouted: 1}) {
		t.Fatalf("first sweep after the timeout: got %+v, want one miss and one reroute", res)
	}
	w.expectUser(w.annID, "available", 1, 0)
	if got := w.count(`SELECT count(*) FROM offers WHERE id = $1 AND status = 'missed'`, offer); got != 1 {
		t.Fatalf("missed offers: got %d, want 1", got)
	}
	if got := w.count(`SELECT missed_count FROM sessions WHERE id = $1`, first); got != 1 {
		t.Fatalf("session missed_count: got %d, want 1", got)
	}
	// No backup: the session went to Ann's primary team's SMS queue, offered to Bob.
	w.pendingOffer(first, w.bobID)

	second := w.text(annNumber)
	w.deliverAll()
	w.advance(time.Minute)
	if res := w.sweep(); res != (SweepResult{Missed: 1, Rerouted: 1, StatusChanges: 1}) {
		t.Fatalf("second sweep: got %+v, want one miss, one reroute, one status change", res)
	}
	w.expectUser(w.annID, "missed_chat", 2, 0)
	w.pendingOffer(second, w.bobID)
	if got := w.count(`SELECT count(*) FROM user_status_changes WHERE user_id = $1 AND status = 'missed_chat' AND reason = 'missed_chat_threshold'`, w.annID); got != 1 {
		t.Fatalf("status timeline rows: got %d, want 1", got)
	}
	if got := w.count(`SELECT count(*) FROM events WHERE user_id = $1 AND type = 'agent.status' AND data->>'status' = 'missed_chat'`, w.annID); got != 1 {
		t.Fatalf("agent.status events: got %d, want 1", got)
	}
	if got := w.count(`SELECT count(*) FROM session_events WHERE session_id = $1 AND kind = 'missed'`, second); got != 1 {
		t.Fatalf("missed session events: got %d, want 1", got)
	}

	// missed_chat stops new offers: a third text skips Ann.
	third := w.text(annNumber)
	if got := w.count(`SELECT count(*) FROM offers WHERE session_id = $1 AND user_id = $2`, third, w.annID); got != 0 {
		t.Fatalf("offers to an agent in missed_chat: got %d, want 0", got)
	}
}

func TestSweepOffers_FanOutOffersDoNotCount(t *testing.T) {
	t.Parallel()
	w := newThresholdWorld(t)
	w.connect(w.annID)
	w.connect(w.bobID)
	session := w.text(queueNumber)
	w.deliverAll()
	w.advance(10 * time.Minute)
	if res := w.sweep(); res != (SweepResult{}) {
		t.Fatalf("sweep of expired fan-out offers: got %+v, want nothing done", res)
	}
	w.expectUser(w.annID, "available", 0, 0)
	w.pendingOffer(session, w.annID)
	w.pendingOffer(session, w.bobID)
}

func TestSweepOffers_AcceptedOfferResetsTheMissCount(t *testing.T) {
	t.Parallel()
	w := newThresholdWorld(t)
	w.connect(w.annID)
	w.text(annNumber)
	w.deliverAll()
	w.advance(time.Minute)
	w.sweep()
	w.expectUser(w.annID, "available", 1, 0)

	accepted := w.text(annNumber)
	w.deliverAll()
	ann := directory.Principal{TenantID: w.tenantID, UserID: w.annID, Role: directory.RoleAgent}
	if _, err := w.svc.Accept(context.Background(), ann, accepted); err != nil {
		t.Fatalf("accept: %v", err)
	}
	w.expectUser(w.annID, "available", 0, 0)

	w.text(annNumber)
	w.deliverAll()
	w.advance(time.Minute)
	w.sweep()
	w.expectUser(w.annID, "available", 1, 0)
}

func TestSweepOffers_AtCapacityExpiryIsNotAMiss(t *testing.T) {
	t.Parallel()
	w := newThresholdWorld(t)
	w.connect(w.annID)
	w.exec(`INSERT INTO user_channels (tenant_id, user_id, channel, enabled, capacity) VALUES ($1, $2, 'sms', true, 1)`, w.tenantID, w.annID)
	ann := directory.Principal{TenantID: w.tenantID, UserID: w.annID, Role: directory.RoleAgent}
	held := w.text(annNumber)
	if _, err := w.svc.Accept(context.Background(), ann, held); err != nil {
		t.Fatalf("accept: %v", err)
	}
	busy := w.text(annNumber)
	w.deliverAll()
	w.advance(time.Minute)
	if res := w.sweep(); res != (SweepResult{Rerouted: 1}) {
		t.Fatalf("sweep: got %+v, want one reroute and no miss", res)
	}
	w.expectUser(w.annID, "available", 0, 0)
	w.pendingOffer(busy, w.bobID)
}

func TestSweepOffers_NoConnectedClientSetsUnresponsive(t *testing.T) {
	t.Parallel()
	w := newThresholdWorld(t)
	first := w.text(annNumber)
	w.advance(time.Second)
	if res := w.sweep(); res != (SweepResult{Undelivered: 1, Rerouted: 1}) {
		t.Fatalf("first sweep: got %+v, want one failed delivery and one reroute", res)
	}
	w.expectUser(w.annID, "available", 0, 1)
	if got := w.count(`SELECT count(*) FROM offers WHERE session_id = $1 AND user_id = $2 AND delivery_failed_at IS NOT NULL`, first, w.annID); got != 1 {
		t.Fatalf("offers marked undelivered: got %d, want 1", got)
	}
	w.pendingOffer(first, w.bobID)

	w.text(annNumber)
	w.advance(time.Second)
	if res := w.sweep(); res != (SweepResult{Undelivered: 1, Rerouted: 1, StatusChanges: 1}) {
		t.Fatalf("second sweep: got %+v, want one failed delivery, one reroute, one status change", res)
	}
	w.expectUser(w.annID, "unresponsive", 0, 2)
	if got := w.count(`SELECT count(*) FROM events WHERE user_id = $1 AND type = 'agent.status' AND data->>'status' = 'unresponsive'`, w.annID); got != 1 {
		t.Fatalf("agent.status events: got %d, want 1", got)
	}
}

func TestSweepOffers_ConnectedClientGetsTheGraceThenFails(t *testing.T) {
	t.Parallel()
	w := newThresholdWorld(t)
	w.connect(w.annID)
	w.text(annNumber)
	w.advance(DeliveryGrace - time.Second)
	if res := w.sweep(); res != (SweepResult{}) {
		t.Fatalf("sweep within the grace: got %+v, want nothing done", res)
	}
	w.advance(time.Second)
	if res := w.sweep(); res != (SweepResult{Undelivered: 1, Rerouted: 1}) {
		t.Fatalf("sweep after the grace: got %+v, want one failed delivery", res)
	}
	w.expectUser(w.annID, "available", 0, 1)
}

func TestSweepOffers_DeliveredOfferResetsTheFailedDeliveries(t *testing.T) {
	t.Parallel()
	w := newThresholdWorld(t)
	w.text(annNumber)
	w.advance(time.Second)
	w.sweep()
	w.expectUser(w.annID, "available", 0, 1)

	w.connect(w.annID)
	session := w.text(annNumber)
	ok, err := MarkOfferDelivered(context.Background(), w.db, w.tenantID, w.annID, w.pendingOffer(session, w.annID), w.now())
	if err != nil || !ok {
		t.Fatalf("mark delivered: got %v %v, want true", ok, err)
	}
	w.expectUser(w.annID, "available", 0, 0)
}

func TestSweepOffers_SettingAvailableRestoresOffers(t *testing.T) {
	t.Parallel()
	w := newThresholdWorld(t)
	w.exec(`UPDATE tenants SET missed_chat_threshold = 1 WHERE id = $1`, w.tenantID)
	w.connect(w.annID)
	w.text(annNumber)
	w.deliverAll()
	w.advance(time.Minute)
	w.sweep()
	w.expectUser(w.annID, "missed_chat", 1, 0)

	if _, err := directory.NewStore(w.db, w.now).SetStatus(context.Background(), w.tenantID, w.annID, directory.StatusAvailable, "manual", w.annID); err != nil {
		t.Fatalf("set available: %v", err)
	}
	w.expectUser(w.annID, "available", 0, 0)
	session := w.text(annNumber)
	w.pendingOffer(session, w.annID)
}

func TestEndCooldowns_RestoresAvailableAndOffersWaitingSessions(t *testing.T) {
	t.Parallel()
	w := newThresholdWorld(t)
	w.exec(`UPDATE tenants SET missed_chat_threshold = 1, cooldown_seconds = 300 WHERE id = $1`, w.tenantID)
	w.exec(`DELETE FROM queue_members WHERE team_id IS NOT NULL`) // no team queue: rerouted sessions wait for Ann
	w.connect(w.annID)
	waiting := w.text(annNumber)
	w.deliverAll()
	w.advance(time.Minute)
	w.sweep()
	w.expectUser(w.annID, "missed_chat", 1, 0)

	w.advance(299 * time.Second)
	if n, err := EndCooldowns(context.Background(), w.db, w.now()); err != nil || n != 0 {
		t.Fatalf("end cool-downs before they end: got %d %v, want 0", n, err)
	}
	w.advance(time.Second)
	if n, err := EndCooldowns(context.Background(), w.db, w.now()); err != nil || n != 1 {
		t.Fatalf("end cool-downs: got %d %v, want 1", n, err)
	}
	w.expectUser(w.annID, "available", 0, 0)
	if got := w.count(`SELECT count(*) FROM user_status_changes WHERE user_id = $1 AND status = 'available' AND reason = 'cooldown'`, w.annID); got != 1 {
		t.Fatalf("cool-down timeline rows: got %d, want 1", got)
	}
	if got := w.count(`SELECT count(*) FROM events WHERE user_id = $1 AND type = 'agent.status' AND data->>'status' = 'available'`, w.annID); got != 1 {
		t.Fatalf("agent.status events: got %d, want 1", got)
	}
	w.pendingOffer(waiting, w.annID)
}

func TestSweepOffers_TwoProcessesSettleEachOfferOnce(t *testing.T) {
	t.Parallel()
	w := newThresholdWorld(t)
	w.connect(w.annID)
	w.exec(`UPDATE users SET missed_count = 1 WHERE id = $1`, w.annID)
	sessions := []string{w.text(annNumber), w.text(annNumber), w.text(annNumber)}
	w.deliverAll()
	w.advance(time.Minute)

	pools := []*sqlx.DB{w.open(), w.open()}
	results := make([]SweepResult, len(pools))
	var wg sync.WaitGroup
	for i, db := range pools {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := SweepOffers(context.Background(), db, w.now())
			if err != nil {
				t.Errorf("sweep %d: %v", i, err)
			}
			results[i] = res
		}()
	}
	wg.Wait()

	var total SweepResult
	for _, r := range results {
		total.Missed += r.Missed
		total.Rerouted += r.Rerouted
		total.StatusChanges += r.StatusChanges
	}
	// The first offer settled is the miss that reaches the threshold; the agent is then
	// missed_chat, so the others are rerouted without counting.
	if total != (SweepResult{Missed: 1, Rerouted: 3, StatusChanges: 1}) {
		t.Fatalf("both sweeps together: got %+v, want 1 miss, 3 reroutes, 1 status change", total)
	}
	w.expectUser(w.annID, "missed_chat", 2, 0)
	if got := w.count(`SELECT count(*) FROM user_status_changes WHERE user_id = $1`, w.annID); got != 1 {
		t.Fatalf("status timeline rows: got %d, want 1", got)
	}
	for _, s := range sessions {
		if got := w.count(`SELECT count(*) FROM session_events WHERE session_id = $1 AND kind = 'rerouted'`, s); got != 1 {
			t.Fatalf("reroutes of session %s: got %d, want 1", s, got)
		}
	}
}
