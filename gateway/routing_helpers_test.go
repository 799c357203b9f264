package gateway_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"directsms/gateway/twilio"
	"directsms/internal/fakecarrier"
	"directsms/numbers"
	"directsms/sql/pg"
)

// The routing tests build their world (users, teams, queues) with plain SQL where the directory's
// own API is not what is under test, and carrier accounts and numbers with the numbers store.

// twilioAcct is a Twilio carrier account of a test tenant.
type twilioAcct struct {
	ID, SID, Token, TenantID string
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random: %v", err)
	}
	return hex.EncodeToString(b)
}

func (e *env) numbersStore() *numbers.Store {
	return numbers.NewStore(e.db, numbers.Config{})
}

// twilioAccount registers a Twilio account for the tenant.
func (e *env) twilioAccount(tenantID string) twilioAcct {
	e.t.Helper()
	a := twilioAcct{SID: "AC" + randomHex(e.t, 16), Token: randomHex(e.t, 16), TenantID: tenantID}
	acct, err := e.numbersStore().CreateAccount(context.Background(), tenantID, numbers.NewAccount{
		Provider: numbers.ProviderTwilio, AccountSID: a.SID, AuthToken: a.Token,
	})
	if err != nil {
		e.t.Fatalf("create twilio account: %v", err)
	}
	a.ID = acct.ID
	return a
}

// number adds a verified number to the tenant's inventory in the account.
func (e *env) number(tenantID, accountID, e164 string, direct bool) {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.numbersStore().CreateNumber(ctx, tenantID, numbers.NewNumber{Number: e164, Direct: direct, CarrierAccountID: accountID}); err != nil {
		e.t.Fatalf("create number %s: %v", e164, err)
	}
	mustExec(e.t, e.db, `UPDATE numbers SET status = 'verified', verified_at = now(), verified_via = 'test' WHERE e164 = $1`, e164)
}

// agentNumber gives the user a direct number.
func (e *env) agentNumber(tenantID, accountID, userID, e164 string) {
	e.t.Helper()
	e.number(tenantID, accountID, e164, true)
	if _, err := e.numbersStore().AssignToUser(context.Background(), tenantID, userID, e164); err != nil {
		e.t.Fatalf("assign %s to user: %v", e164, err)
	}
}

// queueNumber puts a number on an SMS queue.
func (e *env) queueNumber(tenantID, accountID, queueID, e164 string, direct bool) {
	e.t.Helper()
	e.number(tenantID, accountID, e164, direct)
	if _, err := e.numbersStore().AssignToQueue(context.Background(), tenantID, queueID, e164); err != nil {
		e.t.Fatalf("assign %s to queue: %v", e164, err)
	}
}

// team creates a team.
func (e *env) team(tenantID, name string) string {
	e.t.Helper()
	var id string
	if err := e.db.Get(&id, `INSERT INTO teams (tenant_id, name) VALUES ($1, $2) RETURNING id`, tenantID, name); err != nil {
		e.t.Fatalf("create team %s: %v", name, err)
	}
	return id
}

