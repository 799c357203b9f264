package gateway_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"directsms/gateway"
	"directsms/reporting"
	"directsms/sql/pg"
)

// reportingUser adds a user with role to the env's tenant and returns its id and an API key.
func (e *env) reportingUser(role, name string) (id, key string) {
	e.t.Helper()
	ctx := context.Background()
	err := pg.InTx(ctx, e.db, func(tx *sqlx.Tx) error {
		var team string
		if err := tx.GetContext(ctx, &team, `SELECT primary_team_id FROM users WHERE id = $1`, e.adminID); err != nil {
			return err
		}
		email := strings.ToLower(strings.NewReplacer(" ", ".", "=", "").Replace(name)) + "@acme.example"
		if err := tx.GetContext(ctx, &id, `INSERT INTO users (tenant_id, name, email, role, primary_team_id) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
			e.tenantID, name, email, role, team); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO team_members (tenant_id, team_id, user_id) VALUES ($1, $2, $3)`, e.tenantID, team, id)
		return err
	})
	if err != nil {
		e.t.Fatalf("add %s %s: %v", role, name, err)
	}
	k, err := e.dir.CreateAPIKey(ctx, e.tenantID, id, "test")
	if err != nil {
		e.t.Fatalf("key for %s: %v", name, err)
	}
	return id, k.Key
}

// reportSession is one session of a gateway test's history.
type reportSession struct {
	typ      string
	agent    string
	at       time.Time
	in, out  int
	response time.Duration // agent's first answer after the first inbound; 0 for none
}

// addSessions writes sessions (and their messages) for the env's tenant.
func (e *env) addSessions(sessions []reportSession) {
	e.t.Helper()
	var contact string
	if err := e.db.Get(&contact, `INSERT INTO contacts (tenant_id, address, kind, created_at) VALUES ($1, '+16175550111', 'number', now())
		ON CONFLICT (tenant_id, address) DO UPDATE SET kind = EXCLUDED.kind RETURNING id`, e.tenantID); err != nil {
		e.t.Fatal(err)
	}
	for _, s := range sessions {
		var agent *string
		if s.agent != "" {
			agent = &s.agent
		}
		var id string
		if err := e.db.Get(&id, `INSERT INTO sessions (tenant_id, contact_id, number, type, status, assignee_id, last_message_at, created_at, closed_at)
			VALUES ($1, $2, '+14155550100', $3, 'closed', $4, $5, $5, $5) RETURNING id`, e.tenantID, contact, s.typ, agent, s.at); err != nil {
			e.t.Fatal(err)
		}
		for i := range s.in {
			mustExec(e.t, e.db, `INSERT INTO messages (tenant_id, session_id, direction, from_address, to_address, body, status, created_at, status_changed_at)
				VALUES ($1, $2, 'in', '+16175550111', '+14155550100', 'hi', 'received', $3, $3)`, e.tenantID, id, s.at.Add(time.Duration(i)*time.Hour))
		}
		for i := range s.out {
			at := s.at.Add(s.response + time.Duration(i)*time.Hour)
			mustExec(e.t, e.db, `INSERT INTO messages (tenant_id, session_id, direction, from_address, to_address, body, sender_user_id, status, created_at, status_changed_at)
				VALUES ($1, $2, 'out', '+14155550100', '+16175550111', 'hello', $3, 'delivered', $4, $4)`, e.tenantID, id, agent, at)
		}
	}
}

