package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"directsms/deflection"
	"directsms/directory"
	"directsms/gateway"
	"directsms/numbers"
	"directsms/reporting"
	"directsms/routing"
	"directsms/sql/pg"
	"directsms/sql/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// publicURL is the URL the test server believes carriers reach it at; webhook signatures are
// computed over it.
const publicURL = "https://sms.example.com"

// env is one test's running API over its own database, with one tenant and its admin.
type env struct {
	t        *testing.T
	db       *sqlx.DB
	dsn      string
	hub      *routing.Hub
	srv      *httptest.Server
	api      *gateway.Server
	dir      *directory.Store
	nums     *numbers.Store
	routing  *routing.Service
	outbound *routing.Outbound
	// waker fires when the API queues a text.
	waker *routing.Waker
	// publicURL is where carriers are told to post status callbacks, and what their signatures
	// are checked against.
	publicURL string
	tenantID  string
	adminID   string
	adminKey  string
}

// newEnv starts the real router over a fresh database and creates a tenant.
func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvAt(t, publicURL)
}

// newEnvAt is newEnv with the public URL carriers reach the server at; "" means the test
// server's own URL, so a fake carrier's callbacks arrive and their signatures check out.
func newEnvAt(t *testing.T, public string) *env {
	t.Helper()
	dsn := pgtest.NewDSN(t)
	db, err := pg.Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	dir := directory.NewStore(db, nil)
	hub := startHub(t, db, dsn, nil)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	// The fake carrier listens on loopback, so carrier accounts may point there.
	nums := numbers.NewStore(db, numbers.Config{Verifier: gateway.NewCarrierVerifier(true, log), AllowPrivateURLs: true})
	rt := routing.NewService(db, routing.Options{})
	t.Cleanup(func() { rt.Close() })
	waker := routing.NewWaker()
	outbound := routing.NewOutbound(db, routing.OutboundConfig{Logger: log, Wake: waker.Wake})
	t.Cleanup(outbound.Close)
	// The listener exists before the server starts, so the handler can be built knowing the
	// server's own URL.
	srv := httptest.NewUnstartedServer(nil)
	if public == "" {
		public = "http://" + srv.Listener.Addr().String()
	}
	api := gateway.New(gateway.Config{PublicURL: public}, gateway.Deps{
		DB: db, Directory: dir, Numbers: nums, Routing: rt, Outbound: outbound, Hub: hub, Logger: log,
		Reporting:  reporting.NewStore(db, nil),
		Deflection: deflection.NewStore(db, nil, nums),
	})
	srv.Config.Handler = api
	srv.Start()
	t.Cleanup(srv.Close)
	e := &env{t: t, db: db, dsn: dsn, hub: hub, srv: srv, api: api, dir: dir, nums: nums, routing: rt,
		outbound: outbound, waker: waker, publicURL: public}
	e.tenantID, e.adminID, e.adminKey = e.newTenant("Acme")
	return e
}

// with is e for a subtest: its helpers fail t rather than the test that made e.
func (e *env) with(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

// newTenant creates another tenant in the same database and returns its id, admin and key.
func (e *env) newTenant(name string) (tenantID, adminID, key string) {
	e.t.Helper()
	c, err := e.dir.CreateTenant(context.Background(), directory.NewTenant{Name: name, AdminEmail: "admin@" + strings.ToLower(name) + ".example"})
	if err != nil {
		e.t.Fatalf("create tenant %s: %v", name, err)
	}
	return c.TenantID, c.AdminUserID, c.APIKey
}

// response is a decoded API answer.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body as an object.
func (r response) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("decode %q: %v", r.Body, err)
	}
	return m
}

// ErrorCode is the error.code of an error answer, or "".
func (r response) ErrorCode() string {
	var body struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	json.Unmarshal(r.Body, &body) //nolint:errcheck // a non-error body has no code
	return body.Error.Code
}

// do sends a request with key as the bearer (none when empty); body is JSON-encoded unless it
// is a string or []byte, which are sent as they are.
func (e *env) do(method, path, key string, body any) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			e.t.Fatalf("encode body: %v", err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatalf("new request: %v", err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("read body: %v", err)
	}
	return response{Status: res.StatusCode, Header: res.Header, Body: b}
}

// expect fails the test unless the answer has the wanted status and, when code is set, error
// code.
func expect(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.Status != status || (code != "" && r.ErrorCode() != code) {
		t.Fatalf("got %d %s, want %d %s", r.Status, r.Body, status, code)
	}
}

// id returns the "id" of a created or fetched resource, failing unless the answer has status.
func (e *env) id(r response, status int) string {
	e.t.Helper()
	expect(e.t, r, status, "")
	id, _ := r.JSON(e.t)["id"].(string)
	if id == "" {
		e.t.Fatalf("got %s, want an id", r.Body)
	}
	return id
}

// team creates a team as the admin.
func (e *env) team(name string) string {
	e.t.Helper()
	return e.id(e.do(http.MethodPost, "/v1/teams", e.adminKey, map[string]any{"name": name}), http.StatusCreated)
}

// user creates an available user with role in teams (the first primary) as the admin and
// returns its id and a key for it.
func (e *env) user(name string, role directory.Role, teams ...string) (id, key string) {
	e.t.Helper()
	id = e.id(e.do(http.MethodPost, "/v1/users", e.adminKey, map[string]any{
		"name": name, "email": strings.ToLower(strings.ReplaceAll(name, " ", ".")) + "@acme.example", "role": role, "team_ids": teams, "status": "available",
	}), http.StatusCreated)
	r := e.do(http.MethodPost, "/v1/users/"+id+"/api-keys", e.adminKey, nil)
	expect(e.t, r, http.StatusCreated, "")
	return id, r.JSON(e.t)["key"].(string)
}

// adminDB connects to the test server's maintenance database.
func adminDB(t *testing.T) *sqlx.DB {
	t.Helper()
	db, err := pg.Open(context.Background(), pgtest.AdminDSN(t))
	if err != nil {
		t.Fatalf("open admin database: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func mustExec(t *testing.T, db *sqlx.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}
