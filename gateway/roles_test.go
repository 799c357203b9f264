package gateway_test

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"directsms/directory"
)

// The actors of the role matrix, each acting on a target user who is an agent in team A (and
// in team X, so a team membership can be removed).
const (
	asAdmin            = iota // the tenant's admin
	asSupervisorOfTeam        // a supervisor of team A, the target's team
	asSupervisorOther         // a supervisor of team B only
	asAgentOnOther            // another agent of team A, acting on the target
	asAgentOnItself           // the target itself
	actorCount
)

var actorNames = [actorCount]string{"admin", "supervisor of the user's team", "supervisor of another team", "agent on another user", "agent on itself"}

// matrix is the role matrix's tenant: teams A, B and X and the acting users' keys.
type matrix struct {
	*env
	teamA, teamB, teamX string
	supA, supB, agentA  string // keys
	seq                 atomic.Int64
}

// target is what one request acts on: a fresh agent in teams A and X, with a key.
type target struct {
	user, key string
}

func (m *matrix) unique(prefix string) string {
	return fmt.Sprintf("%s %d", prefix, m.seq.Add(1))
}

func (m *matrix) target(t *testing.T) target {
	t.Helper()
	e := m.with(t)
	id, key := e.user(m.unique("Target"), directory.RoleAgent, m.teamA, m.teamX)
	return target{user: id, key: key}
}

func (m *matrix) queue(t *testing.T) string {
	t.Helper()
	e := m.with(t)
	return e.id(e.do(http.MethodPost, "/v1/queues", e.adminKey, map[string]any{"name": m.unique("Queue"), "kind": "sms", "team_ids": []string{m.teamA}}), http.StatusCreated)
}

func (m *matrix) key(actor int, tg target) string {
	return [actorCount]string{m.adminKey, m.supA, m.supB, m.agentA, tg.key}[actor]
}