func TestReports_SupervisorsAndAdminsReadAgentsGet403(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, supervisor := e.reportingUser("supervisor", "Sue Supervisor")
	_, agent := e.reportingUser("agent", "Al Agent")
	sub := e.do(http.MethodPost, "/v1/event-subscriptions", e.adminKey, map[string]any{"url": "https://93.184.215.14/hooks", "secret": "0123456789abcdef", "events": []string{"session.closed"}})
	expect(t, sub, http.StatusCreated, "")
	subID := sub.JSON(t)["id"].(string)
	routes := []struct{ method, path string }{
		{http.MethodGet, "/v1/reports/sessions?from=2026-01-01&to=2026-02-01"},
		{http.MethodGet, "/v1/exports/sessions?from=2026-01-01&to=2026-02-01"},
		{http.MethodGet, "/v1/event-subscriptions"},
		{http.MethodGet, "/v1/event-subscriptions/" + subID},
		{http.MethodGet, "/v1/event-subscriptions/" + subID + "/deliveries"},
	}
	for _, rt := range routes {
		t.Run(rt.path, func(t *testing.T) {
			expect(t, e.do(rt.method, rt.path, e.adminKey, nil), http.StatusOK, "")
			expect(t, e.do(rt.method, rt.path, supervisor, nil), http.StatusOK, "")
			expect(t, e.do(rt.method, rt.path, agent, nil), http.StatusForbidden, "forbidden")
			expect(t, e.do(rt.method, rt.path, "", nil), http.StatusUnauthorized, "unauthenticated")
		})
	}
	t.Run("only admins create and delete subscriptions", func(t *testing.T) {
		body := map[string]any{"url": "https://93.184.215.14/x", "secret": "0123456789abcdef", "events": []string{"agent.status"}}
		expect(t, e.do(http.MethodPost, "/v1/event-subscriptions", supervisor, body), http.StatusForbidden, "forbidden")
		expect(t, e.do(http.MethodDelete, "/v1/event-subscriptions/"+subID, supervisor, nil), http.StatusForbidden, "forbidden")
		expect(t, e.do(http.MethodDelete, "/v1/event-subscriptions/"+subID, e.adminKey, nil), http.StatusNoContent, "")
		expect(t, e.do(http.MethodGet, "/v1/event-subscriptions/"+subID, e.adminKey, nil), http.StatusNotFound, "not_found")
	})
}

func TestReports_InvalidQueriesAre422NamingTheField(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cases := []struct {
		name, query, field, code string
	}{
		{"unknown group_by", "from=2026-01-01&to=2026-02-01&group_by=type,weekday", "group_by", "invalid_group_by"},
		{"to not after from", "from=2026-02-01&to=2026-01-01", "to", "invalid_range"},
		{"longer than 366 days", "from=2026-01-01&to=2027-01-03", "to", "range_too_long"},
		{"missing from", "to=2026-01-01", "from", "required"},
		{"unparseable to", "from=2026-01-01&to=next+week", "to", "invalid_time"},
		{"unknown type", "from=2026-01-01&to=2026-02-01&type=Voice", "type", "invalid_type"},
	}
	for _, tc := range cases {
		for _, path := range []string{"/v1/reports/sessions?", "/v1/exports/sessions?"} {
			if strings.HasPrefix(path, "/v1/exports") && strings.Contains(tc.query, "group_by") {
				continue
			}
			t.Run(tc.name+" "+path, func(t *testing.T) {
				r := e.do(http.MethodGet, path+tc.query, e.adminKey, nil)
				expect(t, r, http.StatusUnprocessableEntity, tc.code)
				var body struct {
					Error struct{ Field string } `json:"error"`
				}
				json.Unmarshal(r.Body, &body) //nolint:errcheck // checked by expect
				if body.Error.Field != tc.field {
					t.Errorf("got field %q, want %q", body.Error.Field, tc.field)
				}
			})
		}
	}
	expect(t, e.do(http.MethodPost, "/v1/reports/sessions", e.adminKey, nil), http.StatusMethodNotAllowed, "method_not_allowed")
}

