package gateway_test

import (
	"net/http"
	"testing"
)

func TestInbound_AgentNumberOffersTheOwnerDirectly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	acct := e.twilioAccount(e.tenantID)
	team := e.team(e.tenantID, "Sales")
	agent, key := e.user(e.tenantID, "Ann", "agent", "available", team)
	e.agentNumber(e.tenantID, acct.ID, agent, "+14155550100")

	e.text(acct, "+14155550199", "+14155550100", "Hi, is anyone there?")

	r := e.do(http.MethodGet, "/v1/sessions", key, nil)
	expect(t, r, http.StatusOK, "")
	data := r.JSON(t)["data"].([]any)
	if len(data) != 1 {
		t.Fatalf("got %d sessions, want 1: %s", len(data), r.Body)
	}
	s := data[0].(map[string]any)
	if s["type"] != "Messaging Inbound (SMS Direct)" {
		t.Errorf("got type %v, want Messaging Inbound (SMS Direct)", s["type"])
	}
	if got := e.count(`SELECT count(*) FROM offers WHERE user_id = $1 AND direct AND status = 'pending'`, agent); got != 1 {
		t.Errorf("got %d pending direct offers to the owner, want 1", got)
	}
	if got := e.count(`SELECT count(*) FROM events WHERE user_id = $1 AND type = 'session.offered'`, agent); got != 1 {
		t.Errorf("got %d session.offered events to the owner, want 1", got)
	}
	r = e.do(http.MethodGet, "/v1/sessions/"+s["id"].(string), key, nil)
	expect(t, r, http.StatusOK, "")
	t.Logf("%s", r.Body)
}
