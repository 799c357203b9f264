package gateway_test

import (
	"net/http"
	"testing"

	"directsms/directory"
)

func TestTeams_LastTeamIsKeptAndPrimaryMoves(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	zulu, alpha, solo := e.team("Zulu"), e.team("Alpha"), e.team("Solo")
	ann, _ := e.user("Ann", directory.RoleAgent, zulu, solo, alpha)
	bob, _ := e.user("Bob", directory.RoleAgent, solo)

	expect(t, e.do(http.MethodDelete, "/v1/teams/"+solo+"/members/"+bob, e.adminKey, nil), http.StatusConflict, "last_team")
	expect(t, e.do(http.MethodDelete, "/v1/teams/"+solo, e.adminKey, nil), http.StatusConflict, "last_team")

	expect(t, e.do(http.MethodDelete, "/v1/teams/"+zulu+"/members/"+ann, e.adminKey, nil), http.StatusNoContent, "")
	u := e.do(http.MethodGet, "/v1/users/"+ann, e.adminKey, nil).JSON(t)
	if u["primary_team_id"] != alpha {
		t.Fatalf("got primary %v, want Alpha (the first remaining team by name)", u["primary_team_id"])
	}
	expect(t, e.do(http.MethodDelete, "/v1/teams/"+zulu+"/members/"+ann, e.adminKey, nil), http.StatusNotFound, "not_found")

	r := e.do(http.MethodPut, "/v1/teams/"+zulu+"/members/"+bob, e.adminKey, nil)
	expect(t, r, http.StatusOK, "")
	if got := len(r.JSON(t)["team_ids"].([]any)); got != 2 {
		t.Fatalf("got %d teams for Bob, want 2", got)
	}
	expect(t, e.do(http.MethodPut, "/v1/teams/"+zulu+"/members/"+bob, e.adminKey, nil), http.StatusOK, "")
	expect(t, e.do(http.MethodDelete, "/v1/teams/"+solo, e.adminKey, nil), http.StatusNoContent, "")
	u = e.do(http.MethodGet, "/v1/users/"+bob, e.adminKey, nil).JSON(t)
	if u["primary_team_id"] != zulu || len(u["team_ids"].([]any)) != 1 {
		t.Fatalf("got %v, want Bob left with Zulu as primary", u)
	}
	expect(t, e.do(http.MethodGet, "/v1/teams/"+solo, e.adminKey, nil), http.StatusNotFound, "not_found")

	expect(t, e.do(http.MethodPost, "/v1/teams", e.adminKey, map[string]any{"name": "Alpha"}), http.StatusConflict, "team_name_exists")
	expect(t, e.do(http.MethodPatch, "/v1/teams/"+zulu, e.adminKey, map[string]any{"name": "Alpha"}), http.StatusConflict, "team_name_exists")
	expect(t, e.do(http.MethodPost, "/v1/teams", e.adminKey, map[string]any{"name": " "}), http.StatusUnprocessableEntity, "invalid_name")
	r = e.do(http.MethodGet, "/v1/teams/"+alpha, e.adminKey, nil)
	if got := r.JSON(t)["member_count"]; got != 1.0 {
		t.Fatalf("got member_count %v, want 1", got)
	}
	r = e.do(http.MethodGet, "/v1/teams?user_id="+ann, e.adminKey, nil)
	if got := len(r.JSON(t)["data"].([]any)); got != 1 {
		t.Fatalf("got %d teams for Ann, want 1", got)
	}
}

func TestStatus_AgentSetsOwnAndTimelineKeepsIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	team := e.team("Support")
	ann, annKey := e.user("Ann", directory.RoleAgent, team)
	r := e.do(http.MethodPut, "/v1/users/"+ann+"/status", annKey, map[string]any{"status": "away", "reason": "lunch"})
	expect(t, r, http.StatusOK, "")
	if got := r.JSON(t)["status"]; got != "away" {
		t.Fatalf("got status %v, want away", got)
	}
	expect(t, e.do(http.MethodPut, "/v1/users/"+ann+"/status", annKey, map[string]any{"status": "away"}), http.StatusOK, "")
	expect(t, e.do(http.MethodPut, "/v1/users/"+ann+"/status", annKey, map[string]any{"status": "unresponsive"}), http.StatusUnprocessableEntity, "invalid_status")
	expect(t, e.do(http.MethodPut, "/v1/users/"+ann+"/status", annKey, map[string]any{}), http.StatusUnprocessableEntity, "invalid_status")
	expect(t, e.do(http.MethodPatch, "/v1/users/"+ann, annKey, map[string]any{"status": "available"}), http.StatusForbidden, "forbidden")
	expect(t, e.do(http.MethodGet, "/v1/users/"+ann+"/status", annKey, nil), http.StatusMethodNotAllowed, "method_not_allowed")
	expect(t, e.do(http.MethodPost, "/v1/settings", annKey, nil), http.StatusMethodNotAllowed, "method_not_allowed")

	var rows []struct {
		Status string `db:"status"`
		Reason string `db:"reason"`
		By     string `db:"changed_by"`
	}
	if err := e.db.Select(&rows, `SELECT status, reason, CAST(changed_by AS text) AS changed_by FROM user_status_changes WHERE user_id = $1 ORDER BY id`, ann); err != nil {
		t.Fatalf("read timeline: %v", err)
	}
	if len(rows) != 2 || rows[1].Status != "away" || rows[1].Reason != "lunch" || rows[1].By != ann {
		t.Fatalf("got timeline %+v, want created then away/lunch by Ann", rows)
	}
}