func TestReports_JSONFiguresAndCSVParsesBackToThem(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mustExec(t, e.db, `UPDATE tenants SET timezone = 'America/New_York' WHERE id = $1`, e.tenantID)
	ada, _ := e.reportingUser("agent", "Ada Agent")
	formula, _ := e.reportingUser("agent", "=SUM(A1:A9)")
	ny, _ := time.LoadLocation("America/New_York")
	// 2026-03-08 01:30 EST and 03:30 EDT are one real hour apart, on the same local day.
	e.addSessions([]reportSession{
		{typ: reporting.TypeInboundDirect, agent: ada, at: time.Date(2026, 3, 8, 1, 30, 0, 0, ny), in: 2, out: 1, response: 90 * time.Second},
		{typ: reporting.TypeInboundDirect, agent: ada, at: time.Date(2026, 3, 8, 3, 30, 0, 0, ny), in: 1, out: 2, response: 30 * time.Second},
		{typ: reporting.TypeInbound, agent: formula, at: time.Date(2026, 3, 8, 23, 59, 0, 0, ny), in: 1, out: 0},
		{typ: reporting.TypeOutbound, agent: formula, at: time.Date(2026, 3, 9, 0, 0, 0, 0, ny), in: 1, out: 1},
		{typ: reporting.TypeOutboundDirect, at: time.Date(2026, 3, 7, 23, 59, 0, 0, ny), in: 0, out: 0},
	})
	path := "/v1/reports/sessions?from=2026-03-08&to=2026-03-10&group_by=agent,day"
	r := e.do(http.MethodGet, path, e.adminKey, nil)
	expect(t, r, http.StatusOK, "")
	var rep struct {
		Timezone string           `json:"timezone"`
		Rows     []map[string]any `json:"rows"`
	}
	if err := json.Unmarshal(r.Body, &rep); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, row := range rep.Rows {
		got[fmt.Sprint(row["agent_name"], " ", row["day"])] = fmt.Sprint(row["sessions"], " ", row["messages_in"], " ", row["messages_out"], " ", row["median_first_response_seconds"])
	}
	want := map[string]string{
		"Ada Agent 2026-03-08":   "2 3 3 60",
		"=SUM(A1:A9) 2026-03-08": "1 1 0 <nil>",
		"=SUM(A1:A9) 2026-03-09": "1 1 1 <nil>",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || rep.Timezone != "America/New_York" {
		t.Fatalf("got %v in %s, want %v in America/New_York", got, rep.Timezone, want)
	}

	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+e.adminKey)
	req.Header.Set("Accept", "text/csv")
	res, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Fatalf("got Content-Type %q, want text/csv", ct)
	}
	records, err := csv.NewReader(res.Body).ReadAll()
	if err != nil {
		t.Fatalf("parse CSV: %v", err)
	}
	if len(records) != len(rep.Rows)+1 {
		t.Fatalf("got %d records, want a header and %d rows", len(records), len(rep.Rows))
	}
	for i, rec := range records[1:] {
		for j, col := range records[0] {
			cell, v := rec[j], rep.Rows[i][col]
			switch x := v.(type) {
			case nil:
				if cell != "" {
					t.Errorf("row %d %s: got %q, want empty for null", i, col, cell)
				}
			case float64:
				if f, err := strconv.ParseFloat(cell, 64); err != nil || f != x {
					t.Errorf("row %d %s: got %q, want %v", i, col, cell, x)
				}
			case string:
				if cell != x && cell != "'"+x {
					t.Errorf("row %d %s: got %q, want %q", i, col, cell, x)
				}
				if strings.HasPrefix(x, "=") && cell != "'"+x {
					t.Errorf("row %d %s: got %q, want the formula neutralized", i, col, cell)
				}
			}
		}
	}
}

func TestExport_StreamsOneCSVRecordPerSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ada, _ := e.reportingUser("agent", "Ada Agent")
	var sessions []reportSession
	start := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	for i := range 1500 {
		sessions = append(sessions, reportSession{typ: reporting.SessionTypes[i%4], agent: ada, at: start.Add(time.Duration(i) * time.Minute), in: 1, out: 1, response: time.Minute})
	}
	e.addSessions(sessions)
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/v1/exports/sessions?from=2026-05-01&to=2026-06-01", nil)
	req.Header.Set("Authorization", "Bearer "+e.adminKey)
	res, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("got %d %s, want 200 text/csv", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if res.ContentLength != -1 || !strings.Contains(res.Header.Get("Content-Disposition"), "attachment") {
		t.Errorf("got length %d and %q, want a streamed attachment", res.ContentLength, res.Header.Get("Content-Disposition"))
	}
	cr := csv.NewReader(res.Body)
	header, err := cr.Read()
	if err != nil || strings.Join(header, ",") != strings.Join(reporting.ExportColumns, ",") {
		t.Fatalf("got header %v (%v), want %v", header, err, reporting.ExportColumns)
	}
	n := 0
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec[9] != "Ada Agent" || rec[7] != "+16175550111" || rec[14] != "1" || rec[15] != "1" {
			t.Fatalf("record %d: got %v", n, rec)
		}
		n++
	}
	if n != len(sessions) {
		t.Errorf("got %d records, want %d", n, len(sessions))
	}
}

