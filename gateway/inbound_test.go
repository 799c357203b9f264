package gateway_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"directsms/directory"
	"directsms/gateway/telnyx"
	"directsms/gateway/twilio"
	"directsms/internal/apperr"
	"directsms/internal/fakecarrier"
	"directsms/numbers"
	"directsms/routing"
	"directsms/sql/pg"
)

// inboundWorld is a tenant with a Twilio account, a team with two agents (available), and an
// agent-owned direct number.
type inboundWorld struct {
	e          *env
	acct       twilioAcct
	team       string
	ann, bob   string
	annKey     string
	bobKey     string
	annNumber  string
	contact    string
	contactTwo string
}

func newInboundWorld(t *testing.T) *inboundWorld {
	t.Helper()
	e := newEnv(t)
	w := &inboundWorld{e: e, acct: e.twilioAccount(e.tenantID), annNumber: "+14155550100", contact: "+14155550199", contactTwo: "+14155550198"}
	w.team = e.team("Sales")
	w.ann, w.annKey = e.user("Ann", directory.RoleAgent, w.team)
	w.bob, w.bobKey = e.user("Bob", directory.RoleAgent, w.team)
	e.agentNumber(e.tenantID, w.acct.ID, w.ann, w.annNumber)
	return w
}

// session returns the one open session of the contact on the number, through the API.
func (w *inboundWorld) session(key, contact, number string) map[string]any {
	w.e.t.Helper()
	q := url.Values{"contact": {contact}, "number": {number}, "status": {"open"}}
	r := w.e.do(http.MethodGet, "/v1/sessions?"+q.Encode(), key, nil)
	expect(w.e.t, r, http.StatusOK, "")
	data := r.JSON(w.e.t)["data"].([]any)
	if len(data) != 1 {
		w.e.t.Fatalf("got %d open sessions of %s on %s, want 1: %s", len(data), contact, number, r.Body)
	}
	return data[0].(map[string]any)
}

func TestInbound_AgentNumberOffersTheOwnerDirectly(t *testing.T) {
	t.Parallel()
	w := newInboundWorld(t)
	e := w.e
	e.text(w.acct, w.contact, w.annNumber, "Hi, is anyone there?")

	s := w.session(w.annKey, w.contact, w.annNumber)
	if s["type"] != "Messaging Inbound (SMS Direct)" {
		t.Errorf("got type %v, want Messaging Inbound (SMS Direct)", s["type"])
	}
	if owner := s["owner"].(map[string]any); owner["user_id"] != w.ann {
		t.Errorf("got owner %v, want user %s", owner, w.ann)
	}
	if got := e.count(`SELECT count(*) FROM offers WHERE user_id = $1 AND direct AND status = 'pending'`, w.ann); got != 1 {
		t.Errorf("got %d pending direct offers to the owner, want 1", got)
	}
	if got := e.count(`SELECT count(*) FROM offers WHERE user_id <> $1`, w.ann); got != 0 {
		t.Errorf("got %d offers to others, want 0", got)
	}
	if got := e.count(`SELECT count(*) FROM events WHERE user_id = $1 AND type = 'session.offered'`, w.ann); got != 1 {
		t.Errorf("got %d session.offered events to the owner, want 1", got)
	}
	if got := e.count(`SELECT count(*) FROM events WHERE queue_id = $1 AND type = 'message.received'`, s["queue_id"]); got != 1 {
		t.Errorf("got %d message.received events to the queue audience, want 1", got)
	}
	// Bob is in Ann's team but not in her personal queue: the session is not his to see.
	r := e.do(http.MethodGet, "/v1/sessions/"+s["id"].(string), w.bobKey, nil)
	expect(t, r, http.StatusNotFound, "not_found")

	r = e.do(http.MethodGet, "/v1/sessions/"+s["id"].(string), w.annKey, nil)
	expect(t, r, http.StatusOK, "")
	kinds := []string{}
	for _, ev := range r.JSON(t)["events"].([]any) {
		kinds = append(kinds, ev.(map[string]any)["kind"].(string))
	}
	if strings.Join(kinds, ",") != "created,offered" {
		t.Errorf("got timeline %v, want created,offered", kinds)
	}
	r = e.do(http.MethodGet, "/v1/sessions/"+s["id"].(string)+"/messages", w.annKey, nil)
	expect(t, r, http.StatusOK, "")
	msgs := r.JSON(t)["data"].([]any)
	if len(msgs) != 1 || msgs[0].(map[string]any)["body"] != "Hi, is anyone there?" || msgs[0].(map[string]any)["direction"] != "in" {
		t.Errorf("got messages %s, want the one inbound text", r.Body)
	}
}

func TestInbound_QueueNumberOffersEveryEligibleMember(t *testing.T) {
	t.Parallel()
	w := newInboundWorld(t)
	e := w.e
	support := e.team("Support")
	cat, _ := e.user("Cat", directory.RoleAgent, support)
	dan, _ := e.user("Dan", directory.RoleAgent, support)
	eve, _ := e.user("Eve", directory.RoleAgent, support)
	e.setStatus(eve, "away")
	e.smsOff(dan)
	// Ann is a direct member, Cat, Dan and Eve members through their team.
	queue := e.queue("Support SMS", []string{w.ann}, []string{support})
	e.queueNumber(e.tenantID, w.acct.ID, queue, "+14155550110", false)

	e.text(w.acct, w.contact, "+14155550110", "Where is my parcel?")

	s := w.session(w.annKey, w.contact, "+14155550110")
	if s["type"] != "Messaging Inbound" {
		t.Errorf("got type %v, want Messaging Inbound (the number is not direct)", s["type"])
	}
	if s["queue_id"] != queue {
		t.Errorf("got queue %v, want %s", s["queue_id"], queue)
	}
	for _, tc := range []struct {
		name   string
		user   string
		offers int
	}{
		{"direct member", w.ann, 1},
		{"member through a team", cat, 1},
		{"member with sms off gets nothing", dan, 0},
		{"member away gets nothing", eve, 0},
		{"not a member", w.bob, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := e.count(`SELECT count(*) FROM offers WHERE user_id = $1 AND NOT direct AND status = 'pending'`, tc.user); got != tc.offers {
				t.Errorf("got %d queue offers, want %d", got, tc.offers)
			}
			if got := e.count(`SELECT count(*) FROM events WHERE user_id = $1 AND type = 'session.offered'`, tc.user); got != tc.offers {
				t.Errorf("got %d session.offered events, want %d", got, tc.offers)
			}
		})
	}
}

