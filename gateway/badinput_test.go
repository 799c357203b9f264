package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"directsms/directory"
	"directsms/gateway"
)

// badBodies are request bodies no route accepts as they are: each must be refused with a 4xx,
// never a 500.
var badBodies = []struct {
	name string
	body string
}{
	{"no body", ""},
	{"empty object", `{}`},
	{"array", `[]`},
	{"null", `null`},
	{"string", `"x"`},
	{"unknown field", `{"unknown":1}`},
	{"malformed", `{"name":`},
	{"trailing data", `{} {}`},
	{"wrong types", `{"name": 5, "email": [], "enabled": "yes", "capacity": 1e309, "user_ids": "x"}`},
	{"wrong types nested", `{"team_ids": [5], "members": "x", "rules": {}, "kind": 7, "role": [], "status": {}}`},
	{"huge numbers", `{"capacity": 99999999999999999999, "max_sessions": -99999999999999999999, "limit": 1e300}`},
	{"long name", `{"name": "` + strings.Repeat("x", 10000) + `"}`},
	{"long email", `{"email": "` + strings.Repeat("a", 10000) + `@acme.example"}`},
	{"long everything", `{"name": "` + strings.Repeat("x", 10000) + `", "email": "` + strings.Repeat("y", 10000) + `", "number": "+1` + strings.Repeat("5", 10000) + `", "url": "https://` + strings.Repeat("z", 10000) + `.example", "body": "` + strings.Repeat("b", 10000) + `"}`},
}

// badPathValues replace one path variable at a time.
var badPathValues = []struct {
	name  string
	value string
}{
	{"garbage", "zz"},
	{"missing uuid", "3f1c2b9e-7d4a-4c8e-9b1f-0a2d3e4f5a6b"},
	{"short number", "%2B1"},
	{"overlong number", "%2B99999999999999999999"},
	{"long", strings.Repeat("x", 10000)},
	{"nil uuid", "00000000-0000-0000-0000-000000000000"},
	{"NUL", "%00"},
	{"invalid UTF-8", "%FF"},
	{"number with NUL", "%2B1415555%000100"},
	{"number with letters", "%2B1415FLOWERS"},
	{"upper-case uuid", "3F1C2B9E-7D4A-4C8E-9B1F-0A2D3E4F5A6B"},
}

// badQueries are query strings with wrong values for the parameters list and report routes
// read.
var badQueries = []string{
	"limit=-1", "limit=abc", "limit=99999999999999999999", "limit=0", "cursor=zz",
	"cursor=3f1c2b9e-7d4a-4c8e-9b1f-0a2d3e4f5a6b", "from=x&to=y", "from=2026-01-02T00:00:00Z&to=2020-01-01T00:00:00Z",
	"from=99999-01-01T00:00:00Z", "group_by=zz", "status=zz", "at=zz", "at=99999-01-01T00:00:00Z", "dry_run=maybe",
	"team_id=zz", "queue_id=zz", "user_id=zz", "number=zz", "channel=zz", "kind=zz", "role=zz", "format=zz",
	"limit=1000000", "cursor=%FF", "cursor=%00", "from=0001-01-01T00:00:00Z&to=9999-12-31T23:59:59Z", "from=2026-01-01&to=2026-01-02",
	"from=-292277022657-01-27T08:29:52Z", "at=0001-01-01T00:00:00Z", "group_by=", "limit=&cursor=", "limit=1&limit=2",
	"team_id=3f1c2b9e-7d4a-4c8e-9b1f-0a2d3e4f5a6b", "number=%2B99999999999999999999", "status=%FF",
	"direct=maybe", "personal=maybe", "include_inactive=maybe", "parent_id=zz", "parent_id=3f1c2b9e-7d4a-4c8e-9b1f-0a2d3e4f5a6b",
	"type=zz", "type=zz&type=", "group_by=zz&group_by=queue&group_by=queue", "assignee=zz", "assignee=me", "contact=zz", "contact=%2B1",
	"contact=%2B99999999999999999999", "to=zz", "from=zz", "q=%25%5C_", "q=%5C", "q=" + strings.Repeat("x", 10000),
	"number=%2B1", "kind=voice&team_id=zz", "format=csv&from=x", "queue_id=3f1c2b9e-7d4a-4c8e-9b1f-0a2d3e4f5a6b", "user_id=%FF",
}