func TestRoleMatrix_EveryDirectoryRoute(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := &matrix{env: e}
	m.teamA, m.teamB, m.teamX = e.team("A"), e.team("B"), e.team("X")
	_, m.supA = e.user("Sue A", directory.RoleSupervisor, m.teamA)
	_, m.supB = e.user("Sam B", directory.RoleSupervisor, m.teamB)
	_, m.agentA = e.user("Art A", directory.RoleAgent, m.teamA)

	const (
		ok, created, none, forbidden, notFound = http.StatusOK, http.StatusCreated, http.StatusNoContent, http.StatusForbidden, http.StatusNotFound
	)
	type request struct {
		method, path string
		body         any
	}
	cases := []struct {
		route string
		req   func(t *testing.T, tg target) request
		want  [actorCount]int
	}{
		{"GET /v1/settings", func(*testing.T, target) request { return request{"GET", "/v1/settings", nil} },
			[actorCount]int{ok, ok, ok, ok, ok}},
		{"PATCH /v1/settings", func(*testing.T, target) request {
			return request{"PATCH", "/v1/settings", map[string]any{"help_text": "Reply STOP to opt out."}}
		}, [actorCount]int{ok, forbidden, forbidden, forbidden, forbidden}},
		{"POST /v1/users", func(*testing.T, target) request {
			return request{"POST", "/v1/users", map[string]any{"name": "New", "email": fmt.Sprintf("new%d@acme.example", m.seq.Add(1)), "team_ids": []string{m.teamA}}}
		}, [actorCount]int{created, created, forbidden, forbidden, forbidden}},
		{"GET /v1/users", func(*testing.T, target) request { return request{"GET", "/v1/users", nil} },
			[actorCount]int{ok, ok, ok, ok, ok}},
		{"GET /v1/users/{id}", func(_ *testing.T, tg target) request { return request{"GET", "/v1/users/" + tg.user, nil} },
			[actorCount]int{ok, ok, ok, ok, ok}},
		{"PATCH /v1/users/{id}", func(_ *testing.T, tg target) request {
			return request{"PATCH", "/v1/users/" + tg.user, map[string]any{"name": "Renamed", "timezone": "Europe/Paris"}}
		}, [actorCount]int{ok, ok, forbidden, forbidden, forbidden}},
		{"DELETE /v1/users/{id}", func(_ *testing.T, tg target) request { return request{"DELETE", "/v1/users/" + tg.user, nil} },
			[actorCount]int{none, none, forbidden, forbidden, forbidden}},
		{"GET /v1/users/{id}/channels", func(_ *testing.T, tg target) request {
			return request{"GET", "/v1/users/" + tg.user + "/channels", nil}
		}, [actorCount]int{ok, ok, ok, ok, ok}},
		{"PATCH /v1/users/{id}/channels/{channel}", func(_ *testing.T, tg target) request {
			return request{"PATCH", "/v1/users/" + tg.user + "/channels/sms", map[string]any{"capacity": 6}}
		}, [actorCount]int{ok, ok, forbidden, forbidden, forbidden}},
		{"PUT /v1/users/{id}/status", func(_ *testing.T, tg target) request {
			return request{"PUT", "/v1/users/" + tg.user + "/status", map[string]any{"status": "away"}}
		}, [actorCount]int{ok, ok, forbidden, forbidden, ok}},
		{"POST /v1/users/{id}/api-keys", func(_ *testing.T, tg target) request {
			return request{"POST", "/v1/users/" + tg.user + "/api-keys", nil}
		}, [actorCount]int{created, forbidden, forbidden, forbidden, created}},
		{"DELETE /v1/api-keys/{id}", func(t *testing.T, tg target) request {
			r := m.with(t).do("POST", "/v1/users/"+tg.user+"/api-keys", tg.key, nil)
			return request{"DELETE", "/v1/api-keys/" + m.with(t).id(r, created), nil}
		}, [actorCount]int{none, notFound, notFound, notFound, none}},
		{"POST /v1/teams", func(*testing.T, target) request {
			return request{"POST", "/v1/teams", map[string]any{"name": m.unique("Team")}}
		}, [actorCount]int{created, forbidden, forbidden, forbidden, forbidden}},
		{"GET /v1/teams", func(*testing.T, target) request { return request{"GET", "/v1/teams", nil} },
			[actorCount]int{ok, ok, ok, ok, ok}},
		{"GET /v1/teams/{id}", func(*testing.T, target) request { return request{"GET", "/v1/teams/" + m.teamA, nil} },
			[actorCount]int{ok, ok, ok, ok, ok}},
		{"PATCH /v1/teams/{id}", func(*testing.T, target) request {
			return request{"PATCH", "/v1/teams/" + m.teamA, map[string]any{"name": m.unique("A")}}
		}, [actorCount]int{ok, ok, forbidden, forbidden, forbidden}},
		{"DELETE /v1/teams/{id}", func(t *testing.T, _ target) request {
			e := m.with(t)
			return request{"DELETE", "/v1/teams/" + e.team(m.unique("Doomed")), nil}
		}, [actorCount]int{none, forbidden, forbidden, forbidden, forbidden}},
		{"PUT /v1/teams/{id}/members/{user_id}", func(_ *testing.T, tg target) request {
			return request{"PUT", "/v1/teams/" + m.teamA + "/members/" + tg.user, nil}
		}, [actorCount]int{ok, ok, forbidden, forbidden, forbidden}},
		{"DELETE /v1/teams/{id}/members/{user_id}", func(_ *testing.T, tg target) request {
			return request{"DELETE", "/v1/teams/" + m.teamA + "/members/" + tg.user, nil}
		}, [actorCount]int{none, none, forbidden, forbidden, forbidden}},
		{"POST /v1/queues", func(*testing.T, target) request {
			return request{"POST", "/v1/queues", map[string]any{"name": m.unique("Q"), "kind": "sms", "team_ids": []string{m.teamA}}}
		}, [actorCount]int{created, created, forbidden, forbidden, forbidden}},
		{"GET /v1/queues", func(*testing.T, target) request { return request{"GET", "/v1/queues", nil} },
			[actorCount]int{ok, ok, ok, ok, ok}},
		{"GET /v1/queues/{id}", func(t *testing.T, _ target) request { return request{"GET", "/v1/queues/" + m.queue(t), nil} },
			[actorCount]int{ok, ok, ok, ok, ok}},
		{"PATCH /v1/queues/{id}", func(t *testing.T, _ target) request {
			return request{"PATCH", "/v1/queues/" + m.queue(t), map[string]any{"name": m.unique("Renamed")}}
		}, [actorCount]int{ok, ok, forbidden, forbidden, forbidden}},
		{"DELETE /v1/queues/{id}", func(t *testing.T, _ target) request { return request{"DELETE", "/v1/queues/" + m.queue(t), nil} },
			[actorCount]int{none, none, forbidden, forbidden, forbidden}},
		{"PUT /v1/queues/{id}/members", func(t *testing.T, tg target) request {
			return request{"PUT", "/v1/queues/" + m.queue(t) + "/members", map[string]any{"team_ids": []string{m.teamA}, "user_ids": []string{tg.user}}}
		}, [actorCount]int{ok, ok, forbidden, forbidden, forbidden}},
	}
	for _, tc := range cases {
		t.Run(tc.route, func(t *testing.T) {
			t.Parallel()
			for actor := range actorCount {
				t.Run(actorNames[actor], func(t *testing.T) {
					tg := m.target(t)
					req := tc.req(t, tg)
					r := m.with(t).do(req.method, req.path, m.key(actor, tg), req.body)
					if r.Status != tc.want[actor] {
						t.Fatalf("got %d %s, want %d", r.Status, r.Body, tc.want[actor])
					}
				})
			}
		})
	}
}

