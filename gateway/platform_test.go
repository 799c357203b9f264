package gateway_test

import (
	"net/http"
	"strings"
	"testing"
)

func TestRouter_UnknownRouteAndWrongMethodAnswerJSON(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cases := []struct {
		name, method, path string
		status             int
		code               string
	}{
		{"unknown top-level route", http.MethodGet, "/nope", http.StatusNotFound, "not_found"},
		{"unknown v1 route", http.MethodGet, "/v1/nope", http.StatusNotFound, "not_found"},
		{"wrong method on top-level route", http.MethodPost, "/healthz", http.StatusMethodNotAllowed, "method_not_allowed"},
		{"wrong method on v1 route", http.MethodGet, "/v1/api-keys/3f1b6a62-3b8e-4b43-9d57-6a1c4bd5d9a1", http.StatusMethodNotAllowed, "method_not_allowed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, tc.path, e.adminKey, nil)
			expect(t, r, tc.status, tc.code)
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("got Content-Type %q, want application/json", ct)
			}
		})
	}
}

func TestAuth_MissingBadAndRevokedKeysAre401(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	path := "/v1/users/" + e.adminID + "/api-keys"
	created := e.do(http.MethodPost, path, e.adminKey, nil)
	expect(t, created, http.StatusCreated, "")
	key := created.JSON(t)["key"].(string)
	keyID := created.JSON(t)["id"].(string)
	expect(t, e.do(http.MethodDelete, "/v1/api-keys/"+keyID, e.adminKey, nil), http.StatusNoContent, "")

	cases := []struct{ name, key string }{
		{"no key", ""},
		{"malformed key", "not-a-key"},
		{"unknown key", "dsk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
		{"revoked key", key},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			expect(t, e.do(http.MethodPost, path, tc.key, nil), http.StatusUnauthorized, "unauthenticated")
		})
	}
}

func TestAuth_AnotherTenantsIDsAre404(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, otherAdmin, otherKey := e.newTenant("Other")
	expect(t, e.do(http.MethodPost, "/v1/users/"+otherAdmin+"/api-keys", e.adminKey, nil), http.StatusNotFound, "not_found")
	created := e.do(http.MethodPost, "/v1/users/"+otherAdmin+"/api-keys", otherKey, nil)
	expect(t, created, http.StatusCreated, "")
	otherKeyID := created.JSON(t)["id"].(string)
	expect(t, e.do(http.MethodDelete, "/v1/api-keys/"+otherKeyID, e.adminKey, nil), http.StatusNotFound, "not_found")
	expect(t, e.do(http.MethodPost, "/v1/users/not-an-id/api-keys", e.adminKey, nil), http.StatusNotFound, "not_found")
}

func TestBody_OverTheLimitIs413(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	big := `{"x": "` + strings.Repeat("a", 3<<20) + `"}`
	expect(t, e.do(http.MethodPost, "/v1/users/"+e.adminID+"/api-keys", e.adminKey, big), http.StatusRequestEntityTooLarge, "body_too_large")
}

func TestReadyz_503WhileDatabaseUnreachableThen200(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	expect(t, e.do(http.MethodGet, "/readyz", "", nil), http.StatusOK, "")

	var name string
	if err := e.db.Get(&name, `SELECT current_database()`); err != nil {
		t.Fatalf("current database: %v", err)
	}
	admin := adminDB(t)
	mustExec(t, admin, `ALTER DATABASE `+name+` ALLOW_CONNECTIONS false`)
	mustExec(t, admin, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, name)
	expect(t, e.do(http.MethodGet, "/readyz", "", nil), http.StatusServiceUnavailable, "database_unavailable")
	expect(t, e.do(http.MethodGet, "/healthz", "", nil), http.StatusOK, "")

	mustExec(t, admin, `ALTER DATABASE `+name+` ALLOW_CONNECTIONS true`)
	expect(t, e.do(http.MethodGet, "/readyz", "", nil), http.StatusOK, "")
}

func TestMetrics_LabelledByRouteTemplate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.do(http.MethodPost, "/v1/users/"+e.adminID+"/api-keys", e.adminKey, nil)
	r := e.do(http.MethodGet, "/metrics", "", nil)
	expect(t, r, http.StatusOK, "")
	want := `directsms_http_requests_total{method="POST",route="/v1/users/{id}/api-keys",status="201"} 1`
	if !strings.Contains(string(r.Body), want) {
		t.Fatalf("metrics lack %q", want)
	}
}

func TestBody_UnknownFieldAndWrongTypeAre400(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	path := "/v1/users/" + e.adminID + "/api-keys"
	cases := []struct{ name, body, field string }{
		{"unknown field", `{"lable": "ci"}`, "lable"},
		{"wrong type", `{"label": 7}`, "label"},
		{"malformed JSON", `{"label": `, ""},
		{"trailing data", `{"label": "a"} {}`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(http.MethodPost, path, e.adminKey, tc.body)
			expect(t, r, http.StatusBadRequest, "invalid_request")
			if got := r.JSON(t)["error"].(map[string]any)["field"]; tc.field != "" && got != tc.field {
				t.Fatalf("got field %v, want %s", got, tc.field)
			}
		})
	}
}

func TestInput_TextPostgreSQLCannotStoreIs422NamingTheField(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cases := []struct {
		name, method, path, body, field string
	}{
		{"NUL in a body string", http.MethodPost, "/v1/teams", `{"name": "a\u0000b"}`, "name"},
		{"NUL in a query parameter", http.MethodGet, "/v1/users?q=a%00b", "", "q"},
		{"invalid UTF-8 in a query parameter", http.MethodGet, "/v1/users?q=%FF", "", "q"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body any
			if tc.body != "" {
				body = tc.body
			}
			r := e.do(tc.method, tc.path, e.adminKey, body)
			expect(t, r, http.StatusUnprocessableEntity, "invalid_text")
			if got := r.JSON(t)["error"].(map[string]any)["field"]; got != tc.field {
				t.Fatalf("got field %v, want %s", got, tc.field)
			}
		})
	}
}
