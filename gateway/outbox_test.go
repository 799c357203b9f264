package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"directsms/gateway"
	"directsms/internal/fakecarrier"
	"directsms/numbers"
	"directsms/routing"
	"directsms/sql/pg"
)

// later is far enough ahead of a failure for any retry to be due: past the longest backoff.
const later = 11 * time.Minute

// The numbers of the outbox tests: one direct number per carrier, both Alice's.
var fromOf = map[fakecarrier.Provider]string{fakecarrier.Twilio: "+14158670001", fakecarrier.Telnyx: "+14158670002"}

// withAlice gives x an agent, Alice, who owns a Twilio and a Telnyx direct number.
func withAlice(x *texting) (id, key string) {
	x.t.Helper()
	id, key = x.agent("Alice")
	x.number("twilio", fromOf[fakecarrier.Twilio], true)
	x.number("telnyx", fromOf[fakecarrier.Telnyx], true)
	x.direct(id, fromOf[fakecarrier.Twilio])
	x.direct(id, fromOf[fakecarrier.Telnyx])
	return id, key
}

// twilioFrom is Alice's Twilio number.
var twilioFrom = fromOf[fakecarrier.Twilio]

var providers = []fakecarrier.Provider{fakecarrier.Twilio, fakecarrier.Telnyx}

func TestOutbox_RetriesAFailureTheCarrierCallsTemporaryThenDelivers(t *testing.T) {
	t.Parallel()
	failures := []struct {
		name       string
		httpStatus int
		code       int
	}{
		{name: "a 500 without a carrier error", httpStatus: 500, code: 0},
		{name: "a 503", httpStatus: 503, code: 0},
		{name: "a 429", httpStatus: 429, code: 0},
		{name: "a dropped connection", httpStatus: 0, code: 0},
	}
	for _, p := range providers {
		for _, f := range failures {
			t.Run(string(p)+" "+f.name, func(t *testing.T) {
				t.Parallel()
				x := newTexting(t)
				_, key := withAlice(x)
				id := x.sent(key, map[string]any{"to": contactA, "body": "hi", "from": fromOf[p]})["id"].(string)
				x.fake.FailNextFor(p, 1, f.httpStatus, f.code)
				now := time.Now()

				if sent := x.runOutbox(now); sent != 0 {
					t.Fatalf("first pass: carrier took %d, want 0 (it failed)", sent)
				}
				m := x.message(id)
				next, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(m["next_attempt_at"]))
				if m["status"] != "queued" || m["attempts"] != float64(1) || !next.After(now) || m["error_code"] != nil {
					t.Fatalf("after the failure got %v, want queued for a retry after %s, one attempt, no final error", m, now)
				}
				if sent := x.runOutbox(now); sent != 0 {
					t.Errorf("a pass before the retry is due sent %d, want 0", sent)
				}
				if sent := x.runOutbox(now.Add(later)); sent != 1 {
					t.Fatalf("retry pass: carrier took %d, want 1", sent)
				}
				if n := x.fake.SentCount(); n != 1 {
					t.Errorf("the carrier accepted %d texts, want 1", n)
				}
				m = x.message(id)
				if m["status"] != "sending" || m["attempts"] != float64(2) || m["carrier_message_id"] == nil || m["provider"] != string(p) {
					t.Errorf("after the retry got %v, want sending through %s with a carrier id after 2 attempts", m, p)
				}
				postStatus(t, x, p, x.carrierID(id), "delivered", "")
				if got := x.statusOf(id); got != "delivered" {
					t.Errorf("got status %s, want delivered", got)
				}
			})
		}
	}
}

// postStatus makes the fake carrier post a status callback, signed as the carrier does:
// "sent" is message.sent and every other status message.finalized for Telnyx.
func postStatus(t *testing.T, x *texting, p fakecarrier.Provider, carrierID, status, errorCode string) {
	t.Helper()
	var err error
	if p == fakecarrier.Twilio {
		err = x.fake.PostTwilioStatus(context.Background(), carrierID, status, errorCode)
	} else {
		event := "message.finalized"
		if status == "sent" || status == "sending" || status == "queued" {
			event = "message.sent"
		}
		err = x.fake.PostTelnyxEvent(context.Background(), carrierID, event, status, errorCode)
	}
	if err != nil {
		t.Fatalf("post %s status %s: %v", p, status, err)
	}
}

