package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"directsms/deflection"
	"directsms/directory"
	"directsms/gateway"
	"directsms/routing"
	"directsms/sql/pg"
)

// deflectionAgent creates an agent in teams who may or may not configure its own deflection.
func (e *env) deflectionAgent(name string, canConfigure bool, teams ...string) (id, key string) {
	e.t.Helper()
	id, key = e.user(name, directory.RoleAgent, teams...)
	if canConfigure {
		expect(e.t, e.do(http.MethodPatch, "/v1/users/"+id, e.adminKey, map[string]any{"can_configure_deflection": true}), http.StatusOK, "")
	}
	return id, key
}

// queueOf creates a queue of kind with member teams as the admin.
func (e *env) queueOf(name, kind string, teams ...string) string {
	e.t.Helper()
	id := e.id(e.do(http.MethodPost, "/v1/queues", e.adminKey, map[string]any{"name": name, "kind": kind}), http.StatusCreated)
	if len(teams) > 0 {
		expect(e.t, e.do(http.MethodPut, "/v1/queues/"+id+"/members", e.adminKey, map[string]any{"user_ids": []string{}, "team_ids": teams}), http.StatusOK, "")
	}
	return id
}

// deflectionView is the answer of GET and PUT …/deflection.
type deflectionView struct {
	Enabled bool   `json:"enabled"`
	Message string `json:"message"`
	Source  string `json:"source"`
	Hours   struct {
		Timezone   string                       `json:"timezone"`
		Weekly     map[string][]json.RawMessage `json:"weekly"`
		Exceptions []json.RawMessage            `json:"exceptions"`
	} `json:"hours"`
}

func decodeDeflection(t *testing.T, r response) deflectionView {
	t.Helper()
	var v deflectionView
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
	return v
}

// hoursNY is Monday-to-Friday office hours in New York with Christmas closed.
func hoursNY() map[string]any {
	day := []any{map[string]any{"start": "09:00", "end": "17:00"}}
	return map[string]any{
		"timezone":   "America/New_York",
		"weekly":     map[string]any{"mon": day, "tue": day, "wed": day, "thu": day, "fri": day},
		"exceptions": []any{map[string]any{"date": "2026-12-25", "intervals": []any{}}},
	}
}

func settings(enabled bool, message string, hours map[string]any) map[string]any {
	body := map[string]any{"enabled": enabled, "message": message}
	if hours != nil {
		body["hours"] = hours
	}
	return body
}

// expectDeflection fails unless GET path answers the wanted source and message.
func (e *env) expectDeflection(path, key, source, message string) deflectionView {
	e.t.Helper()
	r := e.do(http.MethodGet, path, key, nil)
	expect(e.t, r, http.StatusOK, "")
	v := decodeDeflection(e.t, r)
	if v.Source != source || v.Message != message {
		e.t.Fatalf("GET %s: got source %q message %q, want source %q message %q", path, v.Source, v.Message, source, message)
	}
	return v
}

func TestDeflection_UserInheritsOwnThenPrimaryTeamThenGlobal(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	primary, other := e.team("Day"), e.team("Night")
	ann, _ := e.deflectionAgent("ann", false, primary, other)
	user, team, otherTeam := "/v1/users/"+ann+"/deflection", "/v1/teams/"+primary+"/deflection", "/v1/teams/"+other+"/deflection"
	key := e.adminKey

	v := e.expectDeflection(user, key, "global", "")
	if v.Enabled || v.Hours.Timezone != "UTC" || v.Hours.Weekly == nil || v.Hours.Exceptions == nil {
		t.Fatalf("default deflection: got %+v, want off in the tenant's zone with empty weekly and exceptions", v)
	}
	steps := []struct {
		name, method, path string
		body               any
		status             int
		userSource         string
		userMessage        string
	}{
		{"global override applies", http.MethodPut, "/v1/deflection", settings(false, "global", hoursNY()), http.StatusOK, "global", "global"},
		{"another team's override does not apply", http.MethodPut, otherTeam, settings(true, "night", hoursNY()), http.StatusOK, "global", "global"},
		{"primary team's override applies", http.MethodPut, team, settings(true, "day", hoursNY()), http.StatusOK, "team", "day"},
		{"user's override applies", http.MethodPut, user, settings(false, "ann", nil), http.StatusOK, "user", "ann"},
		{"resetting the user inherits the team again", http.MethodDelete, user, nil, http.StatusNoContent, "team", "day"},
		{"resetting the team inherits global again", http.MethodDelete, team, nil, http.StatusNoContent, "global", "global"},
		{"resetting global turns it off", http.MethodDelete, "/v1/deflection", nil, http.StatusNoContent, "global", ""},
		{"resetting a level without override changes nothing", http.MethodDelete, user, nil, http.StatusNoContent, "global", ""},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			expect(t, e.do(st.method, st.path, key, st.body), st.status, "")
			e.expectDeflection(user, key, st.userSource, st.userMessage)
		})
	}
}

