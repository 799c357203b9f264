package gateway_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

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
}

// badQueries are query strings with wrong values for the parameters list and report routes
// read.
var badQueries = []string{
	"limit=-1", "limit=abc", "limit=99999999999999999999", "limit=0", "cursor=zz",
	"cursor=3f1c2b9e-7d4a-4c8e-9b1f-0a2d3e4f5a6b", "from=x&to=y", "from=2026-01-02T00:00:00Z&to=2020-01-01T00:00:00Z",
	"from=99999-01-01T00:00:00Z", "group_by=zz", "status=zz", "at=zz", "at=99999-01-01T00:00:00Z", "dry_run=maybe",
	"team_id=zz", "queue_id=zz", "user_id=zz", "number=zz", "channel=zz", "kind=zz", "role=zz", "format=zz",
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
	// valid are existing values for each path variable, so body and query checks are reached.
	valid := func(path, name string) string {
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
			for _, q := range badQueries {
				check(rt.Method, path+"?"+q, "")
			}
			for _, m := range pathVar.FindAllStringSubmatch(rt.Path, -1) {
				for _, v := range badPathValues {
					check(rt.Method, fill(rt, m[1], v.value), "")
					if rt.Method != http.MethodGet && rt.Method != http.MethodDelete {
						check(rt.Method, fill(rt, m[1], v.value), `{}`)
					}
				}
			}
		})
	}
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