func TestOutbox_AnOptOutRefusalIsFinalAndOptsTheContactOut(t *testing.T) {
	t.Parallel()
	refusals := []struct {
		provider   fakecarrier.Provider
		httpStatus int
		code       int
	}{
		{provider: fakecarrier.Twilio, httpStatus: 400, code: 21610},
		{provider: fakecarrier.Telnyx, httpStatus: 409, code: 40300},
	}
	for _, tc := range refusals {
		t.Run(fmt.Sprintf("%s %d", tc.provider, tc.code), func(t *testing.T) {
			t.Parallel()
			x := newTexting(t)
			_, key := withAlice(x)
			id := x.sent(key, map[string]any{"to": contactA, "body": "hi", "from": fromOf[tc.provider]})["id"].(string)
			x.fake.FailNextFor(tc.provider, 1, tc.httpStatus, tc.code)
			now := time.Now()
			x.runOutbox(now)
			x.runOutbox(now.Add(later))
			m := x.message(id)
			if m["status"] != "failed" || m["error_code"] != fmt.Sprint(tc.code) || m["attempts"] != float64(1) {
				t.Errorf("got %v, want failed with error %d after one attempt", m, tc.code)
			}
			if n := x.fake.SentCount(); n != 0 {
				t.Errorf("the carrier accepted %d texts, want none: the refusal is not retried", n)
			}
			var optedOut bool
			x.scalar(&optedOut, `SELECT opted_out FROM contacts WHERE address = $1`, contactA)
			if !optedOut {
				t.Errorf("the contact is not opted out, want opted out after the carrier's %d", tc.code)
			}
			expect(t, x.send(key, map[string]any{"to": contactA, "body": "again", "from": fromOf[tc.provider]}, ""), http.StatusConflict, "recipient_opted_out")
		})
	}
}

func TestOutbox_OtherRefusalsAreFinal(t *testing.T) {
	t.Parallel()
	x := newTexting(t)
	_, key := withAlice(x)
	id := x.sent(key, map[string]any{"to": contactA, "body": "hi", "from": fromOf[fakecarrier.Twilio]})["id"].(string)
	x.fake.FailNextFor(fakecarrier.Twilio, 1, 400, 21211)
	now := time.Now()
	x.runOutbox(now)
	x.runOutbox(now.Add(later))
	m := x.message(id)
	if m["status"] != "failed" || m["error_code"] != "21211" || x.fake.SentCount() != 0 {
		t.Errorf("got %v and %d carrier sends, want failed with 21211 and no retry", m, x.fake.SentCount())
	}
	var optedOut bool
	x.scalar(&optedOut, `SELECT opted_out FROM contacts WHERE address = $1`, contactA)
	if optedOut {
		t.Errorf("the contact is opted out after 21211, want only 21610 and 40300 to opt out")
	}
}

func TestOutbox_GivesUpAfterEightTries(t *testing.T) {
	t.Parallel()
	x := newTexting(t)
	_, key := withAlice(x)
	id := x.sent(key, map[string]any{"to": contactA, "body": "hi", "from": twilioFrom})["id"].(string)
	x.fake.FailNextFor(fakecarrier.Twilio, 8, 503, 0)
	now := time.Now()
	for i := range 8 {
		x.runOutbox(now.Add(time.Duration(i) * later))
	}
	m := x.message(id)
	if m["status"] != "failed" || m["attempts"] != float64(8) || m["error_code"] != "http_503" || !strings.Contains(fmt.Sprint(m["error_message"]), "gave up after 8 tries") {
		t.Fatalf("got %v, want failed with http_503 after 8 attempts", m)
	}
	// Were a ninth try made, the carrier, failing no more, would accept it.
	x.runOutbox(now.Add(9 * later))
	if n := x.fake.SentCount(); n != 0 {
		t.Errorf("the carrier accepted %d texts after the last try, want none", n)
	}
}

