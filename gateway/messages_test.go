package gateway_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// Numbers used across the outbound tests.
const (
	contactA = "+13128670001"
	contactB = "+13128670002"
)

func TestSendMessage_Refusals(t *testing.T) {
	t.Parallel()
	x := newTexting(t)
	alice, aliceKey := x.agent("Alice")
	bob, _ := x.agent("Bob")
	carol, carolKey := x.agent("Carol")
	x.number("twilio", "+14158670001", true)
	x.number("twilio", "+14158670002", true)
	x.number("twilio", "+14158670003", true)
	x.number("twilio", "+14158670004", false)
	x.number("twilio", "+14158670005", true)
	x.direct(alice, "+14158670001")
	x.direct(bob, "+14158670002")
	x.direct(carol, "+14158670003")
	x.direct(carol, "+14158670005")
	// A non-direct number on a queue Alice belongs to, not assigned to her for outbound.
	sales := x.smsQueue("Sales", []string{alice}, nil)
	x.queueNumber(sales, "+14158670004")
	mustExec(t, x.db, `INSERT INTO contacts (tenant_id, address, kind, opted_out, opted_out_at, created_at)
		VALUES ($1, $2, 'number', true, now(), now())`, x.tenantID, contactB)
	_, _, otherKey := x.newTenant("Other")
	aliceSession := x.sent(aliceKey, map[string]any{"to": contactA, "body": "hi"})["session_id"].(string)

	tests := []struct {
		name   string
		key    string
		body   map[string]any
		idem   string
		status int
		code   string
	}{
		{name: "another agent's direct number", key: aliceKey, body: map[string]any{"to": contactA, "body": "hi", "from": "+14158670002"}, status: 403, code: "sender_not_allowed"},
		{name: "a number not in the inventory", key: aliceKey, body: map[string]any{"to": contactA, "body": "hi", "from": "+14158679999"}, status: 403, code: "sender_not_allowed"},
		{name: "a queue's non-direct number without an outbound assignment", key: aliceKey, body: map[string]any{"to": contactA, "body": "hi", "from": "+14158670004"}, status: 403, code: "sender_not_allowed"},
		{name: "an opted-out recipient", key: aliceKey, body: map[string]any{"to": contactB, "body": "hi"}, status: 409, code: "recipient_opted_out"},
		{name: "an opted-out recipient written nationally", key: aliceKey, body: map[string]any{"to": "(312) 867-0002", "body": "hi"}, status: 409, code: "recipient_opted_out"},
		{name: "a to that is no number", key: aliceKey, body: map[string]any{"to": "call me", "body": "hi"}, status: 422, code: "invalid_number"},
		{name: "a to that is an alphanumeric sender id", key: aliceKey, body: map[string]any{"to": "ACME", "body": "hi"}, status: 422, code: "invalid_number"},
		{name: "no to and no session", key: aliceKey, body: map[string]any{"body": "hi"}, status: 422, code: "invalid_number"},
		{name: "a from that is no number", key: aliceKey, body: map[string]any{"to": contactA, "body": "hi", "from": "12"}, status: 422, code: "invalid_number"},
		{name: "an empty body", key: aliceKey, body: map[string]any{"to": contactA, "body": ""}, status: 422, code: "empty_body"},
		{name: "a blank body", key: aliceKey, body: map[string]any{"to": contactA, "body": " \n\t"}, status: 422, code: "empty_body"},
		{name: "a body of eleven GSM-7 segments", key: aliceKey, body: map[string]any{"to": contactA, "body": strings.Repeat("a", 1531)}, status: 422, code: "body_too_long"},
		{name: "a body of eleven UCS-2 segments", key: aliceKey, body: map[string]any{"to": contactA, "body": strings.Repeat("ж", 671)}, status: 422, code: "body_too_long"},
		{name: "no from with two direct numbers", key: carolKey, body: map[string]any{"to": contactA, "body": "hi"}, status: 422, code: "from_required"},
		{name: "an unknown session", key: aliceKey, body: map[string]any{"body": "hi", "session_id": "3f1b6a62-3b8e-4b43-9d57-6a1c4bd5d9a1"}, status: 422, code: "unknown_session"},
		{name: "a session id that is no id", key: aliceKey, body: map[string]any{"body": "hi", "session_id": "nope"}, status: 422, code: "unknown_session"},
		{name: "another tenant's session", key: otherKey, body: map[string]any{"body": "hi", "session_id": aliceSession}, status: 422, code: "unknown_session"},
		{name: "a to that is not the session's contact", key: aliceKey, body: map[string]any{"to": "+13128670003", "body": "hi", "session_id": aliceSession}, status: 422, code: "session_mismatch"},
		{name: "a from that is not the session's number", key: carolKey, body: map[string]any{"body": "hi", "from": "+14158670003", "session_id": aliceSession}, status: 422, code: "session_mismatch"},
		{name: "another agent's session on their number", key: carolKey, body: map[string]any{"body": "hi", "session_id": aliceSession}, status: 403, code: "sender_not_allowed"},
		{name: "an unknown field", key: aliceKey, body: map[string]any{"to": contactA, "body": "hi", "media": "x"}, status: 400, code: "invalid_request"},
		{name: "a body that is not a string", key: aliceKey, body: map[string]any{"to": contactA, "body": 7}, status: 400, code: "invalid_request"},
		{name: "an Idempotency-Key over 255 characters", key: aliceKey, body: map[string]any{"to": contactA, "body": "hi"}, idem: strings.Repeat("k", 256), status: 422, code: "invalid_idempotency_key"},
		{name: "an Idempotency-Key that is not ASCII", key: aliceKey, body: map[string]any{"to": contactA, "body": "hi"}, idem: "clé-1", status: 422, code: "invalid_idempotency_key"},
		{name: "no key", key: "", body: map[string]any{"to": contactA, "body": "hi"}, status: 401, code: "unauthenticated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := x.sub(t).send(tc.key, tc.body, tc.idem)
			expect(t, r, tc.status, tc.code)
		})
	}
	var queued int
	x.scalar(&queued, `SELECT count(*) FROM messages`)
	if queued != 1 {
		t.Errorf("got %d messages after the refusals, want only the one set up", queued)
	}
}