func TestInbound_QueueWithNoEligibleMemberWaitsUntilOneBecomesAvailable(t *testing.T) {
	t.Parallel()
	w := newInboundWorld(t)
	e := w.e
	queue := e.queue("Night SMS", nil, []string{w.team})
	e.queueNumber(e.tenantID, w.acct.ID, queue, "+14155550110", true)
	e.setStatus(w.ann, "away")
	e.setStatus(w.bob, "offline")

	e.text(w.acct, w.contact, "+14155550110", "Anyone?")
	if got := e.count(`SELECT count(*) FROM offers`); got != 0 {
		t.Fatalf("got %d offers with nobody available, want 0", got)
	}
	s := w.session(w.annKey, w.contact, "+14155550110")
	if s["type"] != "Messaging Inbound (SMS Direct)" || s["assignee_id"] != nil {
		t.Errorf("got %v assignee %v, want an unassigned direct session", s["type"], s["assignee_id"])
	}

	// Setting Bob available through the API offers him the waiting session.
	e.setStatus(w.bob, "available")
	if got := e.count(`SELECT count(*) FROM offers WHERE user_id = $1 AND NOT direct AND status = 'pending'`, w.bob); got != 1 {
		t.Errorf("got %d offers to the member who became available, want 1", got)
	}
	// Offering again finds nothing new.
	if n, err := e.routing.OfferWaiting(t.Context(), e.tenantID, w.bob); err != nil || n != 0 {
		t.Errorf("OfferWaiting again: got %d, %v, want 0", n, err)
	}
	// An agent still away is offered nothing.
	if n, err := e.routing.OfferWaiting(t.Context(), e.tenantID, w.ann); err != nil || n != 0 {
		t.Errorf("OfferWaiting for an away agent: got %d, %v, want 0", n, err)
	}
}

func TestInbound_ContinuedSessionKeepsItsType(t *testing.T) {
	t.Parallel()
	w := newInboundWorld(t)
	e := w.e
	queue := e.queue("Support SMS", []string{w.ann}, nil)
	e.queueNumber(e.tenantID, w.acct.ID, queue, "+14155550110", false)

	e.text(w.acct, w.contact, "+14155550110", "first")
	direct := true
	if _, _, err := e.nums.UpdateNumber(t.Context(), e.tenantID, "+14155550110", numbers.NumberUpdate{Direct: &direct}); err != nil {
		t.Fatalf("make the number direct: %v", err)
	}
	e.text(w.acct, w.contact, "+14155550110", "second")

	if got := e.count(`SELECT count(*) FROM sessions`); got != 1 {
		t.Fatalf("got %d sessions, want the one continued", got)
	}
	s := w.session(w.annKey, w.contact, "+14155550110")
	if s["type"] != "Messaging Inbound" {
		t.Errorf("got type %v after the number became direct, want Messaging Inbound as at creation", s["type"])
	}
	if got := e.count(`SELECT count(*) FROM messages WHERE session_id = $1`, s["id"]); got != 2 {
		t.Errorf("got %d messages in the session, want 2", got)
	}
	// Texts to the open session reach the queue's audience; no new offers are made.
	if got := e.count(`SELECT count(*) FROM events WHERE type = 'message.received' AND queue_id = $1`, queue); got != 2 {
		t.Errorf("got %d message.received events to the queue, want 2", got)
	}
	if got := e.count(`SELECT count(*) FROM offers`); got != 1 {
		t.Errorf("got %d offers, want the first text's one", got)
	}
}