// apiWith serves the env's database through a gateway with cfg, for tests of configuration.
func (e *env) apiWith(cfg gateway.Config) *httptest.Server {
	e.t.Helper()
	srv := httptest.NewServer(gateway.New(cfg, gateway.Deps{
		DB: e.db, Directory: e.dir, Reporting: reporting.NewStore(e.db, nil), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}))
	e.t.Cleanup(srv.Close)
	return srv
}

func TestEventSubscriptions_PrivateURLsRefusedUnlessAllowed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, url := range []string{"http://127.0.0.1:9/hooks", "http://localhost/hooks", "http://10.0.0.7/x", "http://169.254.169.254/latest", "http://[::1]/x"} {
		body := map[string]any{"url": url, "secret": "0123456789abcdef", "events": []string{"session.created"}}
		expect(t, e.do(http.MethodPost, "/v1/event-subscriptions", e.adminKey, body), http.StatusUnprocessableEntity, "private_url")
	}
	dev := e.apiWith(gateway.Config{AllowPrivateURLs: true})
	b, _ := json.Marshal(map[string]any{"url": "http://127.0.0.1:9/hooks", "secret": "0123456789abcdef", "events": []string{"session.created"}})
	req, _ := http.NewRequest(http.MethodPost, dev.URL+"/v1/event-subscriptions", strings.NewReader(string(b)))
	req.Header.Set("Authorization", "Bearer "+e.adminKey)
	res, err := dev.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("got %d with private URLs allowed, want 201", res.StatusCode)
	}
}

func TestEventSubscriptions_CreateListShowDeleteNeverShowTheSecret(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const secret = "s3cr3t-0123456789abcdef"
	body := map[string]any{"url": "https://93.184.215.14/hooks", "secret": secret, "events": []string{"session.closed", "message.received", "session.closed"}}
	created := e.do(http.MethodPost, "/v1/event-subscriptions", e.adminKey, body)
	expect(t, created, http.StatusCreated, "")
	sub := created.JSON(t)
	if sub["url"] != "https://93.184.215.14/hooks" || fmt.Sprint(sub["events"]) != "[session.closed message.received]" || sub["created_by"] != e.adminID {
		t.Errorf("got %v, want the subscription as registered, events once each", sub)
	}
	id := sub["id"].(string)
	for _, r := range []response{created, e.do(http.MethodGet, "/v1/event-subscriptions", e.adminKey, nil), e.do(http.MethodGet, "/v1/event-subscriptions/"+id, e.adminKey, nil)} {
		if strings.Contains(string(r.Body), secret) || strings.Contains(string(r.Body), `"secret"`) {
			t.Fatalf("got %s, want no secret", r.Body)
		}
	}
	second := e.do(http.MethodPost, "/v1/event-subscriptions", e.adminKey, map[string]any{"url": "https://93.184.215.15/x", "secret": secret, "events": []string{"agent.status"}})
	expect(t, second, http.StatusCreated, "")
	page := e.do(http.MethodGet, "/v1/event-subscriptions?limit=1", e.adminKey, nil)
	expect(t, page, http.StatusOK, "")
	next := page.JSON(t)["next_cursor"].(string)
	rest := e.do(http.MethodGet, "/v1/event-subscriptions?limit=1&cursor="+next, e.adminKey, nil)
	if data := rest.JSON(t)["data"].([]any); len(data) != 1 || rest.JSON(t)["next_cursor"] != "" {
		t.Errorf("got second page %s, want the other subscription and no more", rest.Body)
	}
	expect(t, e.do(http.MethodGet, "/v1/event-subscriptions?cursor=nope", e.adminKey, nil), http.StatusUnprocessableEntity, "invalid_cursor")

	cases := []struct {
		name  string
		body  any
		code  string
		field string
	}{
		{"unknown field", `{"url": "https://93.184.215.14/", "secret": "0123456789abcdef", "events": ["agent.status"], "active": true}`, "invalid_request", "active"},
		{"events not an array", `{"url": "https://93.184.215.14/", "secret": "0123456789abcdef", "events": "agent.status"}`, "invalid_request", "events"},
		{"short secret", map[string]any{"url": "https://93.184.215.14/", "secret": "short", "events": []string{"agent.status"}}, "invalid_secret", "secret"},
		{"unknown event", map[string]any{"url": "https://93.184.215.14/", "secret": "0123456789abcdef", "events": []string{"session.offered"}}, "invalid_event", "events"},
		{"not absolute", map[string]any{"url": "hooks.example.com/x", "secret": "0123456789abcdef", "events": []string{"agent.status"}}, "invalid_url", "url"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(http.MethodPost, "/v1/event-subscriptions", e.adminKey, tc.body)
			status := http.StatusUnprocessableEntity
			if tc.code == "invalid_request" {
				status = http.StatusBadRequest
			}
			expect(t, r, status, tc.code)
		})
	}

	_, _, otherKey := e.newTenant("Other")
	expect(t, e.do(http.MethodGet, "/v1/event-subscriptions/"+id, otherKey, nil), http.StatusNotFound, "not_found")
	expect(t, e.do(http.MethodGet, "/v1/event-subscriptions/"+id+"/deliveries", otherKey, nil), http.StatusNotFound, "not_found")
	expect(t, e.do(http.MethodDelete, "/v1/event-subscriptions/"+id, otherKey, nil), http.StatusNotFound, "not_found")
	expect(t, e.do(http.MethodGet, "/v1/event-subscriptions/not-an-id", e.adminKey, nil), http.StatusNotFound, "not_found")
	expect(t, e.do(http.MethodDelete, "/v1/event-subscriptions/"+id, e.adminKey, nil), http.StatusNoContent, "")
	expect(t, e.do(http.MethodDelete, "/v1/event-subscriptions/"+id, e.adminKey, nil), http.StatusNotFound, "not_found")
}

