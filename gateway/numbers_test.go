package gateway_test

import (
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"

	"directsms/directory"
	"directsms/internal/fakecarrier"
)

// Helpers for the numbers tests. Users and queues are made through the directory API.

// carrier is a fake carrier running for one test, with one Twilio account registered in the
// env's tenant.
type carrier struct {
	fake      *fakecarrier.Fake
	url       string
	sid       string
	token     string
	accountID string
}

var sidCounter struct {
	sync.Mutex
	n int
}

// newSID returns a Twilio account SID no other test uses (SIDs are unique across tenants).
func newSID() string {
	sidCounter.Lock()
	defer sidCounter.Unlock()
	sidCounter.n++
	return fmt.Sprintf("AC%032x", sidCounter.n)
}

// startCarrier starts a fake carrier whose Twilio account holds owned, and registers that
// account in the env's tenant.
func (e *env) startCarrier(owned ...string) *carrier {
	e.t.Helper()
	c := &carrier{sid: newSID(), token: "token-" + e.t.Name()}
	c.fake, c.url = startFake(e.t, c.sid, c.token, owned...)
	r := e.do(http.MethodPost, "/v1/carrier-accounts", e.adminKey, map[string]any{
		"provider": "twilio", "account_sid": c.sid, "auth_token": c.token, "base_url": c.url,
	})
	expect(e.t, r, http.StatusCreated, "")
	c.accountID = r.JSON(e.t)["id"].(string)
	return c
}

// startFake starts a fake carrier with one Twilio account holding owned, for the test's life.
func startFake(t *testing.T, sid, token string, owned ...string) (*fakecarrier.Fake, string) {
	t.Helper()
	fake := fakecarrier.New()
	fake.AddTwilioAccount(sid, token, owned...)
	srv, err := fake.Start()
	if err != nil {
		t.Fatalf("start fake carrier: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return fake, srv.URL()
}

// numberPath is the API path of a number, with the "+" escaped as a browser would.
func numberPath(n string) string { return "/v1/numbers/" + url.PathEscape(n) }

// addNumber adds n to the inventory under the carrier's account.
func (e *env) addNumber(c *carrier, n string, direct bool) {
	e.t.Helper()
	r := e.do(http.MethodPost, "/v1/numbers", e.adminKey, map[string]any{
		"number": n, "direct": direct, "carrier_account_id": c.accountID, "label": "line " + n,
	})
	expect(e.t, r, http.StatusCreated, "")
}

// addVerified adds n and verifies it through the carrier, which must hold it.
func (e *env) addVerified(c *carrier, n string, direct bool) {
	e.t.Helper()
	e.addNumber(c, n, direct)
	expect(e.t, e.do(http.MethodPost, numberPath(n)+"/verify", e.adminKey, nil), http.StatusOK, "")
}

// newUser creates an available user with role through the directory API, in the tenant's
// first team, and returns its id.
func (e *env) newUser(name, role string) string {
	e.t.Helper()
	id, _ := e.user(name, directory.Role(role), e.firstTeam())
	return id
}

// firstTeam is the team the tenant was created with.
func (e *env) firstTeam() string {
	e.t.Helper()
	var team string
	if err := e.db.Get(&team, `SELECT primary_team_id FROM users WHERE id = $1`, e.adminID); err != nil {
		e.t.Fatalf("find the first team: %v", err)
	}
	return team
}

// deactivate deactivates a user through the directory API.
func (e *env) deactivate(userID string) {
	e.t.Helper()
	expect(e.t, e.do(http.MethodDelete, "/v1/users/"+userID, e.adminKey, nil), http.StatusNoContent, "")
}

// newQueue creates a queue of kind under parent ("" for a root) through the directory API.
func (e *env) newQueue(name, kind, parent string) string {
	e.t.Helper()
	in := map[string]any{"name": name, "kind": kind}
	if parent != "" {
		in["parent_id"] = parent
	}
	return e.id(e.do(http.MethodPost, "/v1/queues", e.adminKey, in), http.StatusCreated)
}

// keyFor issues an API key for a new user with role.
func (e *env) keyFor(role string) string {
	e.t.Helper()
	_, key := e.user("Key "+role, directory.Role(role), e.firstTeam())
	return key
}

func (e *env) assignAgent(userID, n string) response {
	e.t.Helper()
	return e.do(http.MethodPut, "/v1/users/"+userID+"/direct-numbers/"+url.PathEscape(n), e.adminKey, nil)
}

func (e *env) assignQueue(queueID, n string) response {
	e.t.Helper()
	return e.do(http.MethodPut, "/v1/queues/"+queueID+"/numbers/"+url.PathEscape(n), e.adminKey, nil)
}

// owner is who the database says owns n: the SMS user, SMS queue and IVR queue ids ("" for none).
func (e *env) owner(n string) (user, queue, ivr string) {
	e.t.Helper()
	var row struct {
		User  *string `db:"sms_user_id"`
		Queue *string `db:"sms_queue_id"`
		IVR   *string `db:"ivr_queue_id"`
	}
	if err := e.db.Get(&row, `SELECT sms_user_id, sms_queue_id, ivr_queue_id FROM numbers WHERE e164 = $1`, n); err != nil {
		e.t.Fatalf("read owner of %s: %v", n, err)
	}
	deref := func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	}
	return deref(row.User), deref(row.Queue), deref(row.IVR)
}

// field reads a nested field of a JSON object by path.
func field(m map[string]any, path ...string) any {
	var v any = m
	for _, p := range path {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = obj[p]
	}
	return v
}

func num(i int) string { return fmt.Sprintf("+1415867%04d", i) }