func TestDeflection_PutAnswersEffectiveWithItsLevelAsSource(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	team := e.team("Day")
	path := "/v1/teams/" + team + "/deflection"
	e.expectDeflection(path, e.adminKey, "global", "")

	r := e.do(http.MethodPut, path, e.adminKey, settings(true, "Back {next_open}", hoursNY()))
	expect(t, r, http.StatusOK, "")
	v := decodeDeflection(t, r)
	if !v.Enabled || v.Source != "team" || v.Hours.Timezone != "America/New_York" || len(v.Hours.Weekly["mon"]) != 1 || len(v.Hours.Exceptions) != 1 {
		t.Fatalf("PUT answer: got %s, want the team's settings with source team", r.Body)
	}
	// A GET answer, source included, can be sent back as it is.
	expect(t, e.do(http.MethodPut, path, e.adminKey, r.Body), http.StatusOK, "")
	e.expectDeflection(path, e.adminKey, "team", "Back {next_open}")
}

func TestDeflection_TurningALevelOnCopiesNothingFromAbove(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	team := e.team("Day")
	ann, _ := e.deflectionAgent("ann", false, team)
	expect(t, e.do(http.MethodPut, "/v1/teams/"+team+"/deflection", e.adminKey, settings(true, "team", hoursNY())), http.StatusOK, "")

	own := map[string]any{"timezone": "Europe/London", "weekly": map[string]any{"sat": []any{map[string]any{"start": "10:00", "end": "12:00"}}}}
	expect(t, e.do(http.MethodPut, "/v1/users/"+ann+"/deflection", e.adminKey, settings(true, "own", own)), http.StatusOK, "")
	v := e.expectDeflection("/v1/users/"+ann+"/deflection", e.adminKey, "user", "own")
	if v.Hours.Timezone != "Europe/London" || len(v.Hours.Weekly) != 1 || len(v.Hours.Weekly["sat"]) != 1 || len(v.Hours.Exceptions) != 0 {
		t.Fatalf("user's hours: got %+v, want only its own Saturday in London, no team weekdays or exceptions", v.Hours)
	}
}

func TestDeflection_QueueInheritsOwnThenGlobalNeverATeam(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	team := e.team("Day")
	queue := e.queueOf("Support", "sms", team)
	path := "/v1/queues/" + queue + "/deflection"

	expect(t, e.do(http.MethodPut, "/v1/deflection", e.adminKey, settings(false, "global", hoursNY())), http.StatusOK, "")
	expect(t, e.do(http.MethodPut, "/v1/teams/"+team+"/deflection", e.adminKey, settings(true, "team", hoursNY())), http.StatusOK, "")
	e.expectDeflection(path, e.adminKey, "global", "global")

	expect(t, e.do(http.MethodPut, path, e.adminKey, settings(true, "queue", hoursNY())), http.StatusOK, "")
	e.expectDeflection(path, e.adminKey, "queue", "queue")

	expect(t, e.do(http.MethodDelete, path, e.adminKey, nil), http.StatusNoContent, "")
	e.expectDeflection(path, e.adminKey, "global", "global")
}