var pathVar = regexp.MustCompile(`\{([a-z_]+)\}`)

// skipBadInput names routes this test leaves alone: the long-lived event stream, and the carrier
// webhooks, which have their own fuzz tests.
func skipBadInput(rt gateway.Route) bool {
	return (rt.Method == http.MethodGet && rt.Path == "/v1/events") || strings.HasPrefix(rt.Path, "/webhooks/")
}

// TestBadInput_NoRouteAnswers5xx sends every route malformed, mistyped and absurd input as the
// tenant admin: each answer must be a 4xx with a JSON error body (or a success), never a 500.
func TestBadInput_NoRouteAnswers5xx(t *testing.T) {
	e := newEnv(t)
	team := e.team("Support")
	user, _ := e.user("Bad Input", "agent", team)
	queue := e.id(e.do(http.MethodPost, "/v1/queues", e.adminKey, map[string]any{"name": "Sales", "kind": "sms", "team_ids": []string{team}}), http.StatusCreated)
	acct := e.twilioAccount(e.tenantID)
	e.number(e.tenantID, acct.ID, "+14155550100", true)
	// valid are existing values for each path variable, so body and query checks are reached.
	valid := func(path, name string) string {
		switch {
		case strings.HasSuffix(path, "/verify"):
			// Verifying an existing number asks the carrier, over the network.
			return "%2B14155550999"
		case strings.HasPrefix(path, "/v1/carrier-accounts/"):
			return acct.ID
		}
		switch name {
		case "channel":
			return "sms"
		case "number":
			return "%2B14155550100"
		case "user_id":
			return user
		}
		switch {
		case strings.HasPrefix(path, "/v1/users/"):
			return user
		case strings.HasPrefix(path, "/v1/teams/"):
			return team
		case strings.HasPrefix(path, "/v1/queues/"):
			return queue
		}
		return "3f1c2b9e-7d4a-4c8e-9b1f-0a2d3e4f5a6b"
	}
	fill := func(rt gateway.Route, bad string, badValue string) string {
		return pathVar.ReplaceAllStringFunc(rt.Path, func(m string) string {
			name := pathVar.FindStringSubmatch(m)[1]
			switch {
			case name == bad:
				return badValue
			case rt.Method == http.MethodDelete && name != "user_id":
				// A DELETE on an existing resource would remove what the other subtests use.
				return "3f1c2b9e-7d4a-4c8e-9b1f-0a2d3e4f5a6b"
			}
			return valid(rt.Path, name)
		})
	}
	var doc map[string]any
	if err := json.Unmarshal(e.do(http.MethodGet, "/openapi.json", "", nil).Body, &doc); err != nil {
		t.Fatalf("decode the OpenAPI document: %v", err)
	}
	// Another tenant's rows must be as unknown as missing ones, in paths and in bodies.
	otherTenant, otherAdmin, _ := e.newTenant("Other")
	otherTeam, err := e.dir.CreateTeam(context.Background(), directory.Principal{TenantID: otherTenant, UserID: otherAdmin, Role: directory.RoleAdmin}, directory.NewTeam{Name: "Theirs"})
	if err != nil {
		t.Fatalf("create the other tenant's team: %v", err)
	}
	otherAcct := e.twilioAccount(otherTenant)
	ids := []string{user, e.adminID, team, queue, acct.ID, otherAdmin, otherTeam.ID, otherAcct.ID}
	pathValues := append([]struct{ name, value string }{}, badPathValues...)
	for _, id := range []string{otherAdmin, otherTeam.ID, otherAcct.ID} {
		pathValues = append(pathValues, struct{ name, value string }{"other tenant's", id})
	}
	// bases are valid bodies the schema bodies are laid over, so one absurd field at a time
	// gets past the required-field checks to the validation and the store behind them.
	// The subscription's URL is an address, not a name, so checking it resolves nothing; the
	// test server runs no dispatcher, so nothing is delivered to it.
	deflection := map[string]any{"enabled": true, "message": "closed", "hours": map[string]any{
		"timezone": "America/New_York", "weekly": map[string]any{"mon": []any{map[string]any{"start": "09:00", "end": "17:00"}}},
	}}
	bases := map[string]map[string]any{
		"POST /v1/users":                 {"name": "Base User", "email": "base.user@acme.example", "team_ids": []string{team}, "status": "available"},
		"POST /v1/teams":                 {"name": "Base Team"},
		"POST /v1/event-subscriptions":   {"url": "https://8.8.8.8/hook", "secret": "0123456789abcdef0123", "events": []string{"session.closed"}},
		"POST /v1/numbers":               {"number": "+14155550111", "carrier_account_id": acct.ID},
		"POST /v1/carrier-accounts":      {"provider": "twilio", "account_sid": "AC" + strings.Repeat("ab", 16), "auth_token": strings.Repeat("cd", 16)},
		"POST /v1/queues":                {"name": "Base Queue", "kind": "sms", "team_ids": []string{team}},
		"PUT /v1/users/{id}/status":      {"status": "away"},
		"POST /v1/messages":              {"to": "+14155550199", "body": "hi"},
		"PUT /v1/deflection":             deflection,
		"PUT /v1/teams/{id}/deflection":  deflection,
		"PUT /v1/users/{id}/deflection":  deflection,
		"PUT /v1/queues/{id}/deflection": deflection,
	}
	for _, rt := range e.api.Routes() {
		if skipBadInput(rt) {
			continue
		}
		t.Run(rt.Method+" "+rt.Path, func(t *testing.T) {
			t.Parallel()
			e := e.with(t)
			check := func(method, path, body string) {
				t.Helper()
				var r response
				if body == "" {
					r = e.do(method, path, e.adminKey, nil)
				} else {
					r = e.do(method, path, e.adminKey, body)
				}
				checkNo5xx(t, method, path, body, r)
			}
			path := fill(rt, "", "")
			if rt.Method != http.MethodGet {
				for _, b := range badBodies {
					check(rt.Method, path, b.body)
				}
			}
			if schema, ok := requestSchema(doc, rt); ok {
				for i, b := range schemaBodies(doc, schema, ids, 0) {
					if m, ok := b.(map[string]any); ok && bases[rt.Method+" "+rt.Path] != nil {
						m = overlay(bases[rt.Method+" "+rt.Path], m)
						uniquify(m, bases[rt.Method+" "+rt.Path], i)
						b = m
					}
					buf, err := json.Marshal(b)
					if err != nil {
						t.Fatalf("encode %v: %v", b, err)
					}
					check(rt.Method, path, string(buf))
				}
			}
			if rt.Path == "/v1/bulk/direct-numbers" {
				for _, csv := range badCSVs {
					checkNo5xx(t, rt.Method, path, csv, e.doCSV(rt.Method, path, csv))
				}
			}
			for _, q := range badQueries {
				check(rt.Method, path+"?"+q, "")
			}
			for _, m := range pathVar.FindAllStringSubmatch(rt.Path, -1) {
				for _, v := range pathValues {
					check(rt.Method, fill(rt, m[1], v.value), "")
					if rt.Method != http.MethodGet && rt.Method != http.MethodDelete {
						check(rt.Method, fill(rt, m[1], v.value), `{}`)
					}
				}
			}
		})
	}
}

