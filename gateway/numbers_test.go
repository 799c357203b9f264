package gateway_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"directsms/internal/fakecarrier"
)

// Helpers for the numbers tests. Users and queues are made with SQL: the directory API is
// another area's, and these tests are about numbers.

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

// insertUser creates an active user of the env's tenant and returns its id.
func (e *env) insertUser(name, role string) string {
	e.t.Helper()
	return e.insertUserIn(e.tenantID, name, role)
}

func (e *env) insertUserIn(tenantID, name, role string) string {
	e.t.Helper()
	var id string
	err := e.db.Get(&id, `INSERT INTO users (tenant_id, name, email, role) VALUES ($1, $2, $3, $4) RETURNING id`,
		tenantID, name, strings.ToLower(name)+"@acme.example", role)
	if err != nil {
		e.t.Fatalf("insert user %s: %v", name, err)
	}
	return id
}

// insertQueue creates a queue of kind under parent ("" for a root) and returns its id.
func (e *env) insertQueue(name, kind, parent string) string {
	e.t.Helper()
	var id string
	err := e.db.Get(&id, `INSERT INTO queues (tenant_id, name, kind, parent_id) VALUES ($1, $2, $3, NULLIF($4, '')::uuid) RETURNING id`,
		e.tenantID, name, kind, parent)
	if err != nil {
		e.t.Fatalf("insert queue %s: %v", name, err)
	}
	return id
}

// agentKey issues an API key for a new user with role.
func (e *env) keyFor(role string) string {
	e.t.Helper()
	id := e.insertUser("key-"+role, role)
	r := e.do(http.MethodPost, "/v1/users/"+id+"/api-keys", e.adminKey, nil)
	expect(e.t, r, http.StatusCreated, "")
	return r.JSON(e.t)["key"].(string)
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