// user creates an active user with the role and status, member of teams (the first is its
// primary team), and returns its id and an API key.
func (e *env) user(tenantID, name, role, status string, teams ...string) (id, key string) {
	e.t.Helper()
	ctx := context.Background()
	err := pg.InTx(ctx, e.db, func(tx *sqlx.Tx) error {
		if err := tx.Get(&id, `INSERT INTO users (tenant_id, name, email, role, status, primary_team_id, created_at, status_changed_at)
			VALUES ($1, $2, $3, $4, $5, $6, now(), now()) RETURNING id`,
			tenantID, name, strings.ToLower(name)+"-"+randomHex(e.t, 3)+"@example.com", role, status, teams[0]); err != nil {
			return err
		}
		for _, team := range teams {
			if _, err := tx.Exec(`INSERT INTO team_members (tenant_id, team_id, user_id) VALUES ($1, $2, $3)`, tenantID, team, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		e.t.Fatalf("create user %s: %v", name, err)
	}
	k, err := e.dir.CreateAPIKey(ctx, tenantID, id, "test")
	if err != nil {
		e.t.Fatalf("key for %s: %v", name, err)
	}
	return id, k.Key
}

// queue creates a shared SMS queue with member users and teams.
func (e *env) queue(tenantID, name string, userIDs, teamIDs []string) string {
	e.t.Helper()
	var id string
	if err := e.db.Get(&id, `INSERT INTO queues (tenant_id, name, kind) VALUES ($1, $2, 'sms') RETURNING id`, tenantID, name); err != nil {
		e.t.Fatalf("create queue %s: %v", name, err)
	}
	for _, u := range userIDs {
		mustExec(e.t, e.db, `INSERT INTO queue_members (tenant_id, queue_id, user_id) VALUES ($1, $2, $3)`, tenantID, id, u)
	}
	for _, team := range teamIDs {
		mustExec(e.t, e.db, `INSERT INTO queue_members (tenant_id, queue_id, team_id) VALUES ($1, $2, $3)`, tenantID, id, team)
	}
	return id
}

// setStatus changes a user's status directly (the directory's API is tested elsewhere).
func (e *env) setStatus(userID, status string) {
	e.t.Helper()
	mustExec(e.t, e.db, `UPDATE users SET status = $2 WHERE id = $1`, userID, status)
}

// smsOff turns the sms channel off for a user.
func (e *env) smsOff(tenantID, userID string) {
	e.t.Helper()
	mustExec(e.t, e.db, `INSERT INTO user_channels (tenant_id, user_id, channel, enabled) VALUES ($1, $2, 'sms', false)
		ON CONFLICT (user_id, channel) DO UPDATE SET enabled = false`, tenantID, userID)
}

// postForm posts a form to path with an optional X-Twilio-Signature.
func (e *env) postForm(path, body, signature string) response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatalf("new request: %v", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if signature != "" {
		req.Header.Set(twilio.SignatureHeader, signature)
	}
	return e.send(req)
}

// postJSONWithHeaders posts a raw body with the headers.
func (e *env) postWithHeaders(path string, body []byte, h http.Header) response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(string(body)))
	if err != nil {
		e.t.Fatalf("new request: %v", err)
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	return e.send(req)
}

func (e *env) send(req *http.Request) response {
	e.t.Helper()
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("read body: %v", err)
	}
	return response{Status: res.StatusCode, Header: res.Header, Body: b}
}

const twilioPath = "/webhooks/twilio/messages"

// twilioForm builds a Twilio inbound webhook form for the account and its signature over the
// test server's public URL.
func twilioForm(a twilioAcct, from, to, body string) (url.Values, string) {
	return fakecarrier.TwilioInbound(a.SID, a.Token, publicURL+twilioPath, from, to, body)
}

// text posts a correctly signed Twilio text and requires the 200 TwiML answer.
func (e *env) text(a twilioAcct, from, to, body string) url.Values {
	e.t.Helper()
	form, sig := twilioForm(a, from, to, body)
	r := e.postForm(twilioPath, form.Encode(), sig)
	if r.Status != http.StatusOK || string(r.Body) != twilio.ResponseXML || r.Header.Get("Content-Type") != "text/xml" {
		e.t.Fatalf("inbound text: got %d %s %q, want 200 text/xml TwiML", r.Status, r.Header.Get("Content-Type"), r.Body)
	}
	return form
}

// count runs a count query.
func (e *env) count(query string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.Get(&n, query, args...); err != nil {
		e.t.Fatalf("%s: %v", query, err)
	}
	return n
}

// stored is how many inbound texts are stored anywhere (routed or unrouted).
func (e *env) stored() int {
	e.t.Helper()
	return e.count(`SELECT (SELECT count(*) FROM messages WHERE direction = 'in') + (SELECT count(*) FROM unrouted_messages)`)
}