// overlay is base with the fields of top replaced, nested objects merged.
func overlay(base, top map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(top))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range top {
		bm, ok1 := out[k].(map[string]any)
		tm, ok2 := v.(map[string]any)
		if ok1 && ok2 && len(tm) > 0 {
			out[k] = overlay(bm, tm)
			continue
		}
		out[k] = v
	}
	return out
}

// uniquify gives body its own name and email where it kept the base's, so a create reaches the
// store's later steps instead of stopping at a name or email conflict.
func uniquify(body, base map[string]any, i int) {
	if body["name"] == base["name"] && base["name"] != nil {
		body["name"] = fmt.Sprintf("%s %d", base["name"], i)
	}
	if body["email"] == base["email"] && base["email"] != nil {
		body["email"] = fmt.Sprintf("base.%d@acme.example", i)
	}
}

// badCSVs are bulk files no import accepts whole.
var badCSVs = []string{
	"", "\n", "zz", "email,direct_number\n", "email,direct_number\nzz,zz\n", "\"unterminated\n",
	"email,direct_number\n" + strings.Repeat("x", 10000) + "@acme.example,+1" + strings.Repeat("5", 10000) + "\n",
	"email,direct_number\nbad.input@acme.example,+14155550100,+14155550100,+99999999999999999999,+1\n",
	"a,b,c\n1,2,3\n", "email\nbad.input@acme.example\n",
}