func TestOutbox_ACrashedWorkersClaimExpiresAndTheMessageIsSent(t *testing.T) {
	t.Parallel()
	x := newTexting(t)
	_, key := withAlice(x)
	id := x.sent(key, map[string]any{"to": contactA, "body": "hi", "from": twilioFrom})["id"].(string)
	now := time.Now().UTC()
	// What a worker that claimed the message and died leaves behind.
	mustExec(t, x.db, `UPDATE messages SET status = 'sending', attempts = 1, claimed_by = 'dead/1', claimed_until = $2 WHERE id = $1`,
		id, now.Add(time.Minute))
	if sent := x.runOutbox(now); sent != 0 {
		t.Fatalf("sent %d while the claim holds, want 0", sent)
	}
	if sent := x.runOutbox(now.Add(2 * time.Minute)); sent != 1 {
		t.Fatalf("sent %d after the claim expired, want 1", sent)
	}
	m := x.message(id)
	if m["status"] != "sending" || m["attempts"] != float64(2) || x.fake.SentCount() != 1 {
		t.Errorf("got %v with %d carrier sends, want sending after 2 attempts and one send", m, x.fake.SentCount())
	}
}

func TestOutbox_TwoProcessesSendEveryMessageExactlyOnce(t *testing.T) {
	t.Parallel()
	x := newTexting(t)
	_, key := withAlice(x)
	session := x.sent(key, map[string]any{"to": contactA, "body": "first", "from": twilioFrom})["session_id"].(string)
	const total = 600
	mustExec(t, x.db, `INSERT INTO messages (tenant_id, session_id, direction, from_address, to_address, body, sender_user_id, status, created_at, status_changed_at)
		SELECT tenant_id, id, 'out', number, $2, 'msg-' || i, assignee_id, 'queued', now(), now()
		FROM sessions, generate_series(2, $3) AS i WHERE id = $1`, session, contactA, total)
	// A second process: its own pool, its own worker.
	other, err := pg.Open(context.Background(), x.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	cfg := routing.WorkerConfig{BatchSize: 25, Concurrency: 8}
	workers := []*routing.Worker{
		x.workerWith(x.db, gateway.NewCarriers(x.publicURL, true), cfg),
		x.workerWith(other, gateway.NewCarriers(x.publicURL, true), cfg),
		x.workerWith(x.db, gateway.NewCarriers(x.publicURL, true), cfg),
		x.workerWith(other, gateway.NewCarriers(x.publicURL, true), cfg),
	}
	var wg sync.WaitGroup
	sent := make([]int, len(workers))
	for i, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for idle := 0; idle < 3; {
				n, err := w.RunOnce(context.Background(), time.Now())
				if err != nil {
					t.Errorf("worker %d: %v", i, err)
					return
				}
				sent[i] += n
				if n == 0 {
					idle++
				}
			}
		}()
	}
	wg.Wait()
	counts := map[string]int{}
	for _, m := range x.fake.Sent() {
		counts[m.Body]++
	}
	for body, n := range counts {
		if n != 1 {
			t.Errorf("the carrier got %q %d times, want once", body, n)
		}
	}
	if len(counts) != total || x.fake.SentCount() != total {
		t.Errorf("the carrier got %d distinct texts in %d sends, want %d in %d", len(counts), x.fake.SentCount(), total, total)
	}
	var unsent int
	x.scalar(&unsent, `SELECT count(*) FROM messages WHERE carrier_message_id IS NULL`)
	if unsent != 0 {
		t.Errorf("%d messages have no carrier id, want every one sent", unsent)
	}
	t.Logf("texts sent per worker: %v", sent)
}