func TestDeflection_TeamInheritsGlobal(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	team := e.team("Day")
	path := "/v1/teams/" + team + "/deflection"
	expect(t, e.do(http.MethodPut, "/v1/deflection", e.adminKey, settings(false, "global", hoursNY())), http.StatusOK, "")
	e.expectDeflection(path, e.adminKey, "global", "global")
	expect(t, e.do(http.MethodPut, path, e.adminKey, settings(false, "team", nil)), http.StatusOK, "")
	e.expectDeflection(path, e.adminKey, "team", "team")
	expect(t, e.do(http.MethodDelete, path, e.adminKey, nil), http.StatusNoContent, "")
	e.expectDeflection(path, e.adminKey, "global", "global")
}

func TestDeflection_WhoMaySeeAndChangeEachLevel(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	day, night := e.team("Day"), e.team("Night")
	expect(t, e.do(http.MethodPut, "/v1/teams/"+day+"/members/"+e.adminID, e.adminKey, nil), http.StatusOK, "")
	_, supKey := e.user("sue", directory.RoleSupervisor, day)
	otherSup, _ := e.user("sam", directory.RoleSupervisor, night)
	ann, annKey := e.deflectionAgent("ann", false, day)
	bob, bobKey := e.deflectionAgent("bob", true, day)
	nia, _ := e.deflectionAgent("nia", false, night)
	dayQueue, nightQueue := e.queueOf("Day queue", "sms", day), e.queueOf("Night queue", "sms", night)
	body := settings(false, "x", nil)

	cases := []struct {
		name, key, method, path string
		status                  int
	}{
		{"admin changes global", e.adminKey, http.MethodPut, "/v1/deflection", http.StatusOK},
		{"supervisor reads global", supKey, http.MethodGet, "/v1/deflection", http.StatusOK},
		{"supervisor may not change global", supKey, http.MethodPut, "/v1/deflection", http.StatusForbidden},
		{"agent reads global", annKey, http.MethodGet, "/v1/deflection", http.StatusOK},
		{"agent may not reset global", bobKey, http.MethodDelete, "/v1/deflection", http.StatusForbidden},

		{"supervisor changes own team", supKey, http.MethodPut, "/v1/teams/" + day + "/deflection", http.StatusOK},
		{"supervisor may not read another team", supKey, http.MethodGet, "/v1/teams/" + night + "/deflection", http.StatusForbidden},
		{"agent may not read its team", bobKey, http.MethodGet, "/v1/teams/" + day + "/deflection", http.StatusForbidden},

		{"supervisor changes a user of its team", supKey, http.MethodPut, "/v1/users/" + ann + "/deflection", http.StatusOK},
		{"supervisor resets a user of its team", supKey, http.MethodDelete, "/v1/users/" + ann + "/deflection", http.StatusNoContent},
		{"supervisor may not change a user of another team", supKey, http.MethodPut, "/v1/users/" + nia + "/deflection", http.StatusForbidden},
		{"supervisor may not change another supervisor outside its teams", supKey, http.MethodGet, "/v1/users/" + otherSup + "/deflection", http.StatusForbidden},
		{"supervisor may not change an admin of its team", supKey, http.MethodPut, "/v1/users/" + e.adminID + "/deflection", http.StatusForbidden},
		{"agent reads its own", annKey, http.MethodGet, "/v1/users/" + ann + "/deflection", http.StatusOK},
		{"agent without permission may not change its own", annKey, http.MethodPut, "/v1/users/" + ann + "/deflection", http.StatusForbidden},
		{"agent without permission may not reset its own", annKey, http.MethodDelete, "/v1/users/" + ann + "/deflection", http.StatusForbidden},
		{"agent with permission changes its own", bobKey, http.MethodPut, "/v1/users/" + bob + "/deflection", http.StatusOK},
		{"agent with permission resets its own", bobKey, http.MethodDelete, "/v1/users/" + bob + "/deflection", http.StatusNoContent},
		{"agent with permission may not read a teammate's", bobKey, http.MethodGet, "/v1/users/" + ann + "/deflection", http.StatusForbidden},
		{"agent with permission may not change a teammate's", bobKey, http.MethodPut, "/v1/users/" + ann + "/deflection", http.StatusForbidden},

		{"supervisor changes a queue of its team", supKey, http.MethodPut, "/v1/queues/" + dayQueue + "/deflection", http.StatusOK},
		{"supervisor may not read a queue of another team", supKey, http.MethodGet, "/v1/queues/" + nightQueue + "/deflection", http.StatusForbidden},
		{"agent may not change a queue", bobKey, http.MethodPut, "/v1/queues/" + dayQueue + "/deflection", http.StatusForbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var b any
			if tc.method == http.MethodPut {
				b = body
			}
			code := ""
			if tc.status == http.StatusForbidden {
				code = "forbidden"
			}
			expect(t, e.do(tc.method, tc.path, tc.key, b), tc.status, code)
		})
	}
	e.expectDeflection("/v1/users/"+ann+"/deflection", e.adminKey, "team", "x")
}

