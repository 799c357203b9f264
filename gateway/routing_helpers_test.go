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

	"directsms/gateway/twilio"
	"directsms/internal/fakecarrier"
	"directsms/numbers"
)

// The routing tests build their world through the API (users, teams, queues, channels), and
// carrier accounts and numbers with the numbers store, marking numbers verified directly: asking
// a carrier is not what they test.

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

// twilioAccount registers a Twilio account for the tenant.
func (e *env) twilioAccount(tenantID string) twilioAcct {
	e.t.Helper()
	a := twilioAcct{SID: "AC" + randomHex(e.t, 16), Token: randomHex(e.t, 16), TenantID: tenantID}
	acct, err := e.nums.CreateAccount(context.Background(), tenantID, numbers.NewAccount{
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
	if _, err := e.nums.CreateNumber(ctx, tenantID, numbers.NewNumber{Number: e164, Direct: direct, CarrierAccountID: accountID}); err != nil {
		e.t.Fatalf("create number %s: %v", e164, err)
	}
	mustExec(e.t, e.db, `UPDATE numbers SET status = 'verified', verified_at = now(), verified_via = 'test' WHERE e164 = $1`, e164)
}

// agentNumber gives the user a direct number.
func (e *env) agentNumber(tenantID, accountID, userID, e164 string) {
	e.t.Helper()
	e.number(tenantID, accountID, e164, true)
	if _, err := e.nums.AssignToUser(context.Background(), tenantID, userID, e164); err != nil {
		e.t.Fatalf("assign %s to user: %v", e164, err)
	}
}

// queueNumber puts a number on an SMS queue.
func (e *env) queueNumber(tenantID, accountID, queueID, e164 string, direct bool) {
	e.t.Helper()
	e.number(tenantID, accountID, e164, direct)
	if _, err := e.nums.AssignToQueue(context.Background(), tenantID, queueID, e164); err != nil {
		e.t.Fatalf("assign %s to queue: %v", e164, err)
	}
}

// queue creates a shared SMS queue with member users and teams, as the admin.
func (e *env) queue(name string, userIDs, teamIDs []string) string {
	e.t.Helper()
	id := e.id(e.do(http.MethodPost, "/v1/queues", e.adminKey, map[string]any{"name": name, "kind": "sms"}), http.StatusCreated)
	if userIDs == nil {
		userIDs = []string{}
	}
	if teamIDs == nil {
		teamIDs = []string{}
	}
	expect(e.t, e.do(http.MethodPut, "/v1/queues/"+id+"/members", e.adminKey, map[string]any{"user_ids": userIDs, "team_ids": teamIDs}), http.StatusOK, "")
	return id
}

// setStatus sets a user's status, as the admin.
func (e *env) setStatus(userID, status string) {
	e.t.Helper()
	expect(e.t, e.do(http.MethodPut, "/v1/users/"+userID+"/status", e.adminKey, map[string]any{"status": status}), http.StatusOK, "")
}

// smsChannel changes a user's sms channel, as the admin.
func (e *env) smsChannel(userID string, change map[string]any) {
	e.t.Helper()
	expect(e.t, e.do(http.MethodPatch, "/v1/users/"+userID+"/channels/sms", e.adminKey, change), http.StatusOK, "")
}

// smsOff turns the sms channel off for a user.
func (e *env) smsOff(userID string) {
	e.t.Helper()
	e.smsChannel(userID, map[string]any{"enabled": false})
}

// backup makes backup (a user id) the user's backup, as the admin.
func (e *env) backup(userID, backup string) {
	e.t.Helper()
	expect(e.t, e.do(http.MethodPatch, "/v1/users/"+userID, e.adminKey, map[string]any{"backup": map[string]any{"user_id": backup}}), http.StatusOK, "")
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