func TestOutbox_RunSendsAQueuedTextAtOnce(t *testing.T) {
	t.Parallel()
	x := newTexting(t)
	_, key := withAlice(x)
	// Only the API's wake-up can make this worker send within the test.
	w := x.workerWith(x.db, gateway.NewCarriers(x.publicURL, true), routing.WorkerConfig{PollInterval: time.Hour, Wake: x.waker.C()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()
	// Run's first pass may come before the text is queued; the wake-up brings the next.
	x.sent(key, map[string]any{"to": contactA, "body": "hi", "from": twilioFrom})
	deadline := time.Now().Add(10 * time.Second)
	for x.fake.SentCount() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no text was sent within 10s of being queued, want the API to wake the worker")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestOutbox_RunFinishesItsBatchWhenStopped(t *testing.T) {
	t.Parallel()
	x := newTexting(t)
	_, key := withAlice(x)
	id := x.sent(key, map[string]any{"to": contactA, "body": "hi", "from": twilioFrom})["id"].(string)
	carrier := &slowCarrier{Carriers: gateway.NewCarriers(x.publicURL, true), started: make(chan struct{}), release: make(chan struct{})}
	w := x.workerWith(x.db, carrier, routing.WorkerConfig{Loops: 1})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(ctx)
	}()
	<-carrier.started
	cancel()
	close(carrier.release)
	<-done
	if m := x.message(id); m["status"] != "sending" || m["carrier_message_id"] == nil {
		t.Errorf("got %v after stopping mid-send, want the carrier's answer recorded", m)
	}
}

// slowCarrier holds each send until released, after the carrier took it.
type slowCarrier struct {
	*gateway.Carriers
	once    sync.Once
	started chan struct{}
	release chan struct{}
}

func (c *slowCarrier) Send(ctx context.Context, acct numbers.Account, text routing.CarrierText) (routing.CarrierReceipt, error) {
	r, err := c.Carriers.Send(ctx, acct, text)
	c.once.Do(func() { close(c.started) })
	<-c.release
	if ctx.Err() != nil {
		return routing.CarrierReceipt{}, ctx.Err()
	}
	return r, err
}

func TestOutbox_TextsDirectsmsWrote(t *testing.T) {
	t.Parallel()
	x := newTexting(t)
	alice, key := withAlice(x)
	session := x.sent(key, map[string]any{"to": contactA, "body": "hi", "from": twilioFrom})["session_id"].(string)
	x.runOutbox(time.Now())
	queue := func(kind string) string {
		t.Helper()
		var id string
		x.scalar(&id, `INSERT INTO messages (tenant_id, session_id, direction, kind, from_address, to_address, body, status, created_at, status_changed_at)
			SELECT tenant_id, id, 'out', $2, number, $3, 'system text: ' || $2, 'queued', now(), now() FROM sessions WHERE id = $1
			RETURNING id`, session, kind, contactA)
		return id
	}
	deflection := queue("deflection")
	x.runOutbox(time.Now())
	if got := x.statusOf(deflection); got != "sending" {
		t.Errorf("deflection: got %s, want sending", got)
	}
	// The contact replies STOP: routing opts them out and queues the one confirmation.
	mustExec(t, x.db, `UPDATE contacts SET opted_out = true, opted_out_at = now() WHERE address = $1`, contactA)
	confirmation := queue("opt_out_confirmation")
	help := queue("help")
	agentText := queue("text")
	x.runOutbox(time.Now())
	tests := []struct {
		name, id, status, code string
	}{
		{name: "the opt-out confirmation reaches the opted-out contact", id: confirmation, status: "sending"},
		{name: "a help reply does not", id: help, status: "failed", code: "recipient_opted_out"},
		{name: "an agent's text queued before the opt-out does not", id: agentText, status: "failed", code: "recipient_opted_out"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := x.sub(t).message(tc.id)
			if m["status"] != tc.status || (tc.code != "" && m["error_code"] != tc.code) {
				t.Errorf("got %v, want %s %s", m, tc.status, tc.code)
			}
		})
	}
	var bodies []string
	for _, m := range x.fake.Sent() {
		bodies = append(bodies, m.Body)
	}
	if strings.Join(bodies, "|") != "hi|system text: deflection|system text: opt_out_confirmation" {
		t.Errorf("the carrier got %q, want the agent's text, the deflection and the confirmation", bodies)
	}
	// Texts without a sender are followed by the session's assignee.
	var events int
	x.scalar(&events, `SELECT count(*) FROM events WHERE user_id = $1 AND type = 'message.status' AND data->>'message_id' = $2`, alice, deflection)
	if events == 0 {
		t.Errorf("no message.status event for the deflection reached the assignee %s", alice)
	}
}