func TestEventSubscriptions_DeliveryLogShowsEachTryNewestFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var calls atomic.Int32
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(receiver.Close)
	sub, err := reporting.NewStore(e.db, nil).CreateSubscription(context.Background(), e.tenantID, e.adminID,
		reporting.NewSubscription{URL: receiver.URL, Secret: "0123456789abcdef", Events: []string{"session.closed"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := pg.InTx(context.Background(), e.db, func(tx *sqlx.Tx) error {
		return reporting.Enqueue(context.Background(), tx, now, e.tenantID, reporting.EventSessionClosed, reporting.SessionClosed{SessionID: "s1", Status: reporting.SessionCompleted})
	}); err != nil {
		t.Fatal(err)
	}
	d := reporting.NewDispatcher(e.db, reporting.DispatcherConfig{AllowPrivateURLs: true, Backoff: func(int) time.Duration { return time.Second }})
	for _, at := range []time.Time{now, now.Add(time.Minute)} {
		if _, err := d.RunOnce(context.Background(), at); err != nil {
			t.Fatal(err)
		}
	}
	first := e.do(http.MethodGet, "/v1/event-subscriptions/"+sub.ID+"/deliveries?limit=1", e.adminKey, nil)
	expect(t, first, http.StatusOK, "")
	var page struct {
		Data []struct {
			Attempt    int     `json:"attempt"`
			StatusCode *int    `json:"status_code"`
			Error      *string `json:"error"`
			Outcome    string  `json:"outcome"`
			DurationMS *int    `json:"duration_ms"`
			At         string  `json:"at"`
		} `json:"data"`
		NextCursor string `json:"next_cursor"`
	}
	json.Unmarshal(first.Body, &page) //nolint:errcheck // checked below
	if len(page.Data) != 1 || page.Data[0].Attempt != 2 || *page.Data[0].StatusCode != 204 || page.Data[0].Outcome != "delivered" || page.NextCursor == "" {
		t.Fatalf("got %s, want the second, delivered try and a cursor", first.Body)
	}
	second := e.do(http.MethodGet, "/v1/event-subscriptions/"+sub.ID+"/deliveries?limit=1&cursor="+page.NextCursor, e.adminKey, nil)
	page.Data, page.NextCursor = nil, ""
	json.Unmarshal(second.Body, &page) //nolint:errcheck // checked below
	if len(page.Data) != 1 || page.Data[0].Attempt != 1 || *page.Data[0].StatusCode != 502 || page.Data[0].Outcome != "retrying" ||
		page.Data[0].Error == nil || page.Data[0].DurationMS == nil || page.Data[0].At == "" {
		t.Fatalf("got %s, want the first try: 502, retrying, explained, timed", second.Body)
	}
	expect(t, e.do(http.MethodGet, "/v1/event-subscriptions/"+sub.ID+"/deliveries?cursor=abc", e.adminKey, nil), http.StatusUnprocessableEntity, "invalid_cursor")
}