func TestSendMessage_AllowedSenders(t *testing.T) {
	t.Parallel()
	x := newTexting(t)
	support := x.team("Support")
	alice, aliceKey := x.agent("Alice", support)
	x.number("twilio", "+14158670001", true)  // Alice's direct number
	x.number("twilio", "+14158670002", true)  // a direct number of a queue Alice is in
	x.number("telnyx", "+14158670003", true)  // a direct number of a queue her team is in
	x.number("twilio", "+14158670004", false) // assigned to Alice for outbound
	x.number("telnyx", "+14158670005", false) // assigned for outbound to a queue Alice's team is in
	x.direct(alice, "+14158670001")
	direct := x.smsQueue("Direct line", []string{alice}, nil)
	x.queueNumber(direct, "+14158670002")
	viaTeam := x.smsQueue("Team line", nil, []string{support})
	x.queueNumber(viaTeam, "+14158670003")
	x.outboundFor("+14158670004", []string{alice}, nil)
	outboundQueue := x.smsQueue("Outbound", nil, []string{support})
	x.outboundFor("+14158670005", nil, []string{outboundQueue})

	tests := []struct {
		name, from, wantType string
	}{
		{name: "own direct number", from: "+14158670001", wantType: "Messaging Outbound (SMS Direct)"},
		{name: "direct number of an SMS queue the agent is a member of", from: "+14158670002", wantType: "Messaging Outbound (SMS Direct)"},
		{name: "direct number of an SMS queue through the agent's team", from: "+14158670003", wantType: "Messaging Outbound (SMS Direct)"},
		{name: "number assigned to the agent for outbound", from: "+14158670004", wantType: "Messaging Outbound"},
		{name: "number assigned for outbound to a queue of the agent's team", from: "+14158670005", wantType: "Messaging Outbound"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := x.sub(t)
			got := x.sent(aliceKey, map[string]any{"to": contactA, "body": "Your claim is open.", "from": tc.from})
			m := x.message(got["id"].(string))
			if m["from"] != tc.from || m["to"] != contactA || m["status"] != "queued" || m["sender_user_id"] != alice {
				t.Errorf("got message %v, want queued from %s to %s by %s", m, tc.from, contactA, alice)
			}
			var typ, assignee string
			x.scalar(&typ, `SELECT type FROM sessions WHERE id = $1`, got["session_id"])
			x.scalar(&assignee, `SELECT assignee_id FROM sessions WHERE id = $1`, got["session_id"])
			if typ != tc.wantType || assignee != alice {
				t.Errorf("got session type %q assigned to %s, want %q assigned to %s", typ, assignee, tc.wantType, alice)
			}
		})
	}
}