func TestDeflection_InvalidInputNamesTheField(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	team := e.team("Day")
	path := "/v1/teams/" + team + "/deflection"
	withDay := func(zone string, ivs ...any) map[string]any {
		return map[string]any{"timezone": zone, "weekly": map[string]any{"mon": ivs}}
	}
	iv := func(start, end string) map[string]any { return map[string]any{"start": start, "end": end} }

	cases := []struct {
		name   string
		body   any
		status int
		code   string
		field  string
	}{
		{"start not HH:MM", settings(true, "m", withDay("America/New_York", iv("9:00", "17:00"))), 422, "invalid_time", "hours.weekly.mon[0].start"},
		{"end past midnight", settings(true, "m", withDay("America/New_York", iv("09:00", "24:30"))), 422, "invalid_time", "hours.weekly.mon[0].end"},
		{"overlapping intervals", settings(true, "m", withDay("America/New_York", iv("09:00", "12:00"), iv("11:00", "13:00"))), 422, "overlapping_intervals", "hours.weekly.mon[1]"},
		{"unknown zone", settings(true, "m", withDay("Mars/Olympus", iv("09:00", "17:00"))), 422, "invalid_timezone", "hours.timezone"},
		{"unknown weekday", settings(true, "m", map[string]any{"timezone": "UTC", "weekly": map[string]any{"monday": []any{}}}), 422, "invalid_weekday", "hours.weekly.monday"},
		{"bad exception date", settings(false, "", map[string]any{"timezone": "UTC", "exceptions": []any{map[string]any{"date": "2026-02-30"}}}), 422, "invalid_date", "hours.exceptions[0].date"},
		{"enabled without message", settings(true, "  ", withDay("UTC", iv("09:00", "17:00"))), 422, "message_required", "message"},
		{"enabled without hours", settings(true, "m", nil), 422, "invalid_timezone", "hours.timezone"},
		{"enabled left out", map[string]any{"message": "m"}, 422, "required", "enabled"},
		{"unknown field", map[string]any{"enabled": false, "color": "red"}, 400, "invalid_request", "color"},
		{"unknown field in hours", settings(false, "", map[string]any{"zone": "UTC"}), 400, "invalid_request", "zone"},
		{"wrong type", map[string]any{"enabled": "yes"}, 400, "invalid_request", "enabled"},
		{"malformed JSON", `{"enabled": `, 400, "invalid_request", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(http.MethodPut, path, e.adminKey, tc.body)
			expect(t, r, tc.status, tc.code)
			var got struct {
				Error struct {
					Field string `json:"field"`
				} `json:"error"`
			}
			json.Unmarshal(r.Body, &got) //nolint:errcheck // expect checked it is an error body
			if got.Error.Field != tc.field {
				t.Fatalf("field: got %q, want %q", got.Error.Field, tc.field)
			}
		})
	}
	e.expectDeflection(path, e.adminKey, "global", "")
}