func TestInbound_SessionReopensAfterIdleClose(t *testing.T) {
	t.Parallel()
	w := newInboundWorld(t)
	e := w.e
	e.text(w.acct, w.contact, w.annNumber, "first")
	first := w.session(w.annKey, w.contact, w.annNumber)

	// Not idle yet: nothing closes.
	if n, err := e.routing.CloseIdle(t.Context(), time.Now().Add(23*time.Hour)); err != nil || n != 0 {
		t.Fatalf("CloseIdle before the idle time: got %d, %v, want 0", n, err)
	}
	n, err := e.routing.CloseIdle(t.Context(), time.Now().Add(25*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("CloseIdle after the idle time: got %d, %v, want 1", n, err)
	}
	r := e.do(http.MethodGet, "/v1/sessions/"+first["id"].(string), w.annKey, nil)
	expect(t, r, http.StatusOK, "")
	if got := r.JSON(t); got["status"] != "closed" || got["close_reason"] != "idle" {
		t.Errorf("got status %v reason %v, want closed idle", got["status"], got["close_reason"])
	}
	if got := e.count(`SELECT count(*) FROM offers WHERE status = 'pending'`); got != 0 {
		t.Errorf("got %d pending offers of the closed session, want them withdrawn", got)
	}

	e.text(w.acct, w.contact, w.annNumber, "second")
	second := w.session(w.annKey, w.contact, w.annNumber)
	if second["id"] == first["id"] {
		t.Fatalf("the text after the idle close went to the closed session")
	}
	if got := e.count(`SELECT count(*) FROM sessions`); got != 2 {
		t.Errorf("got %d sessions, want 2", got)
	}
}

func TestInbound_UnavailableOwnerIsReroutedToBackupThenTeamQueue(t *testing.T) {
	t.Parallel()
	w := newInboundWorld(t)
	e := w.e
	teamQueue := e.queue("Sales SMS", nil, []string{w.team})
	// A queue later in name order that also has the team: the first by name is chosen.
	e.queue("Zz Sales overflow", nil, []string{w.team})
	e.backup(w.ann, w.bob)
	e.setStatus(w.ann, "away")

	// Ann is away: the session goes to Bob, her backup, as a direct offer.
	e.text(w.acct, w.contact, w.annNumber, "Hello?")
	s := w.session(w.bobKey, w.contact, w.annNumber)
	if s["route_step"] != "backup" || s["rerouted_count"] != 1.0 {
		t.Errorf("got step %v rerouted %v, want backup 1", s["route_step"], s["rerouted_count"])
	}
	if got := e.count(`SELECT count(*) FROM offers WHERE user_id = $1 AND direct AND status = 'pending'`, w.bob); got != 1 {
		t.Fatalf("got %d direct offers to the backup, want 1", got)
	}

	// Bob misses it: the next step is Ann's primary team's SMS queue, offered to its eligible
	// members (Bob; Ann is away).
	if err := e.routing.Reroute(t.Context(), e.tenantID, s["id"].(string), "missed"); err != nil {
		t.Fatalf("Reroute: %v", err)
	}
	r := e.do(http.MethodGet, "/v1/sessions/"+s["id"].(string), w.bobKey, nil)
	expect(t, r, http.StatusOK, "")
	got := r.JSON(t)
	if got["route_step"] != "team_queue" || got["queue_id"] != teamQueue || got["rerouted_count"] != 2.0 {
		t.Errorf("got step %v queue %v rerouted %v, want team_queue %s 2", got["route_step"], got["queue_id"], got["rerouted_count"], teamQueue)
	}
	if n := e.count(`SELECT count(*) FROM offers WHERE user_id = $1 AND status = 'withdrawn'`, w.bob); n != 1 {
		t.Errorf("got %d withdrawn offers to the backup, want 1", n)
	}
	if n := e.count(`SELECT count(*) FROM offers WHERE user_id = $1 AND NOT direct AND status = 'pending'`, w.bob); n != 1 {
		t.Errorf("got %d queue offers to Bob, want 1", n)
	}
	steps := []string{}
	for _, ev := range got["events"].([]any) {
		ev := ev.(map[string]any)
		if k := ev["kind"].(string); k == "skipped" || k == "rerouted" {
			steps = append(steps, k+":"+ev["data"].(map[string]any)["step"].(string))
		}
	}
	if want := "skipped:owner,rerouted:backup,rerouted:team_queue"; strings.Join(steps, ",") != want {
		t.Errorf("got timeline steps %v, want %s", steps, want)
	}

	// Rerouted once more, inside a caller's transaction, it waits in Ann's personal queue,
	// visible to supervisors.
	err := pg.InTx(t.Context(), e.db, func(tx *sqlx.Tx) error {
		return routing.RerouteTx(t.Context(), tx, time.Now(), e.tenantID, s["id"].(string), "missed")
	})
	if err != nil {
		t.Fatalf("RerouteTx: %v", err)
	}
	r = e.do(http.MethodGet, "/v1/sessions/"+s["id"].(string), e.adminKey, nil)
	expect(t, r, http.StatusOK, "")
	if got := r.JSON(t); got["route_step"] != "waiting" || got["assignee_id"] != nil {
		t.Errorf("got step %v assignee %v, want waiting unassigned", got["route_step"], got["assignee_id"])
	}
	// When Ann is available again, the waiting session is offered to her, directly.
	e.setStatus(w.ann, "available")
	if n := e.count(`SELECT count(*) FROM offers WHERE user_id = $1 AND direct AND status = 'pending'`, w.ann); n != 1 {
		t.Errorf("got %d direct offers to the owner back available, want 1", n)
	}
}

func TestInbound_TurningSMSBackOnOffersWaitingSessions(t *testing.T) {
	t.Parallel()
	w := newInboundWorld(t)
	e := w.e
	queue := e.queue("Support SMS", []string{w.bob}, nil)
	e.queueNumber(e.tenantID, w.acct.ID, queue, "+14155550110", true)
	e.smsOff(w.bob)
	e.text(w.acct, w.contact, "+14155550110", "Anyone?")
	if n := e.count(`SELECT count(*) FROM offers`); n != 0 {
		t.Fatalf("got %d offers, want none while Bob has sms off", n)
	}
	e.smsChannel(w.bob, map[string]any{"enabled": true})
	if n := e.count(`SELECT count(*) FROM offers WHERE user_id = $1 AND status = 'pending'`, w.bob); n != 1 {
		t.Errorf("got %d offers after sms was turned back on, want 1", n)
	}
}

func TestInbound_OwnerWithSMSOffAndNoBackupGoesToTheTeamQueue(t *testing.T) {
	t.Parallel()
	w := newInboundWorld(t)
	e := w.e
	teamQueue := e.queue("Sales SMS", nil, []string{w.team})
	e.smsOff(w.ann)

	e.text(w.acct, w.contact, w.annNumber, "Hello?")
	s := w.session(w.bobKey, w.contact, w.annNumber)
	if s["route_step"] != "team_queue" || s["queue_id"] != teamQueue {
		t.Errorf("got step %v queue %v, want team_queue %s", s["route_step"], s["queue_id"], teamQueue)
	}
	if s["type"] != "Messaging Inbound (SMS Direct)" {
		t.Errorf("got type %v, want the direct type: the number texted was direct", s["type"])
	}
	if n := e.count(`SELECT count(*) FROM offers WHERE user_id = $1`, w.ann); n != 0 {
		t.Errorf("got %d offers to the owner with sms off, want 0", n)
	}
}

func TestAccept_FirstWinsAndOthersAreWithdrawn(t *testing.T) {
	t.Parallel()
	w := newInboundWorld(t)
	e := w.e
	queue := e.queue("Support SMS", nil, []string{w.team})
	e.queueNumber(e.tenantID, w.acct.ID, queue, "+14155550110", true)
	e.text(w.acct, w.contact, "+14155550110", "Help!")
	id := w.session(w.annKey, w.contact, "+14155550110")["id"].(string)

	var wg sync.WaitGroup
	results := make([]response, 2)
	for i, key := range []string{w.annKey, w.bobKey} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = e.do(http.MethodPost, "/v1/sessions/"+id+"/accept", key, nil)
		}()
	}
	wg.Wait()
	won, lost := 0, 0
	var winner string
	for i, r := range results {
		switch {
		case r.Status == http.StatusOK:
			won++
			winner = []string{w.ann, w.bob}[i]
			if got := r.JSON(t)["assignee_id"]; got != winner {
				t.Errorf("got assignee %v, want the accepter %s", got, winner)
			}
		case r.Status == http.StatusConflict && r.ErrorCode() == "already_assigned":
			lost++
		default:
			t.Errorf("got %d %s, want 200 or 409 already_assigned", r.Status, r.Body)
		}
	}
	if won != 1 || lost != 1 {
		t.Fatalf("got %d winners and %d losers, want 1 and 1", won, lost)
	}
	loser := w.bob
	if winner == w.bob {
		loser = w.ann
	}
	if n := e.count(`SELECT count(*) FROM offers WHERE user_id = $1 AND status = 'accepted'`, winner); n != 1 {
		t.Errorf("got %d accepted offers of the winner, want 1", n)
	}
	if n := e.count(`SELECT count(*) FROM offers WHERE user_id = $1 AND status = 'withdrawn'`, loser); n != 1 {
		t.Errorf("got %d withdrawn offers of the loser, want 1", n)
	}
	if n := e.count(`SELECT count(*) FROM events WHERE user_id = $1 AND type = 'session.withdrawn'`, loser); n != 1 {
		t.Errorf("got %d session.withdrawn events to the loser, want 1", n)
	}
	// Accepting again is harmless for the winner, refused for the loser.
	winnerKey := w.annKey
	if winner == w.bob {
		winnerKey = w.bobKey
	}
	expect(t, e.do(http.MethodPost, "/v1/sessions/"+id+"/accept", winnerKey, nil), http.StatusOK, "")
	// A new text in the assigned session goes to the assignee alone.
	e.text(w.acct, w.contact, "+14155550110", "Thanks")
	if n := e.count(`SELECT count(*) FROM events WHERE user_id = $1 AND type = 'message.received'`, winner); n != 1 {
		t.Errorf("got %d message.received events to the assignee, want 1", n)
	}
}