func TestSendMessage_FromIsInferred(t *testing.T) {
	t.Parallel()
	x := newTexting(t)
	alice, aliceKey := x.agent("Alice")
	x.number("twilio", "+14158670001", true)
	x.number("twilio", "+14158670002", false)
	x.direct(alice, "+14158670001")
	x.outboundFor("+14158670002", []string{alice}, nil)

	t.Run("the one direct number the agent owns", func(t *testing.T) {
		got := x.sent(aliceKey, map[string]any{"to": contactA, "body": "hi"})
		if from := x.message(got["id"].(string))["from"]; from != "+14158670001" {
			t.Errorf("got from %v, want the direct number +14158670001", from)
		}
	})
	t.Run("the number of the session named", func(t *testing.T) {
		first := x.sent(aliceKey, map[string]any{"to": contactB, "body": "hi", "from": "+14158670002"})
		reply := x.sent(aliceKey, map[string]any{"body": "and again", "session_id": first["session_id"]})
		m := x.message(reply["id"].(string))
		if m["from"] != "+14158670002" || m["to"] != contactB || reply["session_id"] != first["session_id"] {
			t.Errorf("got %v in session %v, want from +14158670002 to %s in session %v", m, reply["session_id"], contactB, first["session_id"])
		}
	})
}

func TestSendMessage_FirstTextOpensOutboundSessionAndTheNextContinuesIt(t *testing.T) {
	t.Parallel()
	x := newTexting(t)
	alice, aliceKey := x.agent("Alice")
	x.number("twilio", "+14158670001", true)
	x.direct(alice, "+14158670001")

	first := x.sent(aliceKey, map[string]any{"to": "312-867-0001", "body": "Hello from Acme"})
	if first["status"] != "queued" || first["segments"] != float64(1) || first["encoding"] != "GSM-7" {
		t.Errorf("got %v, want queued, 1 segment, GSM-7", first)
	}
	var s struct {
		Type           string     `db:"type"`
		Status         string     `db:"status"`
		OwnerUserID    *string    `db:"owner_user_id"`
		AssigneeID     *string    `db:"assignee_id"`
		QueueID        *string    `db:"queue_id"`
		LastAgentReply *time.Time `db:"last_agent_reply_at"`
		FirstResponse  *time.Time `db:"first_response_at"`
	}
	if err := x.db.Get(&s, `SELECT type, status, owner_user_id, assignee_id, queue_id, last_agent_reply_at, first_response_at
		FROM sessions WHERE id = $1`, first["session_id"]); err != nil {
		t.Fatal(err)
	}
	var personal string
	x.scalar(&personal, `SELECT id FROM queues WHERE personal_user_id = $1`, alice)
	if s.Type != "Messaging Outbound (SMS Direct)" || s.Status != "open" || s.OwnerUserID == nil || *s.OwnerUserID != alice ||
		s.AssigneeID == nil || *s.AssigneeID != alice || s.QueueID == nil || *s.QueueID != personal || s.LastAgentReply == nil || s.FirstResponse != nil {
		t.Errorf("got session %+v, want an open Messaging Outbound (SMS Direct) session owned by and assigned to %s in queue %s, with a last agent reply and no first response", s, alice, personal)
	}
	var timeline []string
	if err := x.db.Select(&timeline, `SELECT kind FROM session_events WHERE session_id = $1 ORDER BY id`, first["session_id"]); err != nil {
		t.Fatal(err)
	}
	if strings.Join(timeline, ",") != "created,assigned" {
		t.Errorf("got timeline %v, want created, assigned", timeline)
	}

	second := x.sent(aliceKey, map[string]any{"to": contactA, "body": "Ça va? 😀"})
	if second["session_id"] != first["session_id"] || second["encoding"] != "UCS-2" {
		t.Errorf("got %v, want the same session %v and UCS-2", second, first["session_id"])
	}
	var sessions int
	x.scalar(&sessions, `SELECT count(*) FROM sessions`)
	if sessions != 1 {
		t.Errorf("got %d sessions, want 1", sessions)
	}
}

