package gateway_test

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"
)

func TestOpenAPI_MatchesRouter(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.do(http.MethodGet, "/openapi.json", "", nil)
	expect(t, r, http.StatusOK, "")
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(r.Body, &doc); err != nil {
		t.Fatalf("decode document: %v", err)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			switch method {
			case "parameters", "summary", "description", "servers":
				continue
			}
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	served := map[string]bool{}
	for _, rt := range e.api.Routes() {
		served[rt.Method+" "+rt.Path] = true
	}
	var missing []string
	for route := range served {
		if !documented[route] {
			missing = append(missing, "served but not documented: "+route)
		}
	}
	for route := range documented {
		if !served[route] {
			missing = append(missing, "documented but not served: "+route)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("router and OpenAPI document disagree:\n%s", strings.Join(missing, "\n"))
	}
	if len(served) < 20 {
		t.Fatalf("got %d routes, want the directory's among them", len(served))
	}
}
