package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"directsms/gateway/twilio"
	"directsms/reporting"
)

// hookSecret signs the deliveries of the producer tests' subscriptions.
const hookSecret = "producer-secret-0123456789"

// hookReceiver is a tenant's webhook endpoint: it keeps every delivery whose signature checks
// out under hookSecret and fails the test on any other.
type hookReceiver struct {
	t   *testing.T
	e   *env
	srv *httptest.Server
	mu  sync.Mutex
	got []reporting.Envelope
}

// subscribeAll starts a receiver and subscribes it to every event of the env's tenant.
func (e *env) subscribeAll() *hookReceiver {
	e.t.Helper()
	rc := &hookReceiver{t: e.t, e: e}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !reporting.VerifySignature(hookSecret, body, r.Header.Get(reporting.SignatureHeader)) {
			rc.t.Errorf("got a delivery whose signature does not verify: %s", body)
		}
		var env reporting.Envelope
		if err := json.Unmarshal(body, &env); err != nil {
			rc.t.Errorf("decode delivery %s: %v", body, err)
		}
		rc.mu.Lock()
		rc.got = append(rc.got, env)
		rc.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	e.t.Cleanup(rc.srv.Close)
	events := make([]string, len(reporting.EventTypes))
	for i, typ := range reporting.EventTypes {
		events[i] = string(typ)
	}
	if _, err := reporting.NewStore(e.db, nil).CreateSubscription(context.Background(), e.tenantID, e.adminID,
		reporting.NewSubscription{URL: rc.srv.URL, Secret: hookSecret, Events: events}, true); err != nil {
		e.t.Fatalf("subscribe: %v", err)
	}
	return rc
}