func TestOutbox_ANumberGoneFromTheInventoryFailsItsQueuedTexts(t *testing.T) {
	t.Parallel()
	x := newTexting(t)
	_, key := withAlice(x)
	id := x.sent(key, map[string]any{"to": contactA, "body": "hi", "from": twilioFrom})["id"].(string)
	expect(t, x.do(http.MethodDelete, "/v1/users/"+mustString(t, x, `SELECT sender_user_id FROM messages WHERE id = $1`, id)+"/direct-numbers/"+
		strings.ReplaceAll(fromOf[fakecarrier.Twilio], "+", "%2B"), x.adminKey, nil), http.StatusNoContent, "")
	expect(t, x.do(http.MethodDelete, numberPath(fromOf[fakecarrier.Twilio]), x.adminKey, nil), http.StatusNoContent, "")
	x.runOutbox(time.Now())
	if m := x.message(id); m["status"] != "failed" || m["error_code"] != "number_not_in_inventory" || x.fake.SentCount() != 0 {
		t.Errorf("got %v with %d carrier sends, want failed with number_not_in_inventory and none", m, x.fake.SentCount())
	}
}

func mustString(t *testing.T, x *texting, query string, args ...any) string {
	t.Helper()
	var s string
	x.scalar(&s, query, args...)
	return s
}

// earlyCarrier is the carrier adapter with a carrier whose status callbacks outrun its answer
// to the send: each callback is posted, and answered by the webhook, before the worker gets
// the carrier's id.
type earlyCarrier struct {
	*gateway.Carriers
	x        *texting
	statuses []string
	mu       sync.Mutex
	errs     []error
	// waiting is how many callbacks were kept waiting for their message when the carrier
	// answered.
	waiting int
}

func (c *earlyCarrier) Send(ctx context.Context, acct numbers.Account, text routing.CarrierText) (routing.CarrierReceipt, error) {
	r, err := c.Carriers.Send(ctx, acct, text)
	if err != nil {
		return r, err
	}
	for _, status := range c.statuses {
		var perr error
		if acct.Provider == numbers.ProviderTwilio {
			perr = c.x.fake.PostTwilioStatus(ctx, r.ID, status, "")
		} else {
			event := "message.finalized"
			if status == "sent" {
				event = "message.sent"
			}
			perr = c.x.fake.PostTelnyxEvent(ctx, r.ID, event, status, "")
		}
		if perr != nil {
			c.mu.Lock()
			c.errs = append(c.errs, perr)
			c.mu.Unlock()
		}
	}
	var waiting int
	if err := c.x.db.GetContext(ctx, &waiting, `SELECT count(*) FROM message_status_callbacks WHERE carrier_message_id = $1`, r.ID); err != nil {
		return r, err
	}
	c.mu.Lock()
	c.waiting += waiting
	c.mu.Unlock()
	return r, nil
}

func TestStatus_ACallbackBeforeTheSendIsRecordedIsApplied(t *testing.T) {
	t.Parallel()
	for _, p := range providers {
		t.Run(string(p), func(t *testing.T) {
			t.Parallel()
			x := newTexting(t)
			alice, key := withAlice(x)
			id := x.sent(key, map[string]any{"to": contactA, "body": "hi", "from": fromOf[p]})["id"].(string)
			carrier := &earlyCarrier{Carriers: gateway.NewCarriers(x.publicURL, true), x: x, statuses: []string{"sent", "delivered"}}
			w := x.workerWith(x.db, carrier, routing.WorkerConfig{})
			var early int
			if _, err := w.RunOnce(context.Background(), time.Now()); err != nil {
				t.Fatal(err)
			}
			if len(carrier.errs) > 0 || carrier.waiting != 2 {
				t.Fatalf("the webhook answered the early callbacks with errors %v and kept %d waiting, want no errors and both kept", carrier.errs, carrier.waiting)
			}
			if got := x.statusOf(id); got != "delivered" {
				t.Errorf("got status %s, want delivered from the callbacks that came first", got)
			}
			x.scalar(&early, `SELECT count(*) FROM message_status_callbacks`)
			if early != 0 {
				t.Errorf("%d early callbacks are still waiting, want all applied", early)
			}
			var statuses []string
			if err := x.db.Select(&statuses, `SELECT data->>'status' FROM events WHERE user_id = $1 AND type = 'message.status' ORDER BY id`, alice); err != nil {
				t.Fatal(err)
			}
			if strings.Join(statuses, ",") != "sending,sent,delivered" {
				t.Errorf("Alice's stream got %v, want sending, sent, delivered", statuses)
			}
		})
	}
}