// requestSchema is the JSON request body schema the OpenAPI document gives rt.
func requestSchema(doc map[string]any, rt gateway.Route) (map[string]any, bool) {
	get := func(m any, key string) any {
		mm, _ := m.(map[string]any)
		return mm[key]
	}
	s, ok := get(get(get(get(get(get(doc, "paths"), rt.Path), strings.ToLower(rt.Method)), "requestBody"), "content"), "application/json").(map[string]any)
	if !ok {
		return nil, false
	}
	schema, ok := s["schema"].(map[string]any)
	return schema, ok
}

// doCSV sends body as a text/csv upload with the admin key.
func (e *env) doCSV(method, path, body string) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatalf("new request: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+e.adminKey)
	req.Header.Set("Content-Type", "text/csv")
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

// checkNo5xx fails t when r is a 5xx, or a 4xx without a JSON {"error": {"code"}} body.
func checkNo5xx(t *testing.T, method, path, body string, r response) {
	t.Helper()
	if len(path) > 200 {
		path = path[:200] + "…"
	}
	if len(body) > 200 {
		body = body[:200] + "…"
	}
	if r.Status >= 500 {
		t.Errorf("%s %s body %q: got %d %s, want < 500", method, path, body, r.Status, r.Body)
		return
	}
	if r.Status >= 400 {
		var eb struct {
			Error *struct {
				Code *string `json:"code"`
			} `json:"error"`
		}
		if err := json.Unmarshal(r.Body, &eb); err != nil || eb.Error == nil || eb.Error.Code == nil || *eb.Error.Code == "" {
			t.Errorf("%s %s body %q: got %d %q, want a JSON error body with a code", method, path, body, r.Status, r.Body)
		}
	}
}

// absurd lists well-typed but absurd values for a JSON schema type: each is sent alone in the
// field, so the route's own validation (not the decoder) must refuse it.
func absurd(typ string, ids []string) []any {
	long := strings.Repeat("x", 10000)
	switch typ {
	case "string":
		out := []any{"", "zz", long, "+99999999999999999999", "+1", "99999-12-31T23:59:59Z", "25:61", "-1",
			"3f1c2b9e-7d4a-4c8e-9b1f-0a2d3e4f5a6b", "00000000-0000-0000-0000-000000000000", "Ünï 🙂", "https://" + long + ".example",
			// Names Go's time package loads that PostgreSQL may not know, and the other way round.
			"Local", "UTC", "posix/Europe/Paris", "right/UTC", "Factory", "EST5EDT", "Etc/GMT+5", "+05:00", "America/New_York ", "../../etc/passwd",
			"ZZ", "XK", strings.Repeat("é", 5000), "9999-12-31T23:59:59Z", "0000-01-01T00:00:00Z", "24:00", "00:00"}
		for _, id := range ids {
			out = append(out, id)
		}
		return out
	case "integer", "number":
		return []any{-1, 0, 2147483648, json.Number("9223372036854775807"), json.Number("-9223372036854775808"), 1e300, -1e300, 0.5}
	case "boolean":
		return []any{true, false}
	case "array":
		out := []any{[]any{}, []any{"zz"}, []any{"3f1c2b9e-7d4a-4c8e-9b1f-0a2d3e4f5a6b"}, []any{ids[0], ids[0]}, ids, []any{map[string]any{}}, []any{strings.Repeat("x", 10000)}}
		for _, id := range ids {
			out = append(out, []any{id})
		}
		return out
	}
	return []any{map[string]any{}}
}

// schemaBodies returns one body per property (nested ones too) per absurd value, resolving
// $ref and allOf in doc.
func schemaBodies(doc map[string]any, schema map[string]any, ids []string, depth int) []any {
	schema = resolveSchema(doc, schema)
	typ, _ := schema["type"].(string)
	if depth > 4 {
		return absurd(typ, ids)
	}
	var out []any
	switch {
	case typ == "object" || schema["properties"] != nil:
		props, _ := schema["properties"].(map[string]any)
		if ap, ok := schema["additionalProperties"].(map[string]any); ok {
			props = map[string]any{"sms": ap, "zz": ap}
		}
		for name, p := range props {
			for _, v := range schemaBodies(doc, p.(map[string]any), ids, depth+1) {
				out = append(out, map[string]any{name: v})
			}
		}
		out = append(out, map[string]any{})
	case typ == "array":
		out = absurd("array", ids)
		if items, ok := schema["items"].(map[string]any); ok {
			if resolveSchema(doc, items)["type"] != "string" {
				for _, v := range schemaBodies(doc, items, ids, depth+1) {
					out = append(out, []any{v})
				}
			}
		}
	default:
		out = absurd(typ, ids)
	}
	return out
}

// resolveSchema follows $ref and a single allOf.
func resolveSchema(doc, schema map[string]any) map[string]any {
	for range 10 {
		if all, ok := schema["allOf"].([]any); ok && len(all) == 1 {
			schema = all[0].(map[string]any)
			continue
		}
		ref, ok := schema["$ref"].(string)
		if !ok {
			return schema
		}
		next := any(doc)
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			next = next.(map[string]any)[part]
		}
		schema = next.(map[string]any)
	}
	return schema
}

