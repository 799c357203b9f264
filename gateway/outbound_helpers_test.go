package gateway_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"directsms/directory"
	"directsms/gateway"
	"directsms/internal/fakecarrier"
	"directsms/routing"
)

// Helpers for the outbound tests: a fake carrier with a Twilio and a Telnyx account in the
// env's tenant, numbers verified through it, agents, queues, and an outbox worker sending
// through the real carrier adapter.

// texting is one test's messaging setup.
type texting struct {
	*env
	fake        *fakecarrier.Fake
	twilioSID   string
	twilioToken string
	telnyxKey   string
	accounts    map[string]string // provider → carrier account id
	agents      string            // the team agents are made in
	worker      *routing.Worker
}

// newTexting starts a fake carrier, registers its accounts in a new env's tenant (whose public
// URL is the test server's own, so the fake's callbacks arrive and check out), and builds an
// outbox worker that sends through it.
func newTexting(t *testing.T, opts ...fakecarrier.Option) *texting {
	t.Helper()
	e := newEnvAt(t, "")
	x := &texting{env: e, fake: fakecarrier.New(opts...), twilioSID: "AC" + hexID(16), twilioToken: "tw-" + hexID(8),
		telnyxKey: "KEY" + hexID(12), accounts: map[string]string{}}
	x.fake.AddTwilioAccount(x.twilioSID, x.twilioToken)
	x.fake.AddTelnyxAccount(x.telnyxKey)
	srv, err := x.fake.Start()
	if err != nil {
		t.Fatalf("start fake carrier: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	x.accounts["twilio"] = e.id(e.do(http.MethodPost, "/v1/carrier-accounts", e.adminKey, map[string]any{
		"provider": "twilio", "account_sid": x.twilioSID, "auth_token": x.twilioToken, "base_url": srv.URL(),
	}), http.StatusCreated)
	x.accounts["telnyx"] = e.id(e.do(http.MethodPost, "/v1/carrier-accounts", e.adminKey, map[string]any{
		"provider": "telnyx", "api_key": x.telnyxKey, "public_key": x.fake.TelnyxPublicKey(), "base_url": srv.URL(),
	}), http.StatusCreated)
	x.agents = e.team("Agents")
	x.worker = x.newWorker(e.db)
	return x
}

// sub is x for a subtest: its helpers fail t.
func (x *texting) sub(t *testing.T) *texting {
	c := *x
	c.env = x.with(t)
	return &c
}

// newWorker builds an outbox worker over db, as another process would, sending through the
// real carrier adapter.
func (x *texting) newWorker(db *sqlx.DB) *routing.Worker {
	return x.workerWith(db, gateway.NewCarriers(x.publicURL, true), routing.WorkerConfig{})
}

// workerWith builds an outbox worker over db sending through sender, with cfg.
func (x *texting) workerWith(db *sqlx.DB, sender routing.Sender, cfg routing.WorkerConfig) *routing.Worker {
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	return routing.NewWorker(db, sender, x.nums, cfg)
}