func TestStatus_MovesOnlyForward(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		sequence  []string
		want      string
		wantError string
	}{
		{name: "delivered then a late sent stays delivered", sequence: []string{"delivered", "sent"}, want: "delivered"},
		{name: "sent then delivered is delivered", sequence: []string{"sent", "delivered"}, want: "delivered"},
		{name: "undelivered is never overwritten by delivered", sequence: []string{"undelivered", "delivered"}, want: "undelivered", wantError: "30003"},
		{name: "failed then a late sent stays failed", sequence: []string{"failed", "sent"}, want: "failed", wantError: "30003"},
		{name: "delivered then read is read", sequence: []string{"delivered", "read"}, want: "read"},
		{name: "read then delivered stays read", sequence: []string{"read", "delivered"}, want: "read"},
		{name: "sent then a repeated sent is sent", sequence: []string{"sent", "sent"}, want: "sent"},
	}
	for _, p := range providers {
		x := newTexting(t)
		_, key := withAlice(x)
		for _, tc := range tests {
			if p == fakecarrier.Telnyx && strings.Contains(tc.name, "read") {
				continue // Telnyx reports no read receipts for SMS
			}
			t.Run(string(p)+" "+tc.name, func(t *testing.T) {
				x := x.sub(t)
				id := x.sent(key, map[string]any{"to": contactA, "body": tc.name, "from": fromOf[p]})["id"].(string)
				x.runOutbox(time.Now())
				carrierID := x.carrierID(id)
				for _, status := range tc.sequence {
					code := ""
					if status == "undelivered" || status == "failed" {
						code = "30003"
					}
					postStatus(t, x, p, carrierID, telnyxName(p, status), code)
				}
				m := x.message(id)
				if m["status"] != tc.want || (tc.wantError != "" && m["error_code"] != tc.wantError) {
					t.Errorf("after %v got %v, want %s %s", tc.sequence, m, tc.want, tc.wantError)
				}
			})
		}
	}
}

// telnyxName is the Telnyx recipient status for a directsms status.
func telnyxName(p fakecarrier.Provider, status string) string {
	if p != fakecarrier.Telnyx {
		return status
	}
	switch status {
	case "undelivered":
		return "delivery_failed"
	case "failed":
		return "sending_failed"
	}
	return status
}

func TestStatus_ACarrierOptOutInACallbackOptsTheContactOut(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		provider       fakecarrier.Provider
		status, code   string
		wantStatus     string
		wantErrorCode  string
		wantOptedOutTo bool
	}{
		{provider: fakecarrier.Twilio, status: "failed", code: "21610", wantStatus: "failed", wantErrorCode: "21610", wantOptedOutTo: true},
		{provider: fakecarrier.Telnyx, status: "delivery_failed", code: "40300", wantStatus: "undelivered", wantErrorCode: "40300", wantOptedOutTo: true},
		{provider: fakecarrier.Twilio, status: "undelivered", code: "30005", wantStatus: "undelivered", wantErrorCode: "30005"},
	} {
		t.Run(fmt.Sprint(tc.provider, " ", tc.code), func(t *testing.T) {
			t.Parallel()
			x := newTexting(t)
			_, key := withAlice(x)
			id := x.sent(key, map[string]any{"to": contactA, "body": "hi", "from": fromOf[tc.provider]})["id"].(string)
			x.runOutbox(time.Now())
			postStatus(t, x, tc.provider, x.carrierID(id), tc.status, tc.code)
			m := x.message(id)
			var optedOut bool
			x.scalar(&optedOut, `SELECT opted_out FROM contacts WHERE address = $1`, contactA)
			if m["status"] != tc.wantStatus || m["error_code"] != tc.wantErrorCode || optedOut != tc.wantOptedOutTo {
				t.Errorf("got %v, opted out %v; want %s %s, opted out %v", m, optedOut, tc.wantStatus, tc.wantErrorCode, tc.wantOptedOutTo)
			}
		})
	}
}