func TestSendMessage_ConcurrentFirstTextsOpenOneSession(t *testing.T) {
	t.Parallel()
	x := newTexting(t)
	alice, aliceKey := x.agent("Alice")
	x.number("twilio", "+14158670001", true)
	x.direct(alice, "+14158670001")
	var wg sync.WaitGroup
	answers := make([]response, 8)
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = x.send(aliceKey, map[string]any{"to": contactA, "body": "hi"}, "")
		}()
	}
	wg.Wait()
	for _, r := range answers {
		expect(t, r, http.StatusAccepted, "")
	}
	var sessions, contacts, messages int
	x.scalar(&sessions, `SELECT count(*) FROM sessions`)
	x.scalar(&contacts, `SELECT count(*) FROM contacts`)
	x.scalar(&messages, `SELECT count(*) FROM messages`)
	if sessions != 1 || contacts != 1 || messages != len(answers) {
		t.Errorf("got %d sessions, %d contacts, %d messages; want 1, 1, %d", sessions, contacts, messages, len(answers))
	}
}

func TestSendMessage_ReplyContinuesAnInboundSession(t *testing.T) {
	t.Parallel()
	x := newTexting(t)
	alice, aliceKey := x.agent("Alice")
	x.number("twilio", "+14158670001", true)
	x.direct(alice, "+14158670001")
	inboundAt := time.Now().Add(-time.Minute).UTC()
	var contactID, sessionID string
	x.scalar(&contactID, `INSERT INTO contacts (tenant_id, address, kind, created_at) VALUES ($1, $2, 'number', $3) RETURNING id`,
		x.tenantID, contactA, inboundAt)
	x.scalar(&sessionID, `INSERT INTO sessions (tenant_id, contact_id, number, type, owner_user_id, assignee_id, assigned_at,
			first_inbound_at, last_inbound_at, last_message_at, created_at)
		VALUES ($1, $2, '+14158670001', 'Messaging Inbound (SMS Direct)', $3, $3, $4, $4, $4, $4, $4) RETURNING id`,
		x.tenantID, contactID, alice, inboundAt)
	mustExec(t, x.db, `INSERT INTO messages (tenant_id, session_id, direction, from_address, to_address, body, status, created_at, status_changed_at)
		VALUES ($1, $2, 'in', $3, '+14158670001', 'Is my order ready?', 'received', $4, $4)`, x.tenantID, sessionID, contactA, inboundAt)

	reply := x.sent(aliceKey, map[string]any{"body": "Yes, since this morning.", "session_id": sessionID})
	again := x.sent(aliceKey, map[string]any{"to": contactA, "body": "Anything else?"})
	if reply["session_id"] != sessionID || again["session_id"] != sessionID {
		t.Errorf("got sessions %v and %v, want both in the inbound session %s", reply["session_id"], again["session_id"], sessionID)
	}
	var s struct {
		Type          string    `db:"type"`
		FirstResponse time.Time `db:"first_response_at"`
		LastReply     time.Time `db:"last_agent_reply_at"`
	}
	if err := x.db.Get(&s, `SELECT type, first_response_at, last_agent_reply_at FROM sessions WHERE id = $1`, sessionID); err != nil {
		t.Fatal(err)
	}
	var firstCreated, lastCreated time.Time
	x.scalar(&firstCreated, `SELECT created_at FROM messages WHERE id = $1`, reply["id"])
	x.scalar(&lastCreated, `SELECT created_at FROM messages WHERE id = $1`, again["id"])
	if s.Type != "Messaging Inbound (SMS Direct)" || !s.FirstResponse.Equal(firstCreated) || !s.LastReply.Equal(lastCreated) {
		t.Errorf("got %+v, want the inbound type kept, first response at the first reply (%s) and last reply at the second (%s)",
			s, firstCreated, lastCreated)
	}
}