func TestAccept_AgentAtCapacityIsRefused(t *testing.T) {
	t.Parallel()
	w := newInboundWorld(t)
	e := w.e
	e.smsChannel(w.ann, map[string]any{"capacity": 1})
	e.text(w.acct, w.contact, w.annNumber, "one")
	e.text(w.acct, w.contactTwo, w.annNumber, "two")
	first := w.session(w.annKey, w.contact, w.annNumber)["id"].(string)
	second := w.session(w.annKey, w.contactTwo, w.annNumber)["id"].(string)

	expect(t, e.do(http.MethodPost, "/v1/sessions/"+first+"/accept", w.annKey, nil), http.StatusOK, "")
	expect(t, e.do(http.MethodPost, "/v1/sessions/"+second+"/accept", w.annKey, nil), http.StatusConflict, "at_capacity")
	// Closing the first frees the capacity.
	expect(t, e.do(http.MethodPost, "/v1/sessions/"+first+"/close", w.annKey, nil), http.StatusOK, "")
	expect(t, e.do(http.MethodPost, "/v1/sessions/"+second+"/accept", w.annKey, nil), http.StatusOK, "")
}

func TestSessions_CloseIsForTheAssigneeOrASupervisor(t *testing.T) {
	t.Parallel()
	w := newInboundWorld(t)
	e := w.e
	queue := e.queue("Support SMS", nil, []string{w.team})
	e.queueNumber(e.tenantID, w.acct.ID, queue, "+14155550110", true)
	e.text(w.acct, w.contact, "+14155550110", "Help!")
	id := w.session(w.annKey, w.contact, "+14155550110")["id"].(string)
	expect(t, e.do(http.MethodPost, "/v1/sessions/"+id+"/accept", w.annKey, nil), http.StatusOK, "")

	expect(t, e.do(http.MethodPost, "/v1/sessions/"+id+"/close", w.bobKey, nil), http.StatusForbidden, "forbidden")
	r := e.do(http.MethodPost, "/v1/sessions/"+id+"/close", w.annKey, nil)
	expect(t, r, http.StatusOK, "")
	if got := r.JSON(t)["status"]; got != "closed" {
		t.Errorf("got status %v, want closed", got)
	}
	expect(t, e.do(http.MethodPost, "/v1/sessions/"+id+"/close", e.adminKey, nil), http.StatusOK, "")
	expect(t, e.do(http.MethodPost, "/v1/sessions/"+id+"/accept", w.bobKey, nil), http.StatusConflict, "session_closed")
	if n := e.count(`SELECT count(*) FROM events WHERE type = 'session.closed'`); n != 1 {
		t.Errorf("got %d session.closed events, want 1 (closing again changes nothing)", n)
	}
}

func TestSessions_OtherTenantsSessionsAreNotFound(t *testing.T) {
	t.Parallel()
	w := newInboundWorld(t)
	e := w.e
	e.text(w.acct, w.contact, w.annNumber, "hi")
	id := w.session(w.annKey, w.contact, w.annNumber)["id"].(string)
	_, _, otherKey := e.newTenant("Other")
	for _, path := range []string{"/v1/sessions/" + id, "/v1/sessions/" + id + "/messages"} {
		expect(t, e.do(http.MethodGet, path, otherKey, nil), http.StatusNotFound, "not_found")
	}
	for _, path := range []string{"/v1/sessions/" + id + "/accept", "/v1/sessions/" + id + "/close"} {
		expect(t, e.do(http.MethodPost, path, otherKey, nil), http.StatusNotFound, "not_found")
	}
	r := e.do(http.MethodGet, "/v1/sessions", otherKey, nil)
	expect(t, r, http.StatusOK, "")
	if data := r.JSON(t)["data"].([]any); len(data) != 0 {
		t.Errorf("got %d sessions of another tenant, want 0", len(data))
	}
}

