package gateway_test

import (
	"net/http"
	"testing"

	"directsms/directory"
)

func TestUsers_ValidationErrorsAre422WithCodeAndField(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	team := e.team("Support")
	_, foreignAdmin, _ := e.newTenant("Other")
	valid := func(change map[string]any) map[string]any {
		body := map[string]any{"name": "Ann Agent", "email": "ann@acme.example", "team_ids": []string{team}}
		for k, v := range change {
			if v == nil {
				delete(body, k)
				continue
			}
			body[k] = v
		}
		return body
	}
	cases := []struct {
		name, code, field string
		body              map[string]any
	}{
		{"no team", "team_required", "team_ids", valid(map[string]any{"team_ids": []string{}})},
		{"team_ids left out", "team_required", "team_ids", valid(map[string]any{"team_ids": nil})},
		{"unknown team", "unknown_team", "team_ids", valid(map[string]any{"team_ids": []string{"3f1b6a62-3b8e-4b43-9d57-6a1c4bd5d9a1"}})},
		{"team id that is not an id", "unknown_team", "team_ids", valid(map[string]any{"team_ids": []string{"support"}})},
		{"primary team not among the teams", "invalid_primary_team", "primary_team_id", valid(map[string]any{"primary_team_id": "3f1b6a62-3b8e-4b43-9d57-6a1c4bd5d9a1"})},
		{"bad email", "invalid_email", "email", valid(map[string]any{"email": "ann at acme"})},
		{"email with a display name", "invalid_email", "email", valid(map[string]any{"email": "Ann <ann@acme.example>"})},
		{"empty name", "invalid_name", "name", valid(map[string]any{"name": "  "})},
		{"unknown role", "invalid_role", "role", valid(map[string]any{"role": "owner"})},
		{"bad time zone", "invalid_timezone", "timezone", valid(map[string]any{"timezone": "Mars/Olympus"})},
		{"Local is no IANA zone", "invalid_timezone", "timezone", valid(map[string]any{"timezone": "Local"})},
		{"invalid personal number", "invalid_number", "personal_number", valid(map[string]any{"personal_number": "555-0100"})},
		{"letters for a personal number", "invalid_number", "personal_number", valid(map[string]any{"personal_number": "call me"})},
		{"extension with letters", "invalid_extension", "extension", valid(map[string]any{"extension": "12a"})},
		{"status set by thresholds", "invalid_status", "status", valid(map[string]any{"status": "missed_chat"})},
		{"unknown status", "invalid_status", "status", valid(map[string]any{"status": "busy"})},
		{"backup with both user and queue", "invalid_backup", "backup", valid(map[string]any{"backup": map[string]any{"user_id": e.adminID, "queue_id": e.adminID}})},
		{"empty backup", "invalid_backup", "backup", valid(map[string]any{"backup": map[string]any{}})},
		{"backup user of another tenant", "unknown_user", "backup.user_id", valid(map[string]any{"backup": map[string]any{"user_id": foreignAdmin}})},
		{"unknown backup queue", "unknown_queue", "backup.queue_id", valid(map[string]any{"backup": map[string]any{"queue_id": "3f1b6a62-3b8e-4b43-9d57-6a1c4bd5d9a1"}})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(http.MethodPost, "/v1/users", e.adminKey, tc.body)
			expect(t, r, http.StatusUnprocessableEntity, tc.code)
			if got := r.JSON(t)["error"].(map[string]any)["field"]; got != tc.field {
				t.Fatalf("got field %v, want %s", got, tc.field)
			}
		})
	}
}

func TestUsers_DuplicateEmailIs409AndReusableAfterDeactivation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	team := e.team("Support")
	body := map[string]any{"name": "Ann", "email": "ann@acme.example", "team_ids": []string{team}}
	first := e.id(e.do(http.MethodPost, "/v1/users", e.adminKey, body), http.StatusCreated)
	body["email"] = "ANN@acme.example"
	r := e.do(http.MethodPost, "/v1/users", e.adminKey, body)
	expect(t, r, http.StatusConflict, "email_exists")
	if got := r.JSON(t)["error"].(map[string]any)["field"]; got != "email" {
		t.Fatalf("got field %v, want email", got)
	}
	other := e.id(e.do(http.MethodPost, "/v1/users", e.adminKey, map[string]any{"name": "Bob", "email": "bob@acme.example", "team_ids": []string{team}}), http.StatusCreated)
	expect(t, e.do(http.MethodPatch, "/v1/users/"+other, e.adminKey, map[string]any{"email": "ann@ACME.example"}), http.StatusConflict, "email_exists")

	expect(t, e.do(http.MethodDelete, "/v1/users/"+first, e.adminKey, nil), http.StatusNoContent, "")
	e.id(e.do(http.MethodPost, "/v1/users", e.adminKey, body), http.StatusCreated)
	_, foreignKey := func() (string, string) { _, a, k := e.newTenant("Other"); return a, k }()
	expect(t, e.do(http.MethodPost, "/v1/users", foreignKey, map[string]any{"name": "Ann", "email": "ann@acme.example", "team_ids": []string{team}}), http.StatusUnprocessableEntity, "unknown_team")
}