func TestStatus_SignaturesAreChecked(t *testing.T) {
	t.Parallel()
	x := newTexting(t)
	_, key := withAlice(x)
	id := x.sent(key, map[string]any{"to": contactA, "body": "hi", "from": twilioFrom})["id"].(string)
	x.runOutbox(time.Now())
	sid := x.carrierID(id)
	form := func(account string) string {
		return "MessageSid=" + sid + "&AccountSid=" + account + "&MessageStatus=delivered"
	}
	post := func(t *testing.T, path, body, sig string) response {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, x.srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if sig != "" {
			req.Header.Set("X-Twilio-Signature", sig)
		}
		res, err := x.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return response{Status: res.StatusCode}
	}
	tests := []struct {
		name       string
		path, body string
		sig        string
		status     int
	}{
		{name: "no signature", path: "/webhooks/twilio/status", body: form(x.twilioSID), status: 403},
		{name: "a wrong signature", path: "/webhooks/twilio/status", body: form(x.twilioSID), sig: "bm9wZQ==", status: 403},
		{name: "an account directsms does not know", path: "/webhooks/twilio/status", body: form("AC" + strings.Repeat("0", 32)), sig: "bm9wZQ==", status: 403},
		{name: "no account", path: "/webhooks/twilio/status", body: "MessageSid=" + sid + "&MessageStatus=delivered", sig: "bm9wZQ==", status: 403},
		{name: "a Telnyx event without a signature", path: "/webhooks/telnyx",
			body: `{"data":{"event_type":"message.finalized","id":"e1","payload":{"id":"m1","from":{"phone_number":"` + fromOf[fakecarrier.Telnyx] + `"},"to":[{"phone_number":"` + contactA + `","status":"delivered"}]}}}`, status: 403},
		{name: "a Telnyx event from a number directsms does not know", path: "/webhooks/telnyx",
			body: `{"data":{"event_type":"message.finalized","id":"e1","payload":{"id":"m1","from":{"phone_number":"+14158679999"},"to":[{"phone_number":"` + contactA + `","status":"delivered"}]}}}`, status: 403},
		{name: "an unsigned Telnyx event of another kind", path: "/webhooks/telnyx", body: `{"data":{"event_type":"number_order.complete","id":"e2"}}`, status: 403},
		{name: "a Telnyx body that is not JSON", path: "/webhooks/telnyx", body: `nope`, status: 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if r := post(t, tc.path, tc.body, tc.sig); r.Status != tc.status {
				t.Errorf("got %d, want %d", r.Status, tc.status)
			}
		})
	}
	if got := x.statusOf(id); got != "sending" {
		t.Errorf("got status %s after refused callbacks, want sending", got)
	}
}

func TestStatus_ATelnyxEventSignedLongAgoIsRefused(t *testing.T) {
	t.Parallel()
	x := newTexting(t, fakecarrier.WithClock(func() time.Time { return time.Now().Add(-time.Hour) }))
	_, key := withAlice(x)
	id := x.sent(key, map[string]any{"to": contactA, "body": "hi", "from": fromOf[fakecarrier.Telnyx]})["id"].(string)
	x.runOutbox(time.Now())
	err := x.fake.PostTelnyxEvent(context.Background(), x.carrierID(id), "message.finalized", "delivered", "")
	if err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("posting an hour-old event: got %v, want a 403", err)
	}
	if got := x.statusOf(id); got != "sending" {
		t.Errorf("got status %s, want sending", got)
	}
}