func TestSessions_ListFiltersAndPages(t *testing.T) {
	t.Parallel()
	w := newInboundWorld(t)
	e := w.e
	for i := range 3 {
		e.text(w.acct, "+1415555018"+strconv.Itoa(i), w.annNumber, "hi")
	}
	r := e.do(http.MethodGet, "/v1/sessions?limit=2", e.adminKey, nil)
	expect(t, r, http.StatusOK, "")
	page := r.JSON(t)
	if len(page["data"].([]any)) != 2 || page["next_cursor"] == "" {
		t.Fatalf("got %s, want 2 sessions and a cursor", r.Body)
	}
	r = e.do(http.MethodGet, "/v1/sessions?limit=2&cursor="+page["next_cursor"].(string), e.adminKey, nil)
	expect(t, r, http.StatusOK, "")
	if rest := r.JSON(t); len(rest["data"].([]any)) != 1 || rest["next_cursor"] != "" {
		t.Errorf("got %s, want the last session and no cursor", r.Body)
	}
	for _, tc := range []struct {
		name  string
		query string
		want  int
	}{
		{"by type", "type=" + url.QueryEscape("Messaging Inbound (SMS Direct)"), 3},
		{"by the other type", "type=" + url.QueryEscape("Messaging Inbound"), 0},
		{"by contact in national form", "contact=" + url.QueryEscape("(415) 555-0181"), 1},
		{"by number", "number=%2B14155550100", 3},
		{"unassigned to me", "assignee=me", 0},
		{"open", "status=open", 3},
		{"closed", "status=closed", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(http.MethodGet, "/v1/sessions?"+tc.query, e.adminKey, nil)
			expect(t, r, http.StatusOK, "")
			if got := len(r.JSON(t)["data"].([]any)); got != tc.want {
				t.Errorf("got %d sessions, want %d", got, tc.want)
			}
		})
	}
	for _, tc := range []struct{ query, code string }{
		{"status=pending", "invalid_status"},
		{"type=Chat", "invalid_type"},
		{"assignee=someone", "invalid_assignee"},
		{"number=12", "invalid_number"},
		{"cursor=nope", "invalid_cursor"},
	} {
		expect(t, e.do(http.MethodGet, "/v1/sessions?"+tc.query, e.adminKey, nil), http.StatusUnprocessableEntity, tc.code)
	}
}

func TestTwilioWebhook_Signature(t *testing.T) {
	t.Parallel()
	w := newInboundWorld(t)
	e := w.e
	other := e.twilioAccount(e.tenantID)
	form, sig := twilioForm(w.acct, w.contact, w.annNumber, "hello")
	wrongToken := twilio.Signature("not-the-token", publicURL+twilioPath, form)
	httpScheme := twilio.Signature(w.acct.Token, "http://sms.example.com"+twilioPath, form)
	withPort := twilio.Signature(w.acct.Token, "https://sms.example.com:443"+twilioPath, form)
	tampered := url.Values{}
	for k, v := range form {
		tampered[k] = v
	}
	tampered.Set("Body", "hello!")
	otherAccount := url.Values{}
	for k, v := range form {
		otherAccount[k] = v
	}
	otherAccount.Set("AccountSid", other.SID)

	for _, tc := range []struct {
		name string
		body string
		sig  string
	}{
		{"missing signature", form.Encode(), ""},
		{"wrong token", form.Encode(), wrongToken},
		{"wrong scheme", form.Encode(), httpScheme},
		{"tampered body", tampered.Encode(), sig},
		{"signed by one account, naming another", otherAccount.Encode(), sig},
		{"unknown account", strings.Replace(form.Encode(), w.acct.SID, "AC"+strings.Repeat("0", 32), 1), sig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.postForm(twilioPath, tc.body, tc.sig)
			expect(t, r, http.StatusForbidden, "forbidden")
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("got Content-Type %q, want application/json", ct)
			}
			if n := e.stored(); n != 0 {
				t.Errorf("got %d stored texts, want none", n)
			}
		})
	}
	// The URL with the default port is the same URL.
	r := e.postForm(twilioPath, form.Encode(), withPort)
	expect(t, r, http.StatusOK, "")
	if n := e.stored(); n != 1 {
		t.Errorf("got %d stored texts, want 1", n)
	}
}

func TestTwilioWebhook_RotatedTokenIsPickedUp(t *testing.T) {
	t.Parallel()
	w := newInboundWorld(t)
	e := w.e
	e.text(w.acct, w.contact, w.annNumber, "before")
	// The token is cached now; rotate it in the database, as another process would.
	w.acct.Token = randomHex(t, 16)
	mustExec(t, e.db, `UPDATE carrier_accounts SET auth_token = $2 WHERE id = $1`, w.acct.ID, w.acct.Token)
	e.text(w.acct, w.contact, w.annNumber, "after")
}

