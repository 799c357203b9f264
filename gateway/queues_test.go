package gateway_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/jmoiron/sqlx"

	"directsms/directory"
	"directsms/sql/pg"
)

func TestQueues_TreeMembersAndConflicts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	team := e.team("Support")
	ann, _ := e.user("Ann", directory.RoleAgent, team)
	root := e.id(e.do(http.MethodPost, "/v1/queues", e.adminKey, map[string]any{"name": "Sales", "kind": "sms", "team_ids": []string{team}}), http.StatusCreated)
	child := e.do(http.MethodPost, "/v1/queues", e.adminKey, map[string]any{"name": "Sales East", "kind": "sms", "parent_id": root, "user_ids": []string{ann}})
	childID := e.id(child, http.StatusCreated)
	if m := child.JSON(t); m["parent_id"] != root || m["leaf"] != true || m["personal"] != false {
		t.Fatalf("got %v, want a leaf under Sales", m)
	}
	if got := e.do(http.MethodGet, "/v1/queues/"+root, e.adminKey, nil).JSON(t)["leaf"]; got != false {
		t.Fatalf("got leaf %v for a parent, want false", got)
	}

	cases := []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"parent as its own grandchild", "PATCH", "/v1/queues/" + root, map[string]any{"parent_id": childID}, 422, "queue_cycle"},
		{"ivr child of an sms queue", "POST", "/v1/queues", map[string]any{"name": "Phones", "kind": "ivr", "parent_id": root}, 422, "invalid_parent"},
		{"unknown kind", "POST", "/v1/queues", map[string]any{"name": "Mail", "kind": "email"}, 422, "invalid_kind"},
		{"kind never changes", "PATCH", "/v1/queues/" + root, map[string]any{"kind": "ivr"}, 422, "invalid_kind"},
		{"name taken, whatever the case", "POST", "/v1/queues", map[string]any{"name": "sales", "kind": "sms"}, 409, "queue_name_exists"},
		{"delete a parent", "DELETE", "/v1/queues/" + root, nil, 409, "queue_has_children"},
		{"unknown member user", "PUT", "/v1/queues/" + root + "/members", map[string]any{"user_ids": []string{"3f1b6a62-3b8e-4b43-9d57-6a1c4bd5d9a1"}}, 422, "unknown_user"},
		{"members of the wrong type", "PUT", "/v1/queues/" + root + "/members", `{"user_ids": "ann"}`, 400, "invalid_request"},
		{"bad kind filter", "GET", "/v1/queues?kind=email", nil, 422, "invalid_kind"},
		{"bad personal filter", "GET", "/v1/queues?personal=maybe", nil, 422, "invalid_boolean"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			expect(t, e.with(t).do(tc.method, tc.path, e.adminKey, tc.body), tc.status, tc.code)
		})
	}

	expect(t, e.do(http.MethodPatch, "/v1/users/"+ann, e.adminKey, map[string]any{"backup": map[string]any{"queue_id": childID}}), http.StatusOK, "")
	expect(t, e.do(http.MethodDelete, "/v1/queues/"+childID, e.adminKey, nil), http.StatusConflict, "queue_in_use")
	expect(t, e.do(http.MethodPatch, "/v1/users/"+ann, e.adminKey, map[string]any{"backup": nil}), http.StatusOK, "")
	expect(t, e.do(http.MethodDelete, "/v1/queues/"+childID, e.adminKey, nil), http.StatusNoContent, "")
	r := e.do(http.MethodGet, "/v1/queues/"+root, e.adminKey, nil)
	if got := r.JSON(t)["leaf"]; got != true {
		t.Fatalf("got leaf %v once the child is gone, want true", got)
	}

	r = e.do(http.MethodPut, "/v1/queues/"+root+"/members", e.adminKey, map[string]any{"user_ids": []string{ann}})
	expect(t, r, http.StatusOK, "")
	if m := r.JSON(t); len(m["team_ids"].([]any)) != 0 || len(m["user_ids"].([]any)) != 1 {
		t.Fatalf("got %v, want the members replaced by Ann alone", m)
	}
}

func TestQueues_PersonalQueueIsReadOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	team := e.team("Support")
	ann, _ := e.user("Ann", directory.RoleAgent, team)
	var personal string
	err := pg.InTx(context.Background(), e.db, func(tx *sqlx.Tx) error {
		var err error
		personal, err = directory.EnsurePersonalQueue(context.Background(), tx, e.tenantID, ann)
		return err
	})
	if err != nil {
		t.Fatalf("personal queue: %v", err)
	}
	r := e.do(http.MethodGet, "/v1/queues/"+personal, e.adminKey, nil)
	expect(t, r, http.StatusOK, "")
	if m := r.JSON(t); m["personal"] != true || m["personal_user_id"] != ann {
		t.Fatalf("got %v, want Ann's personal queue", m)
	}
	expect(t, e.do(http.MethodPut, "/v1/queues/"+personal+"/members", e.adminKey, map[string]any{"team_ids": []string{team}}), http.StatusConflict, "personal_queue")
	expect(t, e.do(http.MethodPatch, "/v1/queues/"+personal, e.adminKey, map[string]any{"name": "Mine"}), http.StatusConflict, "personal_queue")
	expect(t, e.do(http.MethodDelete, "/v1/queues/"+personal, e.adminKey, nil), http.StatusConflict, "personal_queue")
	expect(t, e.do(http.MethodPost, "/v1/queues", e.adminKey, map[string]any{"name": "Under", "kind": "sms", "parent_id": personal}), http.StatusUnprocessableEntity, "invalid_parent")
	r = e.do(http.MethodGet, "/v1/queues?personal=false", e.adminKey, nil)
	if got := len(r.JSON(t)["data"].([]any)); got != 0 {
		t.Fatalf("got %d shared queues, want 0", got)
	}
	r = e.do(http.MethodGet, "/v1/users/"+ann, e.adminKey, nil)
	if got := r.JSON(t)["personal_queue_id"]; got != personal {
		t.Fatalf("got personal_queue_id %v, want %s", got, personal)
	}
}