// TestBadInput_AcceptedTimezoneWorksEverywhere sets the tenant's time zone to names Go loads
// and then asks for what reads it in SQL: a zone the settings accept must never make a later
// report or explanation fail.
func TestBadInput_AcceptedTimezoneWorksEverywhere(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tz := range []string{"UTC", "Factory", "right/UTC", "right/America/New_York", "posix/Europe/Paris", "posixrules", "localtime", "EST5EDT", "Etc/GMT+5", "GMT+0", "US/Pacific-New", "UCT", "Zulu"} {
		t.Run(tz, func(t *testing.T) {
			e := e.with(t)
			r := e.do(http.MethodPatch, "/v1/settings", e.adminKey, map[string]any{"timezone": tz})
			checkNo5xx(t, http.MethodPatch, "/v1/settings", tz, r)
			if r.Status != http.StatusOK {
				return
			}
			for _, path := range []string{
				"/v1/reports/sessions", "/v1/reports/sessions?group_by=day", "/v1/reports/sessions?group_by=hour&group_by=queue",
				"/v1/reports/sessions?from=2026-01-01&to=2026-02-01&group_by=day", "/v1/exports/sessions?from=2026-01-01&to=2026-01-02",
				"/v1/routing/explain?to=%2B14155550100", "/v1/deflection", "/v1/sessions",
			} {
				checkNo5xx(t, http.MethodGet, path, "", e.do(http.MethodGet, path, e.adminKey, nil))
			}
		})
	}
}
