package gateway_test

import (
	"net/http"
	"testing"

	"directsms/directory"
)

// Every status change reaches the agent's own event stream, whoever makes it; creating a user
// is no change.
func TestStatus_ManualChangeReachesTheAgentsEventStream(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	agent, agentKey := e.user("Ann", directory.RoleAgent, e.firstTeam())
	streamed := func() int {
		return e.count(`SELECT count(*) FROM events WHERE user_id = $1 AND type = 'agent.status'`, agent)
	}
	if n := streamed(); n != 0 {
		t.Fatalf("got %d agent.status events after creating the user, want 0", n)
	}
	expect(t, e.do(http.MethodPut, "/v1/users/"+agent+"/status", agentKey, map[string]any{"status": "away"}), http.StatusOK, "")
	expect(t, e.do(http.MethodPut, "/v1/users/"+agent+"/status", e.adminKey, map[string]any{"status": "offline"}), http.StatusOK, "")
	expect(t, e.do(http.MethodPut, "/v1/users/"+agent+"/status", e.adminKey, map[string]any{"status": "offline"}), http.StatusOK, "")
	if n := streamed(); n != 2 {
		t.Fatalf("got %d agent.status events, want 2 (one per change; setting the same status again is none)", n)
	}
	var status, changedBy string
	if err := e.db.QueryRow(`SELECT data->>'status', data->>'changed_by' FROM events WHERE user_id = $1 AND type = 'agent.status' ORDER BY id DESC LIMIT 1`, agent).Scan(&status, &changedBy); err != nil {
		t.Fatalf("read event: %v", err)
	}
	if status != "offline" || changedBy != e.adminID {
		t.Fatalf("got status %q by %q, want offline by the admin %s", status, changedBy, e.adminID)
	}
}