func TestRoles_SupervisorsCannotMakeOrChangeAdmins(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	team := e.team("A")
	other := e.team("B")
	_, sup := e.user("Sue", directory.RoleSupervisor, team)
	agent, _ := e.user("Art", directory.RoleAgent, team)
	admin, _ := e.user("Ada", directory.RoleAdmin, team)
	cases := []struct {
		name, method, path string
		body               any
		status             int
	}{
		{"create an admin", "POST", "/v1/users", map[string]any{"name": "X", "email": "x@acme.example", "role": "admin", "team_ids": []string{team}}, http.StatusForbidden},
		{"create a supervisor in own team", "POST", "/v1/users", map[string]any{"name": "Y", "email": "y@acme.example", "role": "supervisor", "team_ids": []string{team}}, http.StatusCreated},
		{"create a user in another team too", "POST", "/v1/users", map[string]any{"name": "Z", "email": "z@acme.example", "team_ids": []string{team, other}}, http.StatusForbidden},
		{"raise an agent to admin", "PATCH", "/v1/users/" + agent, map[string]any{"role": "admin"}, http.StatusForbidden},
		{"raise an agent to supervisor", "PATCH", "/v1/users/" + agent, map[string]any{"role": "supervisor"}, http.StatusOK},
		{"add a team that is not theirs", "PATCH", "/v1/users/" + agent, map[string]any{"team_ids": []string{team, other}}, http.StatusForbidden},
		{"rename an admin of their team", "PATCH", "/v1/users/" + admin, map[string]any{"name": "Ada B"}, http.StatusForbidden},
		{"set an admin's status", "PUT", "/v1/users/" + admin + "/status", map[string]any{"status": "away"}, http.StatusForbidden},
		{"remove an admin from their team", "DELETE", "/v1/teams/" + team + "/members/" + admin, nil, http.StatusForbidden},
		{"create a queue with no team", "POST", "/v1/queues", map[string]any{"name": "Loose", "kind": "sms"}, http.StatusForbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			expect(t, e.with(t).do(tc.method, tc.path, sup, tc.body), tc.status, "")
		})
	}
}