func TestTwilioWebhook_Duplicates(t *testing.T) {
	t.Parallel()
	w := newInboundWorld(t)
	e := w.e
	t.Run("in sequence", func(t *testing.T) {
		form, sig := twilioForm(w.acct, w.contact, w.annNumber, "once")
		for range 3 {
			expect(t, e.postForm(twilioPath, form.Encode(), sig), http.StatusOK, "")
		}
		if n := e.count(`SELECT count(*) FROM messages WHERE carrier_message_id = $1`, form.Get("MessageSid")); n != 1 {
			t.Errorf("got %d copies, want 1", n)
		}
	})
	t.Run("concurrently, first text of a new contact", func(t *testing.T) {
		form, sig := twilioForm(w.acct, w.contactTwo, w.annNumber, "once, at once")
		var wg sync.WaitGroup
		statuses := make([]int, 12)
		for i := range statuses {
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses[i] = e.postForm(twilioPath, form.Encode(), sig).Status
			}()
		}
		wg.Wait()
		for _, s := range statuses {
			if s != http.StatusOK {
				t.Errorf("got status %d, want 200 for every copy", s)
			}
		}
		if n := e.count(`SELECT count(*) FROM messages WHERE carrier_message_id = $1`, form.Get("MessageSid")); n != 1 {
			t.Errorf("got %d copies, want 1", n)
		}
		if n := e.count(`SELECT count(*) FROM sessions s JOIN contacts c ON c.id = s.contact_id WHERE c.address = $1`, w.contactTwo); n != 1 {
			t.Errorf("got %d sessions, want 1", n)
		}
		if n := e.count(`SELECT count(*) FROM offers o JOIN sessions s ON s.id = o.session_id JOIN contacts c ON c.id = s.contact_id WHERE c.address = $1`, w.contactTwo); n != 1 {
			t.Errorf("got %d offers, want 1", n)
		}
	})
}

func TestTwilioWebhook_UnroutedTexts(t *testing.T) {
	t.Parallel()
	w := newInboundWorld(t)
	e := w.e
	e.number(e.tenantID, w.acct.ID, "+14155550120", true)

	t.Run("unknown number", func(t *testing.T) {
		form := e.text(w.acct, w.contact, "+14155550999", "anyone?")
		if n := e.count(`SELECT count(*) FROM unrouted_messages WHERE carrier_message_id = $1 AND reason = 'unknown_number' AND tenant_id = $2`, form.Get("MessageSid"), e.tenantID); n != 1 {
			t.Errorf("got %d unrouted unknown_number texts, want 1", n)
		}
		// A redelivery is acknowledged and kept once.
		sig := twilio.Signature(w.acct.Token, publicURL+twilioPath, form)
		expect(t, e.postForm(twilioPath, form.Encode(), sig), http.StatusOK, "")
		if n := e.count(`SELECT count(*) FROM unrouted_messages WHERE carrier_message_id = $1`, form.Get("MessageSid")); n != 1 {
			t.Errorf("got %d copies, want 1", n)
		}
	})
	t.Run("a number without an owner", func(t *testing.T) {
		form := e.text(w.acct, w.contact, "+14155550120", "anyone?")
		if n := e.count(`SELECT count(*) FROM unrouted_messages WHERE carrier_message_id = $1 AND reason = 'no_owner'`, form.Get("MessageSid")); n != 1 {
			t.Errorf("got %d unrouted no_owner texts, want 1", n)
		}
	})
	t.Run("another tenant's number, through this tenant's account", func(t *testing.T) {
		otherTenant, otherAdmin, _ := e.newTenant("Other")
		otherAcct := e.twilioAccount(otherTenant)
		e.agentNumber(otherTenant, otherAcct.ID, otherAdmin, "+14155550130")
		form := e.text(w.acct, w.contact, "+14155550130", "sneaky")
		if n := e.count(`SELECT count(*) FROM unrouted_messages WHERE carrier_message_id = $1 AND reason = 'unknown_number' AND tenant_id = $2`, form.Get("MessageSid"), e.tenantID); n != 1 {
			t.Errorf("got %d unrouted texts under the signing account's tenant, want 1", n)
		}
		if n := e.count(`SELECT count(*) FROM messages WHERE tenant_id = $1`, otherTenant); n != 0 {
			t.Errorf("got %d messages in the other tenant, want 0", n)
		}
	})
	t.Run("sms turned off", func(t *testing.T) {
		mustExec(t, e.db, `UPDATE tenants SET sms_enabled = false WHERE id = $1`, e.tenantID)
		defer mustExec(t, e.db, `UPDATE tenants SET sms_enabled = true WHERE id = $1`, e.tenantID)
		form := e.text(w.acct, w.contact, w.annNumber, "hello?")
		if n := e.count(`SELECT count(*) FROM unrouted_messages WHERE carrier_message_id = $1 AND reason = 'sms_disabled'`, form.Get("MessageSid")); n != 1 {
			t.Errorf("got %d unrouted sms_disabled texts, want 1", n)
		}
		if n := e.count(`SELECT count(*) FROM sessions`); n != 0 {
			t.Errorf("got %d sessions, want 0", n)
		}
	})
}

func TestTwilioWebhook_ShortCodeAndAlphanumericSenders(t *testing.T) {
	t.Parallel()
	w := newInboundWorld(t)
	e := w.e
	for _, tc := range []struct{ from, kind string }{{"72345", "short_code"}, {"ACME Bank", "alphanumeric"}} {
		e.text(w.acct, tc.from, w.annNumber, "code 1234")
		if n := e.count(`SELECT count(*) FROM contacts WHERE address = $1 AND kind = $2`, tc.from, tc.kind); n != 1 {
			t.Errorf("got %d %s contacts %q, want 1", n, tc.kind, tc.from)
		}
	}
}