func TestUsers_PersonalNumberNormalizedWithTenantRegion(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	team := e.team("Support")
	create := func(email, number string) response {
		return e.do(http.MethodPost, "/v1/users", e.adminKey, map[string]any{"name": "N", "email": email, "team_ids": []string{team}, "personal_number": number})
	}
	r := create("us@acme.example", "(415) 555-0171")
	expect(t, r, http.StatusCreated, "")
	if got := r.JSON(t)["personal_number"]; got != "+14155550171" {
		t.Fatalf("got %v, want +14155550171", got)
	}
	expect(t, e.do(http.MethodPatch, "/v1/settings", e.adminKey, map[string]any{"default_region": "GB"}), http.StatusOK, "")
	r = create("gb@acme.example", "020 7946 0958")
	expect(t, r, http.StatusCreated, "")
	if got := r.JSON(t)["personal_number"]; got != "+442079460958" {
		t.Fatalf("got %v, want +442079460958 read in GB", got)
	}
	id := r.JSON(t)["id"].(string)
	r = e.do(http.MethodPatch, "/v1/users/"+id, e.adminKey, map[string]any{"personal_number": nil, "extension": "204", "timezone": "Europe/London"})
	expect(t, r, http.StatusOK, "")
	if m := r.JSON(t); m["personal_number"] != nil || m["extension"] != "204" || m["timezone"] != "Europe/London" {
		t.Fatalf("got %v, want number cleared, extension 204, zone Europe/London", m)
	}
	r = e.do(http.MethodPost, "/v1/users", e.adminKey, map[string]any{"name": "X", "email": "x@acme.example", "team_ids": []string{team}, "extension": "204"})
	expect(t, r, http.StatusConflict, "extension_exists")
}

func TestUsers_DeactivateKeepsTheRowAndStopsTheKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	team := e.team("Support")
	ann, annKey := e.user("Ann", directory.RoleAgent, team)
	expect(t, e.do(http.MethodGet, "/v1/users/"+ann, annKey, nil), http.StatusOK, "")
	expect(t, e.do(http.MethodDelete, "/v1/users/"+ann, e.adminKey, nil), http.StatusNoContent, "")
	expect(t, e.do(http.MethodDelete, "/v1/users/"+ann, e.adminKey, nil), http.StatusNoContent, "")
	expect(t, e.do(http.MethodGet, "/v1/users/"+ann, annKey, nil), http.StatusUnauthorized, "unauthenticated")

	r := e.do(http.MethodGet, "/v1/users/"+ann, e.adminKey, nil)
	expect(t, r, http.StatusOK, "")
	if m := r.JSON(t); m["active"] != false || m["deactivated_at"] == nil || m["status"] != "offline" {
		t.Fatalf("got %v, want inactive, deactivated_at set, offline", m)
	}
	list := e.do(http.MethodGet, "/v1/users", e.adminKey, nil).JSON(t)["data"].([]any)
	for _, u := range list {
		if u.(map[string]any)["id"] == ann {
			t.Fatalf("got the deactivated user in the default list")
		}
	}
	all := e.do(http.MethodGet, "/v1/users?include_inactive=true", e.adminKey, nil).JSON(t)["data"].([]any)
	if len(all) != len(list)+1 {
		t.Fatalf("got %d with include_inactive, want %d", len(all), len(list)+1)
	}
	expect(t, e.do(http.MethodPatch, "/v1/users/"+ann, e.adminKey, map[string]any{"name": "Ann B"}), http.StatusConflict, "user_inactive")
	expect(t, e.do(http.MethodPut, "/v1/users/"+ann+"/status", e.adminKey, map[string]any{"status": "available"}), http.StatusConflict, "user_inactive")
	var changes int
	if err := e.db.Get(&changes, `SELECT count(*) FROM user_status_changes WHERE user_id = $1`, ann); err != nil || changes != 2 {
		t.Fatalf("got %d timeline rows, %v; want 2 (created, deactivated)", changes, err)
	}
}