func TestSendMessage_AReplyToAClosedSessionOpensANewOne(t *testing.T) {
	t.Parallel()
	x := newTexting(t)
	alice, aliceKey := x.agent("Alice")
	x.number("twilio", "+14158670001", true)
	x.direct(alice, "+14158670001")
	first := x.sent(aliceKey, map[string]any{"to": contactA, "body": "hi"})
	mustExec(t, x.db, `UPDATE sessions SET status = 'closed', closed_at = now(), close_reason = 'agent' WHERE id = $1`, first["session_id"])
	reply := x.sent(aliceKey, map[string]any{"body": "one more thing", "session_id": first["session_id"]})
	if reply["session_id"] == first["session_id"] {
		t.Fatalf("got the closed session %v, want a new one", reply["session_id"])
	}
	var open int
	x.scalar(&open, `SELECT count(*) FROM sessions WHERE status = 'open' AND id = $1`, reply["session_id"])
	if open != 1 {
		t.Errorf("got no open session %v, want the reply in a new open session", reply["session_id"])
	}
}

func TestSendMessage_SessionAssigneeMayReplyOnAQueueNumber(t *testing.T) {
	t.Parallel()
	x := newTexting(t)
	alice, aliceKey := x.agent("Alice")
	x.number("twilio", "+14158670004", false)
	sales := x.smsQueue("Sales", []string{alice}, nil)
	x.queueNumber(sales, "+14158670004")
	var contactID, sessionID string
	x.scalar(&contactID, `INSERT INTO contacts (tenant_id, address, kind, created_at) VALUES ($1, $2, 'number', now()) RETURNING id`, x.tenantID, contactA)
	x.scalar(&sessionID, `INSERT INTO sessions (tenant_id, contact_id, number, type, owner_queue_id, queue_id, assignee_id, assigned_at,
			first_inbound_at, last_message_at, created_at)
		VALUES ($1, $2, '+14158670004', 'Messaging Inbound', $3, $3, $4, now(), now(), now(), now()) RETURNING id`,
		x.tenantID, contactID, sales, alice)
	reply := x.sent(aliceKey, map[string]any{"body": "Thanks for writing.", "session_id": sessionID})
	if reply["session_id"] != sessionID {
		t.Errorf("got session %v, want %s", reply["session_id"], sessionID)
	}
	expect(t, x.send(aliceKey, map[string]any{"to": contactB, "body": "hi", "from": "+14158670004"}, ""), http.StatusForbidden, "sender_not_allowed")
}

func TestSendMessage_IdempotencyKeySendsOnce(t *testing.T) {
	t.Parallel()
	x := newTexting(t)
	alice, aliceKey := x.agent("Alice")
	bob, bobKey := x.agent("Bob")
	x.number("twilio", "+14158670001", true)
	x.number("twilio", "+14158670002", true)
	x.direct(alice, "+14158670001")
	x.direct(bob, "+14158670002")
	body := map[string]any{"to": contactA, "body": "Your table is ready."}

	first := x.send(aliceKey, body, "order-42")
	expect(t, first, http.StatusAccepted, "")
	retry := x.send(aliceKey, body, "order-42")
	expect(t, retry, http.StatusAccepted, "")
	if string(retry.Body) != string(first.Body) || retry.Header.Get("Idempotent-Replayed") != "true" || first.Header.Get("Idempotent-Replayed") != "" {
		t.Errorf("got %s (replayed %q) then %s (replayed %q), want the same answer, the second marked replayed",
			first.Body, first.Header.Get("Idempotent-Replayed"), retry.Body, retry.Header.Get("Idempotent-Replayed"))
	}
	expect(t, x.send(aliceKey, map[string]any{"to": contactA, "body": "Another text."}, "order-42"), http.StatusUnprocessableEntity, "idempotency_key_reused")
	// Keys are the caller's own: Bob's order-42 is another request.
	bobs := x.send(bobKey, body, "order-42")
	expect(t, bobs, http.StatusAccepted, "")
	if bobs.JSON(t)["id"] == first.JSON(t)["id"] {
		t.Errorf("Bob's request with Alice's key got her message %v, want his own", first.JSON(t)["id"])
	}

	// Concurrent retries of one request queue it once.
	var wg sync.WaitGroup
	concurrent := make([]response, 10)
	for i := range concurrent {
		wg.Add(1)
		go func() {
			defer wg.Done()
			concurrent[i] = x.send(aliceKey, map[string]any{"to": contactB, "body": "Once only."}, "burst")
		}()
	}
	wg.Wait()
	for _, r := range concurrent {
		expect(t, r, http.StatusAccepted, "")
		if string(r.Body) != string(concurrent[0].Body) {
			t.Errorf("got answers %s and %s, want one answer for one key", concurrent[0].Body, r.Body)
		}
	}

	if sent := x.runOutbox(time.Now()); sent != 3 {
		t.Errorf("the outbox sent %d texts, want 3 (Alice's twice-posted one, Bob's, the burst's)", sent)
	}
	if n := x.fake.SentCount(); n != 3 {
		t.Errorf("the carrier got %d texts, want 3", n)
	}
	// A retry after the send answers the same, and sends nothing more.
	expect(t, x.send(aliceKey, body, "order-42"), http.StatusAccepted, "")
	x.runOutbox(time.Now())
	if n := x.fake.SentCount(); n != 3 {
		t.Errorf("the carrier got %d texts after a late retry, want still 3", n)
	}
}