func TestDeflection_UnknownAndForeignLevelsAre404(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	otherTenant, otherAdmin, _ := e.newTenant("Other")
	var otherTeam string
	if err := e.db.Get(&otherTeam, `INSERT INTO teams (tenant_id, name) VALUES ($1, 'Theirs') RETURNING id`, otherTenant); err != nil {
		t.Fatalf("insert team: %v", err)
	}
	missing := "3f1b6a62-3b8e-4b43-9d57-6a1c4bd5d9a1"
	for _, path := range []string{
		"/v1/users/" + otherAdmin + "/deflection",
		"/v1/teams/" + otherTeam + "/deflection",
		"/v1/queues/" + missing + "/deflection",
		"/v1/users/not-an-id/deflection",
	} {
		for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
			t.Run(method+" "+path, func(t *testing.T) {
				expect(t, e.do(method, path, e.adminKey, settings(false, "", nil)), http.StatusNotFound, "not_found")
			})
		}
	}
	expect(t, e.do(http.MethodPost, "/v1/deflection", e.adminKey, nil), http.StatusMethodNotAllowed, "method_not_allowed")
}

func TestDeflection_OnlySharedSMSQueuesHaveALevel(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ivr := e.queueOf("Phones", "ivr")
	ann, _ := e.deflectionAgent("ann", false, e.team("Day"))
	var personal string
	err := pg.InTx(context.Background(), e.db, func(tx *sqlx.Tx) error {
		var err error
		personal, err = directory.EnsurePersonalQueue(context.Background(), tx, e.tenantID, ann)
		return err
	})
	if err != nil {
		t.Fatalf("create personal queue: %v", err)
	}
	cases := []struct{ name, queue, code string }{
		{"IVR queue", ivr, "not_sms_queue"},
		{"personal queue", personal, "personal_queue"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := "/v1/queues/" + tc.queue + "/deflection"
			expect(t, e.do(http.MethodPut, path, e.adminKey, settings(false, "", nil)), http.StatusConflict, tc.code)
			e.expectDeflection(path, e.adminKey, "global", "")
		})
	}
}

func TestDeflection_GlobalCanBeEnabledOnlyWithAnAssignedVerifiedDirectNumber(t *testing.T) {
	t.Parallel()
	const n = "+14155550100"
	cases := []struct {
		name   string
		setup  func(e *env, c *carrier)
		status int
		code   string
	}{
		{"no number at all", func(*env, *carrier) {}, http.StatusConflict, "no_direct_number"},
		{"verified direct number not assigned", func(e *env, c *carrier) {
			e.addVerified(c, n, true)
		}, http.StatusConflict, "no_direct_number"},
		{"non-direct number on an SMS queue", func(e *env, c *carrier) {
			e.addVerified(c, n, false)
			expect(e.t, e.assignQueue(e.newQueue("Sales", "sms", ""), n), http.StatusOK, "")
		}, http.StatusConflict, "no_direct_number"},
		{"direct number assigned to an agent", func(e *env, c *carrier) {
			e.addVerified(c, n, true)
			expect(e.t, e.assignAgent(e.newUser("Ann", "agent"), n), http.StatusOK, "")
		}, http.StatusOK, ""},
		{"direct number on an SMS queue", func(e *env, c *carrier) {
			e.addVerified(c, n, true)
			expect(e.t, e.assignQueue(e.newQueue("Sales", "sms", ""), n), http.StatusOK, "")
		}, http.StatusOK, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			tc.setup(e, e.startCarrier(n))
			// Saving global settings switched off never needs a number.
			expect(t, e.do(http.MethodPut, "/v1/deflection", e.adminKey, settings(false, "closed", hoursNY())), http.StatusOK, "")
			expect(t, e.do(http.MethodPut, "/v1/deflection", e.adminKey, settings(true, "closed", hoursNY())), tc.status, tc.code)
			v := e.expectDeflection("/v1/deflection", e.adminKey, "global", "closed")
			if v.Enabled != (tc.status == http.StatusOK) {
				t.Fatalf("global enabled after the PUT: got %v, want %v", v.Enabled, tc.status == http.StatusOK)
			}
		})
	}
}