func TestTwilioWebhook_MalformedBodiesStoreNothing(t *testing.T) {
	t.Parallel()
	w := newInboundWorld(t)
	e := w.e
	signed := func(mutate func(url.Values)) (string, string) {
		form, _ := twilioForm(w.acct, w.contact, w.annNumber, "hello")
		mutate(form)
		return form.Encode(), twilio.Signature(w.acct.Token, publicURL+twilioPath, form)
	}
	noFrom, noFromSig := signed(func(f url.Values) { f.Del("From") })
	noTo, noToSig := signed(func(f url.Values) { f.Del("To") })
	badUTF8, badUTF8Sig := signed(func(f url.Values) { f.Set("Body", "caf\xe9") })
	nul, nulSig := signed(func(f url.Values) { f.Set("Body", "a\x00b") })
	badFrom, badFromSig := signed(func(f url.Values) { f.Set("From", "+1 (415) <script>") })
	badToUTF8, badToUTF8Sig := signed(func(f url.Values) { f.Set("To", "\xff\xfe") })
	badSid, badSidSig := signed(func(f url.Values) { f.Set("MessageSid", "XX1") })
	segments, segmentsSig := signed(func(f url.Values) { f.Set("NumSegments", "99999999999") })
	huge := "Body=" + strings.Repeat("a", 1<<20)

	for _, tc := range []struct {
		name        string
		contentType string
		body        string
		sig         string
		status      int
	}{
		{"bad form encoding", "application/x-www-form-urlencoded", "Body=%zz&From=%", "x", http.StatusBadRequest},
		{"not a form", "application/json", `{"From": "+14155550199"}`, "x", http.StatusBadRequest},
		{"missing From", "application/x-www-form-urlencoded", noFrom, noFromSig, http.StatusBadRequest},
		{"missing To", "application/x-www-form-urlencoded", noTo, noToSig, http.StatusBadRequest},
		{"invalid UTF-8 body", "application/x-www-form-urlencoded", badUTF8, badUTF8Sig, http.StatusBadRequest},
		{"NUL in the body", "application/x-www-form-urlencoded", nul, nulSig, http.StatusBadRequest},
		{"From that is no address", "application/x-www-form-urlencoded", badFrom, badFromSig, http.StatusBadRequest},
		{"invalid UTF-8 To", "application/x-www-form-urlencoded", badToUTF8, badToUTF8Sig, http.StatusBadRequest},
		{"malformed MessageSid", "application/x-www-form-urlencoded", badSid, badSidSig, http.StatusBadRequest},
		{"NumSegments no text could have", "application/x-www-form-urlencoded", segments, segmentsSig, http.StatusBadRequest},
		{"1 MB body", "application/x-www-form-urlencoded", huge, "x", http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, e.srv.URL+twilioPath, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", tc.contentType)
			req.Header.Set(twilio.SignatureHeader, tc.sig)
			r := e.send(req)
			if r.Status != tc.status || r.ErrorCode() == "" {
				t.Errorf("got %d %s, want %d with a JSON error", r.Status, r.Body, tc.status)
			}
			if n := e.stored(); n != 0 {
				t.Errorf("got %d stored texts, want none", n)
			}
		})
	}
}

// telnyxWorld is a tenant with a Telnyx account (the fake carrier's key) and an agent number.
type telnyxWorld struct {
	*inboundWorld
	fake *fakecarrier.Fake
	key  ed25519.PrivateKey
}

func newTelnyxWorld(t *testing.T, clock func() time.Time) *telnyxWorld {
	t.Helper()
	w := newInboundWorld(t)
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	fake := fakecarrier.New(fakecarrier.WithTelnyxKey(priv), fakecarrier.WithClock(clock))
	t.Cleanup(fake.Close)
	acct, err := w.e.nums.CreateAccount(t.Context(), w.e.tenantID, numbers.NewAccount{
		Provider: numbers.ProviderTelnyx, APIKey: "KEY" + randomHex(t, 8), PublicKey: fake.TelnyxPublicKey(),
	})
	if err != nil {
		t.Fatalf("create telnyx account: %v", err)
	}
	w.e.agentNumber(w.e.tenantID, acct.ID, w.ann, "+14155550140")
	return &telnyxWorld{inboundWorld: w, fake: fake, key: priv}
}

func TestTelnyxWebhook_RoutesVerifiedTexts(t *testing.T) {
	t.Parallel()
	w := newTelnyxWorld(t, time.Now)
	e := w.e
	body, h := w.fake.TelnyxInbound(w.contact, "+14155550140", "hello over telnyx")
	expect(t, e.postWithHeaders("/webhooks/telnyx", body, h), http.StatusOK, "")
	// Redelivered: acknowledged, stored once.
	expect(t, e.postWithHeaders("/webhooks/telnyx", body, h), http.StatusOK, "")
	if n := e.count(`SELECT count(*) FROM messages WHERE provider = 'telnyx' AND body = 'hello over telnyx'`); n != 1 {
		t.Errorf("got %d telnyx messages, want 1", n)
	}
	s := w.session(w.annKey, w.contact, "+14155550140")
	if s["type"] != "Messaging Inbound (SMS Direct)" {
		t.Errorf("got type %v, want Messaging Inbound (SMS Direct)", s["type"])
	}
	// A text to a number directsms does not know is verified with the tenant's Telnyx key and
	// kept as unrouted.
	body, h = w.fake.TelnyxInbound(w.contact, "+14155550998", "wrong number")
	expect(t, e.postWithHeaders("/webhooks/telnyx", body, h), http.StatusOK, "")
	if n := e.count(`SELECT count(*) FROM unrouted_messages WHERE provider = 'telnyx' AND reason = 'unknown_number'`); n != 1 {
		t.Errorf("got %d unrouted telnyx texts, want 1", n)
	}
}