func TestGetMessage_Visibility(t *testing.T) {
	t.Parallel()
	x := newTexting(t)
	alice, aliceKey := x.agent("Alice")
	_, bobKey := x.agent("Bob")
	_, supervisorKey := x.user("Sue", "supervisor", x.agents)
	x.number("twilio", "+14158670001", true)
	x.direct(alice, "+14158670001")
	id := x.sent(aliceKey, map[string]any{"to": contactA, "body": "hi"})["id"].(string)
	_, _, otherKey := x.newTenant("Other")

	tests := []struct {
		name   string
		key    string
		path   string
		status int
	}{
		{name: "the sender", key: aliceKey, path: "/v1/messages/" + id, status: 200},
		{name: "an admin", key: x.adminKey, path: "/v1/messages/" + id, status: 200},
		{name: "a supervisor", key: supervisorKey, path: "/v1/messages/" + id, status: 200},
		{name: "another agent", key: bobKey, path: "/v1/messages/" + id, status: 404},
		{name: "another tenant's admin", key: otherKey, path: "/v1/messages/" + id, status: 404},
		{name: "an id that is no id", key: aliceKey, path: "/v1/messages/nope", status: 404},
		{name: "an unknown id", key: aliceKey, path: "/v1/messages/3f1b6a62-3b8e-4b43-9d57-6a1c4bd5d9a1", status: 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := x.with(t).do(http.MethodGet, tc.path, tc.key, nil)
			expect(t, r, tc.status, "")
			if tc.status == 200 {
				m := r.JSON(t)
				if m["id"] != id || m["direction"] != "out" || m["kind"] != "text" || m["body"] != "hi" || m["attempts"] != float64(0) {
					t.Errorf("got %v, want the queued text %s", m, id)
				}
			}
		})
	}
}

func TestSendMessage_ConcurrentTextsAreAnsweredEachOnItsOwn(t *testing.T) {
	t.Parallel()
	x := newTexting(t)
	alice, aliceKey := x.agent("Alice")
	x.number("twilio", "+14158670001", true)
	x.direct(alice, "+14158670001")
	mustExec(t, x.db, `INSERT INTO contacts (tenant_id, address, kind, opted_out, opted_out_at, created_at)
		VALUES ($1, $2, 'number', true, now(), now())`, x.tenantID, contactB)
	// Texts of concurrent requests are committed together; a refused one must not take the
	// others down with it, nor be queued with them.
	var wg sync.WaitGroup
	answers := make([]response, 40)
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := map[string]any{"to": fmt.Sprintf("+1312867%04d", 100+i), "body": "hi"}
			if i%2 == 1 {
				body["to"] = contactB
			}
			answers[i] = x.send(aliceKey, body, fmt.Sprint("k", i))
		}()
	}
	wg.Wait()
	for i, r := range answers {
		if i%2 == 1 {
			expect(t, r, http.StatusConflict, "recipient_opted_out")
			continue
		}
		expect(t, r, http.StatusAccepted, "")
	}
	var queued, keys int
	x.scalar(&queued, `SELECT count(*) FROM messages`)
	x.scalar(&keys, `SELECT count(*) FROM idempotency_keys`)
	if queued != len(answers)/2 || keys != len(answers)/2 {
		t.Errorf("got %d messages and %d idempotency keys, want %d of each", queued, keys, len(answers)/2)
	}
}