// testClock is a settable clock for the routing service of a clocked env.
type testClock struct {
	mu sync.Mutex
	at time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.at
}

func (c *testClock) set(t *testing.T, rfc3339 string) {
	t.Helper()
	at, err := time.Parse(time.RFC3339, rfc3339)
	if err != nil {
		t.Fatalf("parse %q: %v", rfc3339, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = at
}

// clocked is e served by a second router whose routing service reads clk, so webhooks can
// arrive at any time of the week.
func (e *env) clocked(clk *testClock) *env {
	e.t.Helper()
	rt := routing.NewService(e.db, routing.Options{NowFunc: clk.now})
	e.t.Cleanup(func() { rt.Close() })
	api := gateway.New(gateway.Config{PublicURL: publicURL}, gateway.Deps{
		DB: e.db, Directory: e.dir, Numbers: e.nums, Routing: rt, Hub: e.hub,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Deflection: deflection.NewStore(e.db, nil, e.nums),
	})
	srv := httptest.NewServer(api)
	e.t.Cleanup(srv.Close)
	c := *e
	c.srv, c.api, c.routing = srv, api, rt
	return &c
}

// deflections lists the deflection messages queued on the session of contact and number.
func (e *env) deflections(contact, number string) []string {
	e.t.Helper()
	var bodies []string
	err := e.db.Select(&bodies, `SELECT m.body FROM messages m JOIN sessions s ON s.id = m.session_id JOIN contacts c ON c.id = s.contact_id
		WHERE c.address = $1 AND s.number = $2 AND m.kind = 'deflection' AND m.direction = 'out' AND m.status = 'queued'
			AND m.from_address = $2 AND m.to_address = $1
		ORDER BY m.created_at`, contact, number)
	if err != nil {
		e.t.Fatalf("read deflections: %v", err)
	}
	return bodies
}

func TestDeflection_WebhookDeflectsOncePerClosedPeriodAndNotAfterAnAgentsReply(t *testing.T) {
	t.Parallel()
	clk := &testClock{}
	e := newEnv(t).clocked(clk)
	acct := e.twilioAccount(e.tenantID)
	ann, _ := e.user("Ann", directory.RoleAgent, e.team("Day"))
	const number, contact = "+14155550100", "+14155550199"
	e.agentNumber(e.tenantID, acct.ID, ann, number)
	expect(t, e.do(http.MethodPut, "/v1/deflection", e.adminKey, settings(true, "We're closed. Back {next_open}.", hoursNY())), http.StatusOK, "")

	steps := []struct {
		name, at string
		reply    string // when set, an agent replies in the session at this time first
		want     []string
	}{
		{"first text after closing deflects", "2026-03-02T17:00:00-05:00", "", []string{"We're closed. Back Tue 09:00 EST."}},
		{"second text of the evening does not", "2026-03-02T17:01:00-05:00", "", nil},
		{"text at night does not", "2026-03-02T23:59:00-05:00", "", nil},
		{"text after midnight does not", "2026-03-03T00:30:00-05:00", "", nil},
		{"text just before opening does not", "2026-03-03T08:59:59-05:00", "", nil},
		{"text during open hours does not", "2026-03-03T12:00:00-05:00", "", nil},
		{"text three minutes after an agent replied does not", "2026-03-03T17:05:00-05:00", "2026-03-03T17:02:00-05:00", nil},
		{"next closed period deflects again", "2026-03-03T17:30:00-05:00", "", []string{"We're closed. Back Wed 09:00 EST."}},
	}
	var want []string
	for _, st := range steps {
		if st.reply != "" {
			mustExec(t, e.db, `UPDATE sessions SET last_agent_reply_at = $1 WHERE number = $2 AND status = 'open'`, st.reply, number)
		}
		clk.set(t, st.at)
		e.text(acct, contact, number, "hello")
		want = append(want, st.want...)
		if got := e.deflections(contact, number); !slices.Equal(got, want) {
			t.Fatalf("%s: deflections: got %q, want %q", st.name, got, want)
		}
	}
	if got := e.count(`SELECT count(*) FROM messages WHERE direction = 'in'`); got != len(steps) {
		t.Fatalf("stored texts: got %d, want %d: deflection drops nothing", got, len(steps))
	}
	if got := e.count(`SELECT count(*) FROM session_events WHERE kind = 'deflected' AND data->>'source' = 'global'`); got != 2 {
		t.Fatalf("deflected steps on the timeline: got %d, want 2", got)
	}
	if got := e.count(`SELECT count(*) FROM sessions WHERE number = $1 AND deflected AND deflected_period = $2`, number, "2026-03-03T17:00:00-05:00"); got != 1 {
		t.Fatalf("sessions deflected in Tuesday's closed period: got %d, want 1", got)
	}
}

func TestDeflection_WebhookUsesTheQueuesOwnSettingsAndSparesConsentAndOptedOut(t *testing.T) {
	t.Parallel()
	clk := &testClock{}
	e := newEnv(t).clocked(clk)
	acct := e.twilioAccount(e.tenantID)
	queue := e.queue("Sales", nil, nil)
	const number = "+14155550101"
	e.queueNumber(e.tenantID, acct.ID, queue, number, true)
	expect(t, e.do(http.MethodPut, "/v1/deflection", e.adminKey, settings(true, "global", hoursNY())), http.StatusOK, "")
	expect(t, e.do(http.MethodPut, "/v1/queues/"+queue+"/deflection", e.adminKey, settings(true, "Sales opens {next_open}.", hoursNY())), http.StatusOK, "")
	clk.set(t, "2026-03-07T10:00:00-05:00") // Saturday; clocks go forward on Sunday

	e.text(acct, "+14155550111", number, "hello")
	if got, want := e.deflections("+14155550111", number), []string{"Sales opens Mon 09:00 EDT."}; !slices.Equal(got, want) {
		t.Fatalf("queue-owned number: got %q, want %q", got, want)
	}
	e.text(acct, "+14155550112", number, "HELP")
	if got := e.deflections("+14155550112", number); len(got) != 0 {
		t.Fatalf("a consent keyword: got deflections %q, want none", got)
	}
	e.text(acct, "+14155550113", number, "STOP")
	e.text(acct, "+14155550113", number, "hello again")
	if got := e.deflections("+14155550113", number); len(got) != 0 {
		t.Fatalf("an opted-out contact: got deflections %q, want none", got)
	}
}

func TestDeflection_ConcurrentTextsOfOneSessionDeflectOnce(t *testing.T) {
	t.Parallel()
	clk := &testClock{}
	e := newEnv(t).clocked(clk)
	acct := e.twilioAccount(e.tenantID)
	ann, _ := e.user("Ann", directory.RoleAgent, e.team("Day"))
	const number, contact = "+14155550100", "+14155550199"
	e.agentNumber(e.tenantID, acct.ID, ann, number)
	expect(t, e.do(http.MethodPut, "/v1/deflection", e.adminKey, settings(true, "Closed.", hoursNY())), http.StatusOK, "")
	clk.set(t, "2026-03-02T20:00:00-05:00")

	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			form, sig := twilioForm(acct, contact, number, "hello")
			if r := e.postForm(twilioPath, form.Encode(), sig); r.Status != http.StatusOK {
				t.Errorf("inbound text: got %d %s, want 200", r.Status, r.Body)
			}
		}()
	}
	wg.Wait()
	if got := e.deflections(contact, number); len(got) != 1 {
		t.Fatalf("deflections of five texts at once: got %q, want one", got)
	}
}