func TestMessageStatusAdvances(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	statuses := []string{"queued", "sending", "sent", "delivered", "undelivered", "failed", "read", "canceled"}
	want := map[string][]string{
		"queued":      {"sending", "sent", "delivered", "undelivered", "failed", "read", "canceled"},
		"sending":     {"sent", "delivered", "undelivered", "failed", "read", "canceled"},
		"sent":        {"delivered", "undelivered", "failed", "read", "canceled"},
		"delivered":   {"read"},
		"undelivered": {},
		"failed":      {},
		"read":        {},
		"canceled":    {},
	}
	for _, cur := range statuses {
		for _, next := range statuses {
			var got bool
			if err := e.db.Get(&got, `SELECT message_status_advances($1, $2)`, cur, next); err != nil {
				t.Fatal(err)
			}
			if wantIt := contains(want[cur], next); got != wantIt {
				t.Errorf("message_status_advances(%s, %s): got %v, want %v", cur, next, got, wantIt)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestOutbox_SweepRemovesWhatIsADayOld(t *testing.T) {
	t.Parallel()
	x := newTexting(t)
	_, key := withAlice(x)
	expect(t, x.send(key, map[string]any{"to": contactA, "body": "hi", "from": twilioFrom}, "k1"), http.StatusAccepted, "")
	mustExec(t, x.db, `INSERT INTO message_status_callbacks (tenant_id, provider, carrier_message_id, status, received_at)
		VALUES ($1, 'twilio', 'SMunknown', 'delivered', now())`, x.tenantID)
	if err := x.worker.Sweep(context.Background(), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	var keys, callbacks int
	x.scalar(&keys, `SELECT count(*) FROM idempotency_keys`)
	x.scalar(&callbacks, `SELECT count(*) FROM message_status_callbacks`)
	if keys != 1 || callbacks != 1 {
		t.Fatalf("an hour later: got %d keys and %d callbacks, want both kept", keys, callbacks)
	}
	if err := x.worker.Sweep(context.Background(), time.Now().Add(25*time.Hour)); err != nil {
		t.Fatal(err)
	}
	x.scalar(&keys, `SELECT count(*) FROM idempotency_keys`)
	x.scalar(&callbacks, `SELECT count(*) FROM message_status_callbacks`)
	if keys != 0 || callbacks != 0 {
		t.Errorf("a day later: got %d keys and %d callbacks, want both swept", keys, callbacks)
	}
}

func TestOutbox_SendsTheReplyInboundRoutingQueued(t *testing.T) {
	t.Parallel()
	x := newTexting(t)
	withAlice(x)
	target := x.publicURL + "/webhooks/twilio/messages"
	form, sig := fakecarrier.TwilioInbound(x.twilioSID, x.twilioToken, target, contactA, twilioFrom, "HELP")
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", sig)
	res, err := x.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("inbound HELP: got %s, want 200", res.Status)
	}
	select {
	case <-x.waker.C():
	default:
		t.Error("the reply routing queued did not wake the outbox worker")
	}
	if sent := x.runOutbox(time.Now()); sent != 1 {
		t.Fatalf("the outbox sent %d texts, want the help reply", sent)
	}
	var reply struct {
		Kind   string `db:"kind"`
		Status string `db:"status"`
		To     string `db:"to_address"`
	}
	if err := x.db.Get(&reply, `SELECT kind, status, to_address FROM messages WHERE direction = 'out'`); err != nil {
		t.Fatal(err)
	}
	got := x.fake.Sent()
	if reply.Kind != "help" || reply.Status != "sending" || reply.To != contactA || len(got) != 1 || got[0].To != contactA || got[0].From != twilioFrom {
		t.Errorf("got reply %+v and carrier sends %+v, want the help reply sent from %s to %s", reply, got, twilioFrom, contactA)
	}
}

func TestStatus_ChangesReachTheSendersEventStreamAsTheyHappen(t *testing.T) {
	t.Parallel()
	x := newTexting(t)
	_, key := withAlice(x)
	s := openStream(t, x.srv.URL, key, "", nil)
	id := x.sent(key, map[string]any{"to": contactA, "body": "hi", "from": twilioFrom})["id"].(string)
	x.runOutbox(time.Now())
	postStatus(t, x, fakecarrier.Twilio, x.carrierID(id), "sent", "")
	postStatus(t, x, fakecarrier.Twilio, x.carrierID(id), "delivered", "")
	var got []string
	for len(got) < 3 {
		ev := s.next()
		if ev.Type != "message.status" {
			continue
		}
		var data struct {
			MessageID string `json:"message_id"`
			Status    string `json:"status"`
		}
		if err := json.Unmarshal([]byte(ev.Data), &data); err != nil {
			t.Fatal(err)
		}
		if data.MessageID != id {
			t.Fatalf("got an event for message %s, want %s", data.MessageID, id)
		}
		got = append(got, data.Status)
	}
	if strings.Join(got, ",") != "sending,sent,delivered" {
		t.Errorf("Alice's stream got %v, want sending, sent, delivered", got)
	}
}