// deliver runs the dispatcher until nothing is due (a week ahead, past any idle close a test
// makes happen) and answers the events delivered so far of type typ in the order they occurred,
// decoding each one's data into a new T.
func deliver[T any](rc *hookReceiver, typ reporting.EventType) []T {
	rc.t.Helper()
	d := reporting.NewDispatcher(rc.e.db, reporting.DispatcherConfig{AllowPrivateURLs: true})
	for {
		n, err := d.RunOnce(context.Background(), time.Now().Add(7*24*time.Hour))
		if err != nil {
			rc.t.Fatalf("RunOnce: %v", err)
		}
		if n == 0 {
			break
		}
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	got := slices.Clone(rc.got)
	slices.SortStableFunc(got, func(a, b reporting.Envelope) int { return a.OccurredAt.Compare(b.OccurredAt) })
	var out []T
	for _, env := range got {
		if env.Type != typ {
			continue
		}
		if env.TenantID != rc.e.tenantID {
			rc.t.Errorf("got tenant %s, want %s", env.TenantID, rc.e.tenantID)
		}
		var v T
		if err := json.Unmarshal(env.Data, &v); err != nil {
			rc.t.Fatalf("decode %s data %s: %v", typ, env.Data, err)
		}
		out = append(out, v)
	}
	return out
}

func TestEvents_InboundTextProducesSessionCreatedAndMessageReceived(t *testing.T) {
	t.Parallel()
	w := newInboundWorld(t)
	rc := w.e.subscribeAll()
	w.e.text(w.acct, w.contact, w.annNumber, "Hello there")
	w.e.text(w.acct, w.contact, w.annNumber, "Anyone?")

	created := deliver[reporting.SessionCreated](rc, reporting.EventSessionCreated)
	if len(created) != 1 {
		t.Fatalf("got %d session.created, want 1 (the second text continues the session)", len(created))
	}
	c := created[0]
	if c.SessionID == "" || c.Type != "Messaging Inbound (SMS Direct)" || c.Number != w.annNumber || c.Contact != w.contact ||
		c.OwnerUserID == nil || *c.OwnerUserID != w.ann || c.QueueID == nil || c.CreatedAt.IsZero() {
		t.Errorf("got session.created %+v, want the direct session of %s owned by Ann", c, w.contact)
	}
	received := deliver[reporting.MessageReceived](rc, reporting.EventMessageReceived)
	if len(received) != 2 {
		t.Fatalf("got %d message.received, want 2", len(received))
	}
	for i, body := range []string{"Hello there", "Anyone?"} {
		m := received[i]
		if m.Body != body || m.SessionID != c.SessionID || m.From != w.contact || m.To != w.annNumber || m.MessageID == "" ||
			m.Segments != 1 || m.Media == nil || m.ReceivedAt.IsZero() {
			t.Errorf("got message.received %+v, want %q from %s in session %s", m, body, w.contact, c.SessionID)
		}
	}
}

func TestEvents_ClosingASessionProducesSessionClosed(t *testing.T) {
	t.Parallel()
	w := newInboundWorld(t)
	e := w.e
	rc := e.subscribeAll()
	e.text(w.acct, w.contact, w.annNumber, "Help!")
	manual := w.session(w.annKey, w.contact, w.annNumber)["id"].(string)
	expect(t, e.do(http.MethodPost, "/v1/sessions/"+manual+"/accept", w.annKey, nil), http.StatusOK, "")
	expect(t, e.do(http.MethodPost, "/v1/sessions/"+manual+"/close", w.annKey, nil), http.StatusOK, "")
	e.text(w.acct, w.contactTwo, w.annNumber, "Still there?")
	idle := w.session(w.annKey, w.contactTwo, w.annNumber)["id"].(string)
	mustExec(t, e.db, `SELECT routing_close_idle(now() + interval '2 days', 100)`)

	closed := deliver[reporting.SessionClosed](rc, reporting.EventSessionClosed)
	if len(closed) != 2 {
		t.Fatalf("got %d session.closed, want 2", len(closed))
	}
	byID := map[string]reporting.SessionClosed{closed[0].SessionID: closed[0], closed[1].SessionID: closed[1]}
	m := byID[manual]
	if m.Status != reporting.SessionFailed || m.FailureReason == "" || m.Contact != w.contact || m.MessagesIn != 1 ||
		m.AssigneeID == nil || *m.AssigneeID != w.ann || m.ClosedAt.IsZero() {
		t.Errorf("got %+v, want a failed close of the session Ann accepted but never answered", m)
	}
	i := byID[idle]
	if i.Status != reporting.SessionFailed || i.CloseReason != "idle" || i.FailureReason != "No agent replied before the session closed after 24 hours idle." {
		t.Errorf("got %+v, want failed after 24 hours idle", i)
	}
}

func TestEvents_AnAgentsReplyMakesTheCloseCompleted(t *testing.T) {
	t.Parallel()
	x := newTexting(t)
	alice, aliceKey := x.agent("Alice")
	x.number("twilio", "+14158670001", true)
	x.direct(alice, "+14158670001")
	rc := x.subscribeAll()

	sent := x.sent(aliceKey, map[string]any{"to": "312-867-0001", "body": "Hello from Acme"})
	msgs := deliver[reporting.MessageSent](rc, reporting.EventMessageSent)
	if len(msgs) != 1 {
		t.Fatalf("got %d message.sent, want 1", len(msgs))
	}
	if m := msgs[0]; m.MessageID != sent["id"] || m.SessionID != sent["session_id"] || m.Kind != "text" || m.Body != "Hello from Acme" ||
		m.From != "+14158670001" || m.To != "+13128670001" || m.SenderUserID == nil || *m.SenderUserID != alice || m.Status != "queued" {
		t.Errorf("got message.sent %+v, want Alice's queued text", m)
	}
	if created := deliver[reporting.SessionCreated](rc, reporting.EventSessionCreated); len(created) != 1 || created[0].Type != "Messaging Outbound (SMS Direct)" {
		t.Errorf("got session.created %+v, want the outbound session the text opened", created)
	}

	if n := x.runOutbox(time.Now()); n != 1 {
		t.Fatalf("got %d texts sent, want 1", n)
	}
	for _, status := range []string{"sent", "delivered"} {
		if err := x.fake.PostTwilioStatus(context.Background(), x.carrierID(sent["id"].(string)), status, ""); err != nil {
			t.Fatalf("post status %s: %v", status, err)
		}
	}
	statuses := deliver[reporting.MessageStatus](rc, reporting.EventMessageStatus)
	var seq []string
	for _, st := range statuses {
		if st.MessageID != sent["id"] || st.SessionID != sent["session_id"] || st.ErrorCode != nil || st.ChangedAt.IsZero() {
			t.Errorf("got message.status %+v, want one of Alice's text", st)
		}
		seq = append(seq, st.Status)
	}
	if !slices.Equal(seq, []string{"sent", "delivered"}) {
		t.Errorf("got message.status %v, want [sent delivered] (the outbox's own queued and sending steps are not events)", seq)
	}

	expect(t, x.do(http.MethodPost, "/v1/sessions/"+sent["session_id"].(string)+"/close", aliceKey, nil), http.StatusOK, "")
	closed := deliver[reporting.SessionClosed](rc, reporting.EventSessionClosed)
	if len(closed) != 1 || closed[0].Status != reporting.SessionCompleted || closed[0].FailureReason != "" || closed[0].MessagesOut != 1 {
		t.Errorf("got session.closed %+v, want completed with the one agent text", closed)
	}
}

func TestEvents_StatusChangeProducesAgentStatus(t *testing.T) {
	t.Parallel()
	w := newInboundWorld(t)
	e := w.e
	rc := e.subscribeAll()
	e.setStatus(w.ann, "away")
	e.setStatus(w.ann, "away")

	got := deliver[reporting.AgentStatus](rc, reporting.EventAgentStatus)
	if len(got) != 1 {
		t.Fatalf("got %d agent.status, want 1 (setting the same status again changes nothing)", len(got))
	}
	if a := got[0]; a.UserID != w.ann || a.Status != "away" || a.PreviousStatus != "available" || a.ChangedBy == nil || *a.ChangedBy != e.adminID || a.Reason == "" {
		t.Errorf("got agent.status %+v, want Ann available → away by the admin", a)
	}
}

func TestEvents_WithoutASubscriptionThatWantsThemNothingIsStored(t *testing.T) {
	t.Parallel()
	w := newInboundWorld(t)
	e := w.e
	if _, err := reporting.NewStore(e.db, nil).CreateSubscription(context.Background(), e.tenantID, e.adminID,
		reporting.NewSubscription{URL: "http://127.0.0.1:9/hooks", Secret: hookSecret, Events: []string{"agent.status"}}, true); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	e.text(w.acct, w.contact, w.annNumber, "Hello")
	id := w.session(w.annKey, w.contact, w.annNumber)["id"].(string)
	expect(t, e.do(http.MethodPost, "/v1/sessions/"+id+"/close", e.adminKey, nil), http.StatusOK, "")
	if n := e.count(`SELECT count(*) FROM webhook_events`); n != 0 {
		t.Errorf("got %d events stored, want 0: the only subscription wants agent.status", n)
	}
	e.setStatus(w.bob, "away")
	if n := e.count(`SELECT count(*) FROM webhook_events WHERE type = 'agent.status'`); n != 1 {
		t.Errorf("got %d agent.status events, want 1", n)
	}
}

func TestEvents_MessageReceivedListsTheMediaURLsInOrder(t *testing.T) {
	t.Parallel()
	w := newInboundWorld(t)
	e := w.e
	rc := e.subscribeAll()
	form, _ := twilioForm(w.acct, w.contact, w.annNumber, "Look")
	form.Set("NumMedia", "2")
	form.Set("MediaUrl0", "https://media.example/a.png")
	form.Set("MediaContentType0", "image/png")
	form.Set("MediaUrl1", "https://media.example/b.jpg")
	form.Set("MediaContentType1", "image/jpeg")
	expect(t, e.postForm(twilioPath, form.Encode(), twilio.Signature(w.acct.Token, publicURL+twilioPath, form)), http.StatusOK, "")

	got := deliver[reporting.MessageReceived](rc, reporting.EventMessageReceived)
	if len(got) != 1 || !slices.Equal(got[0].Media, []string{"https://media.example/a.png", "https://media.example/b.jpg"}) {
		t.Errorf("got message.received %+v, want both media URLs in order", got)
	}
}

func TestEvents_IdleFailureReasonSaysTheIdleTimeInWords(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cases := []struct {
		seconds int
		want    string
	}{
		{60, "1 minute"}, {5400, "90 minutes"}, {3600, "1 hour"}, {86400, "24 hours"}, {61, "61 seconds"},
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			var got string
			if err := e.db.Get(&got, `SELECT reporting_duration($1)`, tc.seconds); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %q for %d s, want %q", got, tc.seconds, tc.want)
			}
		})
	}
}