func TestExplain_ShowsTheEffectiveDeflectionItsSourceAndTheNextOpening(t *testing.T) {
	t.Parallel()
	clk := &testClock{}
	e := newEnv(t).clocked(clk)
	acct := e.twilioAccount(e.tenantID)
	day := e.team("Day")
	ann, _ := e.user("Ann", directory.RoleAgent, day)
	const number, contact = "+14155550100", "+14155550199"
	e.agentNumber(e.tenantID, acct.ID, ann, number)
	explain := func(t *testing.T, at string) map[string]any {
		t.Helper()
		r := e.do(http.MethodGet, "/v1/routing/explain?"+url.Values{"to": {number}, "from": {contact}, "at": {at}}.Encode(), e.adminKey, nil)
		expect(t, r, http.StatusOK, "")
		d, _ := r.JSON(t)["deflection"].(map[string]any)
		if d == nil {
			t.Fatalf("got %s, want a deflection part", r.Body)
		}
		return d
	}
	check := func(t *testing.T, d map[string]any, want map[string]any) {
		t.Helper()
		for k, v := range want {
			if d[k] != v {
				t.Errorf("%s: got %v, want %v (all: %v)", k, d[k], v, d)
			}
		}
	}

	check(t, explain(t, "2026-03-02T20:00:00-05:00"), map[string]any{"enabled": false, "source": "global", "open": true, "next_open": nil, "deflect": false, "reason": "disabled"})

	expect(t, e.do(http.MethodPut, "/v1/teams/"+day+"/deflection", e.adminKey, settings(true, "Back {next_open}", hoursNY())), http.StatusOK, "")
	check(t, explain(t, "2026-03-02T12:00:00-05:00"), map[string]any{"enabled": true, "source": "team", "open": true, "next_open": nil, "deflect": false, "reason": "open"})
	check(t, explain(t, "2026-03-06T18:00:00-05:00"), map[string]any{"enabled": true, "source": "team", "open": false,
		"next_open": "2026-03-09T13:00:00Z", "deflect": true, "reason": "deflected", "message": "Back Mon 09:00 EDT"})

	// Once the contact's session was deflected in that closed period, it would not be again.
	clk.set(t, "2026-03-06T18:00:00-05:00")
	e.text(acct, contact, number, "hello")
	check(t, explain(t, "2026-03-06T19:00:00-05:00"), map[string]any{"open": false, "deflect": false, "reason": "already_deflected"})
}