func TestTelnyxWebhook_Signature(t *testing.T) {
	t.Parallel()
	stale := newTelnyxWorld(t, func() time.Time { return time.Now().Add(-6 * time.Minute) })
	staleBody, staleHeaders := stale.fake.TelnyxInbound(stale.contact, "+14155550140", "old")
	expect(t, stale.e.postWithHeaders("/webhooks/telnyx", staleBody, staleHeaders), http.StatusForbidden, "forbidden")

	w := newTelnyxWorld(t, time.Now)
	e := w.e
	body, h := w.fake.TelnyxInbound(w.contact, "+14155550140", "hello")
	_, otherKey, _ := ed25519.GenerateKey(nil)
	ts := h.Get(telnyx.TimestampHeader)
	wrongKey := base64.StdEncoding.EncodeToString(ed25519.Sign(otherKey, append([]byte(ts+"|"), body...)))
	for _, tc := range []struct {
		name   string
		body   []byte
		header func(http.Header)
	}{
		{"missing signature", body, func(h http.Header) { h.Del(telnyx.SignatureHeader) }},
		{"missing timestamp", body, func(h http.Header) { h.Del(telnyx.TimestampHeader) }},
		{"signed with another key", body, func(h http.Header) { h.Set(telnyx.SignatureHeader, wrongKey) }},
		{"tampered body", []byte(strings.Replace(string(body), "hello", "hellp", 1)), func(http.Header) {}},
		{"timestamp changed", body, func(h http.Header) { h.Set(telnyx.TimestampHeader, strconv.FormatInt(time.Now().Unix()-1, 10)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hh := h.Clone()
			tc.header(hh)
			expect(t, e.postWithHeaders("/webhooks/telnyx", tc.body, hh), http.StatusForbidden, "forbidden")
		})
	}
	// Telnyx's clock may also run ahead; six minutes ahead is refused too.
	ahead := newTelnyxWorld(t, func() time.Time { return time.Now().Add(6 * time.Minute) })
	aheadBody, aheadHeaders := ahead.fake.TelnyxInbound(ahead.contact, "+14155550140", "future")
	expect(t, ahead.e.postWithHeaders("/webhooks/telnyx", aheadBody, aheadHeaders), http.StatusForbidden, "forbidden")
	for _, x := range []*telnyxWorld{stale, w, ahead} {
		if n := x.e.stored(); n != 0 {
			t.Errorf("got %d stored texts, want none", n)
		}
	}
}

// sign signs body now as Telnyx signs a webhook, with the world's key.
func (w *telnyxWorld) sign(body []byte) http.Header {
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	sig := ed25519.Sign(w.key, append([]byte(ts+"|"), body...))
	return http.Header{"Content-Type": {"application/json"}, telnyx.TimestampHeader: {ts},
		telnyx.SignatureHeader: {base64.StdEncoding.EncodeToString(sig)}}
}

// A message id JSON can carry but PostgreSQL cannot store (a NUL) is a malformed webhook, signed
// or not: 400 naming the field, nothing stored.
func TestTelnyxWebhook_UnstorableMessageIDIsRefused(t *testing.T) {
	t.Parallel()
	w := newTelnyxWorld(t, time.Now)
	body, _ := w.fake.TelnyxInbound(w.contact, "+14155550140", "hello")
	var event map[string]any
	if err := json.Unmarshal(body, &event); err != nil {
		t.Fatal(err)
	}
	event["data"].(map[string]any)["payload"].(map[string]any)["id"] = "m\x00x"
	body, err := json.Marshal(event)
	if err != nil {
		t.Fatal(err)
	}
	r := w.e.postWithHeaders("/webhooks/telnyx", body, w.sign(body))
	if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "data.payload.id") {
		t.Errorf("got %d %s, want 400 naming data.payload.id", r.Status, r.Body)
	}
	if n := w.e.stored(); n != 0 {
		t.Errorf("got %d stored texts, want none", n)
	}
}

func TestTelnyxWebhook_MalformedBodies(t *testing.T) {
	t.Parallel()
	w := newTelnyxWorld(t, time.Now)
	e := w.e
	for _, tc := range []struct {
		name string
		body string
	}{
		{"invalid JSON", `{"data": `},
		{"invalid UTF-8", "{\"data\": {\"event_type\": \"message.received\", \"id\": \"\xff\"}}"},
		{"no event type", `{"data": {"id": "1"}}`},
		{"missing from", `{"data": {"event_type": "message.received", "id": "1", "payload": {"id": "m1", "to": [{"phone_number": "+14155550140"}], "text": "x"}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.postWithHeaders("/webhooks/telnyx", []byte(tc.body), http.Header{"Content-Type": {"application/json"}})
			if r.Status != http.StatusBadRequest || r.ErrorCode() != "invalid_request" {
				t.Errorf("got %d %s, want 400 invalid_request", r.Status, r.Body)
			}
		})
	}
	if n := e.stored(); n != 0 {
		t.Errorf("got %d stored texts, want none", n)
	}
}

func TestInbound_OfferAndTextReachTheOwnersEventStream(t *testing.T) {
	t.Parallel()
	w := newInboundWorld(t)
	e := w.e
	s := openStream(t, e.srv.URL, w.annKey, "", nil)
	defer s.close()
	e.text(w.acct, w.contact, w.annNumber, "Are you there?")
	got := map[string]string{}
	for len(got) < 2 {
		ev := s.next()
		if ev.Type != "" {
			got[ev.Type] = ev.Data
		}
	}
	if !strings.Contains(got["session.offered"], `"direct":true`) {
		t.Errorf("got session.offered %q, want a direct offer", got["session.offered"])
	}
	if !strings.Contains(got["message.received"], "Are you there?") {
		t.Errorf("got message.received %q, want the text", got["message.received"])
	}
}

func TestReroute_RefusesClosedAndAssignedSessions(t *testing.T) {
	t.Parallel()
	w := newInboundWorld(t)
	e := w.e
	e.text(w.acct, w.contact, w.annNumber, "one")
	e.text(w.acct, w.contactTwo, w.annNumber, "two")
	assigned := w.session(w.annKey, w.contact, w.annNumber)["id"].(string)
	closed := w.session(w.annKey, w.contactTwo, w.annNumber)["id"].(string)
	expect(t, e.do(http.MethodPost, "/v1/sessions/"+assigned+"/accept", w.annKey, nil), http.StatusOK, "")
	expect(t, e.do(http.MethodPost, "/v1/sessions/"+closed+"/close", e.adminKey, nil), http.StatusOK, "")
	for _, tc := range []struct {
		name, tenant, session, code string
	}{
		{"assigned", e.tenantID, assigned, "already_assigned"},
		{"closed", e.tenantID, closed, "session_closed"},
		{"another tenant's", e.adminID, assigned, "not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := e.routing.Reroute(t.Context(), tc.tenant, tc.session, "missed")
			if !apperr.HasCode(err, tc.code) {
				t.Errorf("got %v, want %s", err, tc.code)
			}
		})
	}
}