func TestDirectory_AnotherTenantsIDsAre404(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	team := e.team("Ours")
	ours, _ := e.user("Ann", directory.RoleAgent, team)
	otherTenant, otherAdmin, otherKey := e.newTenant("Other")
	_ = otherTenant
	otherTeam := e.id(e.do("POST", "/v1/teams", otherKey, map[string]any{"name": "Theirs"}), http.StatusCreated)
	otherQueue := e.id(e.do("POST", "/v1/queues", otherKey, map[string]any{"name": "Theirs", "kind": "sms"}), http.StatusCreated)
	cases := []struct {
		method, path string
		body         any
	}{
		{"GET", "/v1/users/" + otherAdmin, nil},
		{"PATCH", "/v1/users/" + otherAdmin, map[string]any{"name": "x"}},
		{"DELETE", "/v1/users/" + otherAdmin, nil},
		{"GET", "/v1/users/" + otherAdmin + "/channels", nil},
		{"PATCH", "/v1/users/" + otherAdmin + "/channels/sms", map[string]any{"enabled": false}},
		{"PUT", "/v1/users/" + otherAdmin + "/status", map[string]any{"status": "away"}},
		{"POST", "/v1/users/" + otherAdmin + "/api-keys", nil},
		{"GET", "/v1/teams/" + otherTeam, nil},
		{"PATCH", "/v1/teams/" + otherTeam, map[string]any{"name": "x"}},
		{"DELETE", "/v1/teams/" + otherTeam, nil},
		{"PUT", "/v1/teams/" + otherTeam + "/members/" + ours, nil},
		{"PUT", "/v1/teams/" + team + "/members/" + otherAdmin, nil},
		{"DELETE", "/v1/teams/" + team + "/members/" + otherAdmin, nil},
		{"GET", "/v1/queues/" + otherQueue, nil},
		{"PATCH", "/v1/queues/" + otherQueue, map[string]any{"name": "x"}},
		{"DELETE", "/v1/queues/" + otherQueue, nil},
		{"PUT", "/v1/queues/" + otherQueue + "/members", map[string]any{"user_ids": []string{}}},
		{"GET", "/v1/users/not-an-id", nil},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			expect(t, e.with(t).do(tc.method, tc.path, e.adminKey, tc.body), http.StatusNotFound, "not_found")
		})
	}
	refs := []struct {
		name, method, path, code, field string
		body                            any
	}{
		{"their team as a member", "POST", "/v1/queues", "unknown_team", "team_ids", map[string]any{"name": "Q1", "kind": "sms", "team_ids": []string{otherTeam}}},
		{"their user as a member", "POST", "/v1/queues", "unknown_user", "user_ids", map[string]any{"name": "Q2", "kind": "sms", "user_ids": []string{otherAdmin}}},
		{"their queue as a parent", "POST", "/v1/queues", "unknown_queue", "parent_id", map[string]any{"name": "Q3", "kind": "sms", "parent_id": otherQueue}},
		{"their queue as a backup", "PATCH", "/v1/users/" + ours, "unknown_queue", "backup.queue_id", map[string]any{"backup": map[string]any{"queue_id": otherQueue}}},
		{"their team for a user", "PATCH", "/v1/users/" + ours, "unknown_team", "team_ids", map[string]any{"team_ids": []string{otherTeam}}},
	}
	for _, tc := range refs {
		t.Run(tc.name, func(t *testing.T) {
			r := e.with(t).do(tc.method, tc.path, e.adminKey, tc.body)
			expect(t, r, http.StatusUnprocessableEntity, tc.code)
			if got := r.JSON(t)["error"].(map[string]any)["field"]; got != tc.field {
				t.Fatalf("got field %v, want %s", got, tc.field)
			}
		})
	}
}