func TestUsers_LastAdminCannotBeRemovedOrDemoted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	expect(t, e.do(http.MethodDelete, "/v1/users/"+e.adminID, e.adminKey, nil), http.StatusConflict, "last_admin")
	expect(t, e.do(http.MethodPatch, "/v1/users/"+e.adminID, e.adminKey, map[string]any{"role": "agent"}), http.StatusConflict, "last_admin")
	team := e.team("Ops")
	second, _ := e.user("Second Admin", directory.RoleAdmin, team)
	expect(t, e.do(http.MethodPatch, "/v1/users/"+e.adminID, e.adminKey, map[string]any{"role": "supervisor"}), http.StatusOK, "")
	expect(t, e.do(http.MethodDelete, "/v1/users/"+second, e.adminKey, nil), http.StatusForbidden, "forbidden")
}

func TestUsers_PatchTeamsMovesPrimaryAndListsPaginate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b, c := e.team("A"), e.team("B"), e.team("C")
	id, _ := e.user("Ann", directory.RoleAgent, a, b)
	r := e.do(http.MethodPatch, "/v1/users/"+id, e.adminKey, map[string]any{"team_ids": []string{c, b}})
	expect(t, r, http.StatusOK, "")
	if got := r.JSON(t)["primary_team_id"]; got != c {
		t.Fatalf("got primary %v, want %s (the first remaining team)", got, c)
	}
	r = e.do(http.MethodPatch, "/v1/users/"+id, e.adminKey, map[string]any{"primary_team_id": b})
	expect(t, r, http.StatusOK, "")
	if got := r.JSON(t)["primary_team_id"]; got != b {
		t.Fatalf("got primary %v, want %s", got, b)
	}
	expect(t, e.do(http.MethodPatch, "/v1/users/"+id, e.adminKey, map[string]any{"primary_team_id": a}), http.StatusUnprocessableEntity, "invalid_primary_team")
	expect(t, e.do(http.MethodPatch, "/v1/users/"+id, e.adminKey, map[string]any{"team_ids": []string{}}), http.StatusUnprocessableEntity, "team_required")
	expect(t, e.do(http.MethodPatch, "/v1/users/"+id, e.adminKey, map[string]any{"backup": map[string]any{"user_id": id}}), http.StatusUnprocessableEntity, "invalid_backup")
	r = e.do(http.MethodPatch, "/v1/users/"+id, e.adminKey, map[string]any{"backup": map[string]any{"user_id": e.adminID}})
	expect(t, r, http.StatusOK, "")
	if got := r.JSON(t)["backup"].(map[string]any)["user_id"]; got != e.adminID {
		t.Fatalf("got backup %v, want the admin", got)
	}
	r = e.do(http.MethodPatch, "/v1/users/"+id, e.adminKey, map[string]any{"backup": nil})
	expect(t, r, http.StatusOK, "")
	if got := r.JSON(t)["backup"]; got != nil {
		t.Fatalf("got backup %v, want cleared", got)
	}
	expect(t, e.do(http.MethodPatch, "/v1/users/"+id, e.adminKey, `{"backup": {"user": "x"}}`), http.StatusBadRequest, "invalid_request")

	for i := 0; i < 3; i++ {
		e.user(string(rune('P'+i))+" Pager", directory.RoleAgent, a)
	}
	seen := map[string]bool{}
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatalf("got more than 10 pages of 2, want 3")
		}
		r := e.do(http.MethodGet, "/v1/users?limit=2&cursor="+cursor, e.adminKey, nil)
		expect(t, r, http.StatusOK, "")
		m := r.JSON(t)
		for _, u := range m["data"].([]any) {
			seen[u.(map[string]any)["id"].(string)] = true
		}
		if cursor = m["next_cursor"].(string); cursor == "" {
			break
		}
	}
	if len(seen) != 5 {
		t.Fatalf("got %d users over the pages, want 5", len(seen))
	}
	expect(t, e.do(http.MethodGet, "/v1/users?cursor=nope", e.adminKey, nil), http.StatusUnprocessableEntity, "invalid_cursor")
	filters := []struct {
		query string
		want  int
	}{
		{"team_id=" + a, 3},
		{"role=agent", 4},
		{"role=admin&status=offline", 1},
		{"status=available&team_id=" + b, 1},
	}
	for _, f := range filters {
		r = e.do(http.MethodGet, "/v1/users?"+f.query, e.adminKey, nil)
		expect(t, r, http.StatusOK, "")
		if got := len(r.JSON(t)["data"].([]any)); got != f.want {
			t.Fatalf("got %d users for %s, want %d", got, f.query, f.want)
		}
	}
	expect(t, e.do(http.MethodGet, "/v1/users?role=owner", e.adminKey, nil), http.StatusUnprocessableEntity, "invalid_role")
	expect(t, e.do(http.MethodGet, "/v1/users?limit=0", e.adminKey, nil), http.StatusUnprocessableEntity, "invalid_limit")
}