func TestThresholds_AgentSettingAvailableThroughTheAPIGetsTheWaitingSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	acct := e.twilioAccount(e.tenantID)
	ann, annKey := e.user("Ann", directory.RoleAgent, e.team("Day"))
	const number, contact = "+14155550100", "+14155550199"
	e.agentNumber(e.tenantID, acct.ID, ann, number)
	expect(t, e.do(http.MethodPatch, "/v1/settings", e.adminKey, map[string]any{"direct_inbound": map[string]any{"missed_chat_threshold": 1}}), http.StatusOK, "")

	e.text(acct, contact, number, "hello")
	mustExec(t, e.db, `UPDATE offers SET delivered_at = now() WHERE user_id = $1`, ann)
	res, err := routing.SweepOffers(context.Background(), e.db, time.Now().Add(61*time.Second))
	if err != nil || res != (routing.SweepResult{Missed: 1, Rerouted: 1, StatusChanges: 1}) {
		t.Fatalf("sweep: got %+v %v, want one miss, one reroute, one status change", res, err)
	}
	r := e.do(http.MethodGet, "/v1/users/"+ann, e.adminKey, nil)
	if got := r.JSON(t)["status"]; got != "missed_chat" {
		t.Fatalf("status after the miss: got %v, want missed_chat", got)
	}
	if got := e.count(`SELECT count(*) FROM offers WHERE user_id = $1 AND status = 'pending'`, ann); got != 0 {
		t.Fatalf("pending offers to an agent in missed_chat: got %d, want 0", got)
	}

	expect(t, e.do(http.MethodPut, "/v1/users/"+ann+"/status", annKey, map[string]any{"status": "available"}), http.StatusOK, "")
	if got := e.count(`SELECT count(*) FROM offers WHERE user_id = $1 AND status = 'pending' AND direct`, ann); got != 1 {
		t.Fatalf("pending direct offers once available again: got %d, want 1", got)
	}
}