// hexID returns n random bytes as hex, for carrier ids no other test uses.
func hexID(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// number adds n to the inventory under provider's account, held by that account at the fake
// carrier, and verifies it.
func (x *texting) number(provider, n string, direct bool) {
	x.t.Helper()
	if provider == "twilio" {
		x.fake.AddTwilioAccount(x.twilioSID, x.twilioToken, n)
	} else {
		x.fake.AddTelnyxAccount(x.telnyxKey, n)
	}
	expect(x.t, x.do(http.MethodPost, "/v1/numbers", x.adminKey, map[string]any{
		"number": n, "direct": direct, "carrier_account_id": x.accounts[provider],
	}), http.StatusCreated, "")
	expect(x.t, x.do(http.MethodPost, numberPath(n)+"/verify", x.adminKey, nil), http.StatusOK, "")
}

// agent creates an available agent in the default team and, when given, more teams.
func (x *texting) agent(name string, teams ...string) (id, key string) {
	x.t.Helper()
	return x.user(name, directory.RoleAgent, append([]string{x.agents}, teams...)...)
}

// direct makes n the agent's direct number.
func (x *texting) direct(userID, n string) {
	x.t.Helper()
	expect(x.t, x.do(http.MethodPut, "/v1/users/"+userID+"/direct-numbers/"+url.PathEscape(n), x.adminKey, nil), http.StatusOK, "")
}

// smsQueue creates an SMS queue with these members.
func (x *texting) smsQueue(name string, userIDs, teamIDs []string) string {
	x.t.Helper()
	return x.id(x.do(http.MethodPost, "/v1/queues", x.adminKey, map[string]any{
		"name": name, "kind": "sms", "user_ids": nonNil(userIDs), "team_ids": nonNil(teamIDs),
	}), http.StatusCreated)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// queueNumber puts n on the queue.
func (x *texting) queueNumber(queueID, n string) {
	x.t.Helper()
	expect(x.t, x.do(http.MethodPut, "/v1/queues/"+queueID+"/numbers/"+url.PathEscape(n), x.adminKey, nil), http.StatusOK, "")
}

// outboundFor assigns the non-direct number n for outbound to users and queues.
func (x *texting) outboundFor(n string, userIDs, queueIDs []string) {
	x.t.Helper()
	expect(x.t, x.do(http.MethodPut, numberPath(n)+"/outbound", x.adminKey, map[string]any{
		"user_ids": nonNil(userIDs), "queue_ids": nonNil(queueIDs),
	}), http.StatusOK, "")
}

// send posts a text as key, with an Idempotency-Key when idem is not empty.
func (x *texting) send(key string, body map[string]any, idem string) response {
	x.t.Helper()
	return x.doWith(http.MethodPost, "/v1/messages", key, body, http.Header{"Idempotency-Key": {idem}})
}

// sent posts a text that must be queued and returns the answer.
func (x *texting) sent(key string, body map[string]any) map[string]any {
	x.t.Helper()
	r := x.send(key, body, "")
	expect(x.t, r, http.StatusAccepted, "")
	return r.JSON(x.t)
}

// doWith is env.do with extra headers; empty values are left out.
func (e *env) doWith(method, path, key string, body any, header http.Header) response {
	e.t.Helper()
	buf, err := json.Marshal(body)
	if err != nil {
		e.t.Fatalf("encode body: %v", err)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(buf))
	if err != nil {
		e.t.Fatalf("new request: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for k, vs := range header {
		for _, v := range vs {
			if v != "" {
				req.Header.Add(k, v)
			}
		}
	}
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

// message reads a message as the admin.
func (x *texting) message(id string) map[string]any {
	x.t.Helper()
	r := x.do(http.MethodGet, "/v1/messages/"+id, x.adminKey, nil)
	expect(x.t, r, http.StatusOK, "")
	return r.JSON(x.t)
}

// runOutbox runs one pass of the worker at now and returns how many texts the carrier took.
func (x *texting) runOutbox(now time.Time) int {
	x.t.Helper()
	n, err := x.worker.RunOnce(context.Background(), now)
	if err != nil {
		x.t.Fatalf("RunOnce: %v", err)
	}
	return n
}

// carrierID is the carrier's id for a message, once the carrier took it.
func (x *texting) carrierID(messageID string) string {
	x.t.Helper()
	id, _ := x.message(messageID)["carrier_message_id"].(string)
	if id == "" {
		x.t.Fatalf("message %s has no carrier id yet", messageID)
	}
	return id
}

// scalar reads one value with SQL.
func (e *env) scalar(dest any, query string, args ...any) {
	e.t.Helper()
	if err := e.db.Get(dest, query, args...); err != nil {
		e.t.Fatalf("%s: %v", query, err)
	}
}

// statusOf is a message's status.
func (x *texting) statusOf(id string) string {
	x.t.Helper()
	return x.message(id)["status"].(string)
}
