package routing

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"directsms/directory"
	"directsms/numbers"
)

// The batch tests hand several texts at once to inboundRun or inboundBatch, as the batcher
// hands them the texts of concurrent requests: batching happens only under concurrency, which
// these tests arrange without depending on timing. Their world is thresholdWorld's: agent Ann
// owns annNumber, the Day queue owns queueNumber.

// batchWorld is a thresholdWorld whose texts are built as a batch takes them.
type batchWorld struct {
	*thresholdWorld
	sids int
}

func newBatchWorld(t *testing.T) *batchWorld {
	t.Helper()
	return &batchWorld{thresholdWorld: newThresholdWorld(t)}
}

// otherTenant creates another tenant with a Twilio account and answers their ids.
func (w *batchWorld) otherTenant() (tenantID, accountID string) {
	w.t.Helper()
	ctx := context.Background()
	created, err := directory.NewStore(w.db, nil).CreateTenant(ctx, directory.NewTenant{Name: "Other", AdminEmail: "admin@other.example"})
	if err != nil {
		w.t.Fatalf("create tenant: %v", err)
	}
	acct, err := numbers.NewStore(w.db, numbers.Config{}).CreateAccount(ctx, created.TenantID, numbers.NewAccount{
		Provider: numbers.ProviderTwilio, AccountSID: "AC1123456789abcdef0123456789abcdef", AuthToken: "token"})
	if err != nil {
		w.t.Fatalf("create carrier account: %v", err)
	}
	return created.TenantID, acct.ID
}

// inbound is a text from contact to number with a new carrier message id, signed by the
// world's account.
func (w *batchWorld) inbound(contact, number, body string) Inbound {
	w.t.Helper()
	from, err := numbers.ClassifyAddress(contact, "US")
	if err != nil {
		w.t.Fatalf("classify %s: %v", contact, err)
	}
	w.sids++
	return Inbound{AccountID: w.account, Provider: ProviderTwilio, AccountSID: "AC0123456789abcdef0123456789abcdef",
		CarrierMessageID: fmt.Sprintf("SMbatch%026d", w.sids), From: from, To: number, Body: body}
}

// item is in as a batch takes it, arriving at at.
func (w *batchWorld) item(in Inbound, at time.Time) *inboundItem {
	w.t.Helper()
	it, err := newInboundItem(in, at)
	if err != nil {
		w.t.Fatalf("item of %s: %v", in.CarrierMessageID, err)
	}
	return it
}

// deliver stores one text through Service.Inbound, before the batch under test, and requires
// the outcome.
func (w *batchWorld) deliver(in Inbound, want Outcome) Result {
	w.t.Helper()
	res, err := w.svc.Inbound(context.Background(), in)
	if err != nil || res.Outcome != want {
		w.t.Fatalf("deliver %s: got %+v %v, want %s", in.CarrierMessageID, res, err, want)
	}
	return res
}

// batch runs items as one batch, in one transaction, and answers their results in order. It
// requires that transaction to succeed: inboundBatch would run the texts again one at a time
// after a failure, with the same answers, and hide a batch that cannot be stored as one.
func (w *batchWorld) batch(items ...*inboundItem) []Result {
	w.t.Helper()
	// inboundRun fails unless every text got exactly one answer.
	res, err := w.svc.inboundRun(context.Background(), items)
	if err != nil {
		w.t.Fatalf("batch of %d: %v", len(items), err)
	}
	return res
}

// copies is how many times a carrier message id is stored, routed or unrouted.
func (w *batchWorld) copies(carrierMessageID string) int {
	w.t.Helper()
	return w.count(`SELECT (SELECT count(*) FROM messages WHERE direction = 'in' AND carrier_message_id = $1)
		+ (SELECT count(*) FROM unrouted_messages WHERE carrier_message_id = $1)`, carrierMessageID)
}

// sessionsOf lists the ids of a contact's sessions on number, oldest first.
func (w *batchWorld) sessionsOf(contact, number string) []string {
	w.t.Helper()
	var ids []string
	if err := w.db.Select(&ids, `SELECT s.id FROM sessions s JOIN contacts c ON c.id = s.contact_id
		WHERE c.address = $1 AND s.number = $2 ORDER BY s.created_at, s.id`, contact, number); err != nil {
		w.t.Fatalf("sessions of %s: %v", contact, err)
	}
	return ids
}

// bodies lists the bodies of a session's inbound messages by (created_at, id).
func (w *batchWorld) bodies(sessionID string) []string {
	w.t.Helper()
	var bodies []string
	if err := w.db.Select(&bodies, `SELECT body FROM messages WHERE session_id = $1 AND direction = 'in' ORDER BY created_at, id`, sessionID); err != nil {
		w.t.Fatalf("messages of %s: %v", sessionID, err)
	}
	return bodies
}

// waitForLockWait waits until a statement of the world's database waits for a row lock.
func (w *batchWorld) waitForLockWait() {
	w.t.Helper()
	waitFor(w.t, "a statement waiting for a lock", func() bool {
		return w.count(`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`) > 0
	})
}

func TestInboundBatch_EachTextOfAMixedBatchGetsItsOwnOutcomeAndIsStoredOnce(t *testing.T) {
	t.Parallel()
	w := newBatchWorld(t)
	// The account leaves STOP to directsms, and the tenant's name is not GSM-7, so the opt-out
	// confirmation takes two UCS-2 segments: not what the columns default to.
	w.exec(`UPDATE carrier_accounts SET sends_own_opt_out_confirmation = false WHERE id = $1`, w.account)
	w.exec(`UPDATE tenants SET name = 'Tōkyō Flowers' WHERE id = $1`, w.tenantID)
	const (
		talking  = "+14155560001" // has an open session on annNumber
		stopping = "+14155560002" // has an open session on annNumber, and sends STOP
		newcomer = "+14155560003"
		twice    = "+14155560004"
		stranger = "+14155560005"
		early    = "+14155560006" // texted while the tenant had SMS off
	)
	earlier := w.inbound(talking, annNumber, "hello")
	talkingSession := w.deliver(earlier, OutcomeRouted).SessionID
	stoppingSession := w.deliver(w.inbound(stopping, annNumber, "hi"), OutcomeRouted).SessionID
	unrouted := w.inbound(stranger, "+14155550999", "hello?")
	w.deliver(unrouted, OutcomeUnrouted)
	w.exec(`UPDATE tenants SET sms_enabled = false WHERE id = $1`, w.tenantID)
	unroutedThen := w.inbound(early, annNumber, "hello??")
	w.deliver(unroutedThen, OutcomeUnrouted)
	w.exec(`UPDATE tenants SET sms_enabled = true WHERE id = $1`, w.tenantID)
	otherTenant, otherAccount := w.otherTenant()
	// Another tenant's account signs a text to this tenant's number, from a contact with an
	// open session on it.
	foreign := w.inbound(talking, annNumber, "let me in")
	foreign.AccountID = otherAccount

	at := w.now().Add(time.Minute)
	redelivered := w.inbound(twice, annNumber, "are you there?")
	tests := []struct {
		name       string
		in         Inbound
		outcome    Outcome
		reason     UnroutedReason
		tenant     string // the tenant it is stored under; the world's when ""
		session    string // the session it must continue; "" for none
		newSession bool
		reply      bool
	}{
		{name: "continued session", in: w.inbound(talking, annNumber, "on my way ☕"), outcome: OutcomeRouted, session: talkingSession},
		{name: "new session", in: w.inbound(newcomer, queueNumber, "where is my order?"), outcome: OutcomeRouted, newSession: true},
		{name: "redelivery of a text stored before", in: earlier, outcome: OutcomeDuplicate},
		{name: "redelivery of a text kept as unrouted", in: unrouted, outcome: OutcomeDuplicate},
		{name: "redelivery of a text kept as unrouted, routable now", in: unroutedThen, outcome: OutcomeDuplicate},
		{name: "first copy in the batch", in: redelivered, outcome: OutcomeRouted, newSession: true},
		{name: "second copy in the batch", in: redelivered, outcome: OutcomeDuplicate},
		{name: "unknown number", in: w.inbound(stranger, "+14155550999", "anyone?"), outcome: OutcomeUnrouted, reason: UnroutedUnknownNumber},
		{name: "number of another tenant than the account's", in: foreign, outcome: OutcomeUnrouted, reason: UnroutedUnknownNumber, tenant: otherTenant},
		{name: "STOP in an open session", in: w.inbound(stopping, annNumber, "STOP"), outcome: OutcomeRouted, session: stoppingSession, reply: true},
	}
	items := make([]*inboundItem, len(tests))
	for i, tc := range tests {
		items[i] = w.item(tc.in, at.Add(time.Duration(i)*time.Second))
	}
	results := w.batch(items...)

	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := results[i]
			if res.Outcome != tc.outcome || res.Reason != tc.reason {
				t.Fatalf("got outcome %s %s, want %s %s", res.Outcome, res.Reason, tc.outcome, tc.reason)
			}
			if tc.outcome == OutcomeUnrouted {
				tenant := cmp.Or(tc.tenant, w.tenantID)
				if n := w.count(`SELECT count(*) FROM unrouted_messages WHERE carrier_message_id = $1 AND tenant_id = $2 AND reason = $3`,
					tc.in.CarrierMessageID, tenant, tc.reason); n != 1 || res.TenantID != tenant {
					t.Errorf("got %d unrouted texts in tenant %s, answered in tenant %s; want 1", n, tenant, res.TenantID)
				}
			}
			if tc.outcome != OutcomeRouted {
				if res.MessageID != "" || res.SessionID != "" {
					t.Errorf("got message %q in session %q, want none", res.MessageID, res.SessionID)
				}
				return
			}
			if tc.session != "" && res.SessionID != tc.session {
				t.Errorf("got session %s, want the open session %s", res.SessionID, tc.session)
			}
			if res.NewSession != tc.newSession || res.TenantID != w.tenantID {
				t.Errorf("got new session %v in tenant %s, want %v in %s", res.NewSession, res.TenantID, tc.newSession, w.tenantID)
			}
			if n := w.count(`SELECT count(*) FROM messages WHERE id = $1 AND session_id = $2 AND carrier_message_id = $3
				AND body = $4 AND segments = $5 AND encoding = $6`,
				res.MessageID, res.SessionID, tc.in.CarrierMessageID, tc.in.Body, items[i].Segments, items[i].Encoding); n != 1 {
				t.Errorf("got %d messages %s with the text's session, body, segments and encoding, want 1", n, res.MessageID)
			}
			if n := w.count(`SELECT count(*) FROM events WHERE type = 'message.received' AND data->>'message_id' = $1`, res.MessageID); n != 1 {
				t.Errorf("got %d message.received events, want 1", n)
			}
			if !tc.reply {
				if len(res.ReplyIDs) != 0 {
					t.Errorf("got replies %v, want none", res.ReplyIDs)
				}
				return
			}
			if len(res.ReplyIDs) != 1 {
				t.Fatalf("got replies %v, want one", res.ReplyIDs)
			}
			var reply struct {
				Body     string `db:"body"`
				Segments int    `db:"segments"`
				Encoding string `db:"encoding"`
			}
			if err := w.db.Get(&reply, `SELECT body, segments, encoding FROM messages WHERE id = $1 AND kind = 'opt_out_confirmation' AND status = 'queued'`,
				res.ReplyIDs[0]); err != nil {
				t.Fatalf("read the queued opt-out confirmation: %v", err)
			}
			segments, enc := CountSegments(reply.Body)
			if enc != EncodingUCS2 || segments < 2 {
				t.Fatalf("reply %q counts %d %s segments: the test needs one that differs from the defaults", reply.Body, segments, enc)
			}
			if reply.Segments != segments || reply.Encoding != string(enc) {
				t.Errorf("got reply of %d %s segments, want %d %s", reply.Segments, reply.Encoding, segments, enc)
			}
		})
	}
	for _, tc := range tests {
		if n := w.copies(tc.in.CarrierMessageID); n != 1 {
			t.Errorf("%s: got %d stored copies of %s, want 1", tc.name, n, tc.in.CarrierMessageID)
		}
	}
	if n := w.count(`SELECT count(*) FROM contacts WHERE address = $1 AND opted_out`, stopping); n != 1 {
		t.Errorf("got %d opted-out contacts %s, want 1", n, stopping)
	}
}

func TestInboundBatch_TextsOfOneContactShareTheSessionTheFirstOpensInArrivalOrder(t *testing.T) {
	t.Parallel()
	for _, number := range []string{annNumber, queueNumber} {
		t.Run(number, func(t *testing.T) {
			t.Parallel()
			w := newBatchWorld(t)
			const contact = "+14155560010"
			// Another contact's texts in between, so the batch is not one contact's alone.
			const other = "+14155560011"
			at := w.now()
			var items []*inboundItem
			var want []string
			for i := range 5 {
				body := fmt.Sprintf("part %d", i+1)
				want = append(want, body)
				items = append(items, w.item(w.inbound(contact, number, body), at.Add(time.Duration(i)*time.Second)))
				items = append(items, w.item(w.inbound(other, number, body), at.Add(time.Duration(i)*time.Second)))
			}
			results := w.batch(items...)

			sessions := w.sessionsOf(contact, number)
			if len(sessions) != 1 {
				t.Fatalf("got sessions %v, want one", sessions)
			}
			for i := 0; i < len(items); i += 2 {
				res := results[i]
				if res.Outcome != OutcomeRouted || res.SessionID != sessions[0] || res.NewSession != (i == 0) {
					t.Errorf("text %d: got %s in session %s (new %v), want routed in %s (new only for the first)",
						i/2+1, res.Outcome, res.SessionID, res.NewSession, sessions[0])
				}
			}
			if got := w.bodies(sessions[0]); !slices.Equal(got, want) {
				t.Errorf("got messages %q, want %q", got, want)
			}
			if n := w.count(`SELECT count(*) FROM sessions WHERE id = $1 AND messages_in = 5 AND first_inbound_at = $2
				AND last_inbound_at = $3 AND last_message_at = $3`, sessions[0], at, at.Add(4*time.Second)); n != 1 {
				t.Errorf("session %s: want 5 inbound messages, first at %s and last at %s", sessions[0], at, at.Add(4*time.Second))
			}
			if got := w.sessionsOf(other, number); len(got) != 1 || len(w.bodies(got[0])) != 5 {
				t.Errorf("got the other contact's sessions %v, want one with 5 messages", got)
			}
		})
	}
}

func TestInboundBatch_TextToAClosedSessionOpensANewOne(t *testing.T) {
	t.Parallel()
	w := newBatchWorld(t)
	const contact, talking = "+14155560020", "+14155560021"
	closed := w.deliver(w.inbound(contact, annNumber, "hello"), OutcomeRouted).SessionID
	open := w.deliver(w.inbound(talking, annNumber, "hello"), OutcomeRouted).SessionID
	// Closed as the idle close closes it.
	if got := w.id(`SELECT routing_close($1, $2, 'idle', NULL, $3)`, w.tenantID, closed, w.now()); got != "closed" {
		t.Fatalf("close session: got %s", got)
	}

	at := w.now().Add(time.Minute)
	results := w.batch(
		w.item(w.inbound(contact, annNumber, "me again"), at),
		w.item(w.inbound(talking, annNumber, "still here"), at.Add(time.Second)),
		w.item(w.inbound(contact, annNumber, "hello?"), at.Add(2*time.Second)),
	)

	sessions := w.sessionsOf(contact, annNumber)
	if len(sessions) != 2 || sessions[0] != closed {
		t.Fatalf("got sessions %v, want the closed %s and a new one", sessions, closed)
	}
	reopened := sessions[1]
	for _, tc := range []struct {
		name       string
		res        Result
		session    string
		newSession bool
	}{
		{name: "first text after the close", res: results[0], session: reopened, newSession: true},
		{name: "another contact's open session", res: results[1], session: open},
		{name: "second text after the close", res: results[2], session: reopened},
	} {
		if tc.res.Outcome != OutcomeRouted || tc.res.SessionID != tc.session || tc.res.NewSession != tc.newSession {
			t.Errorf("%s: got %s in session %s (new %v), want routed in %s (new %v)",
				tc.name, tc.res.Outcome, tc.res.SessionID, tc.res.NewSession, tc.session, tc.newSession)
		}
	}
	if got := w.bodies(closed); !slices.Equal(got, []string{"hello"}) {
		t.Errorf("got messages %q in the closed session, want only its own", got)
	}
	if got := w.bodies(reopened); !slices.Equal(got, []string{"me again", "hello?"}) {
		t.Errorf("got messages %q in the new session, want both texts", got)
	}
	if n := w.count(`SELECT count(*) FROM sessions WHERE id = $1 AND status = 'open'`, reopened); n != 1 {
		t.Errorf("new session %s is not open", reopened)
	}
}

func TestInboundBatch_SessionClosedWhileTheBatchWaitsForItOpensANewOne(t *testing.T) {
	t.Parallel()
	w := newBatchWorld(t)
	const contact = "+14155560030"
	closing := w.deliver(w.inbound(contact, annNumber, "hello"), OutcomeRouted).SessionID
	// Another transaction holds the open session, as an idle close does, while the batch starts:
	// the batch takes the text for a continued session and waits for the session's lock.
	tx, err := w.db.Beginx()
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	defer tx.Rollback() //nolint:errcheck // committed below
	if _, err := tx.Exec(`SELECT id FROM sessions WHERE id = $1 FOR UPDATE`, closing); err != nil {
		t.Fatalf("lock session: %v", err)
	}
	item := w.item(w.inbound(contact, annNumber, "are you there?"), w.now().Add(time.Minute))
	done := make(chan outcome[Result], 1)
	go func() { done <- w.svc.inboundBatch(context.Background(), []*inboundItem{item})[0] }()
	w.waitForLockWait()
	if _, err := tx.Exec(`SELECT routing_close($1, $2, 'idle', NULL, $3)`, w.tenantID, closing, w.now()); err != nil {
		t.Fatalf("close session: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("commit the close: %v", err)
	}

	out := <-done
	if out.err != nil || out.res.Outcome != OutcomeRouted || !out.res.NewSession || out.res.SessionID == closing {
		t.Fatalf("got %+v %v, want routed in a new session", out.res, out.err)
	}
	if got := w.bodies(out.res.SessionID); !slices.Equal(got, []string{"are you there?"}) {
		t.Errorf("got messages %q in the new session, want the text", got)
	}
	if got := w.bodies(closing); !slices.Equal(got, []string{"hello"}) {
		t.Errorf("got messages %q in the closed session, want only its own", got)
	}
}

func TestInboundBatch_SessionCountersCountEveryTextOfTheBatch(t *testing.T) {
	t.Parallel()
	w := newBatchWorld(t)
	contacts := []string{"+14155560040", "+14155560041", "+14155560042"}
	for _, c := range contacts {
		w.deliver(w.inbound(c, queueNumber, "hello"), OutcomeRouted)
	}
	at := w.now().Add(time.Minute)
	// Each round one more contact texts (one, two, three, then one again), so the sessions
	// continue with different numbers of texts.
	var items []*inboundItem
	for round := range 4 {
		for i, c := range contacts[:round%len(contacts)+1] {
			items = append(items, w.item(w.inbound(c, queueNumber, fmt.Sprintf("text %d", round)), at.Add(time.Duration(round*10+i)*time.Second)))
		}
	}
	// A keyword goes through routing_inbound after the batch's usual texts, although it came
	// before the last of them: the session's times stay those of its latest text.
	items = append(items, w.item(w.inbound(contacts[0], queueNumber, "HELP"), at.Add(5*time.Second)))
	for i, res := range w.batch(items...) {
		if res.Outcome != OutcomeRouted || res.NewSession {
			t.Errorf("text %d: got %s (new session %v), want routed in the open session", i, res.Outcome, res.NewSession)
		}
	}

	type counters struct {
		Session       string    `db:"id"`
		MessagesIn    int       `db:"messages_in"`
		Stored        int       `db:"stored"`
		LastInbound   time.Time `db:"last_inbound_at"`
		LatestMessage time.Time `db:"latest"`
	}
	var got []counters
	if err := w.db.Select(&got, `SELECT s.id, s.messages_in, s.last_inbound_at,
			(SELECT count(*) FROM messages m WHERE m.session_id = s.id AND m.direction = 'in') AS stored,
			(SELECT max(m.created_at) FROM messages m WHERE m.session_id = s.id AND m.direction = 'in') AS latest
		FROM sessions s ORDER BY s.id`); err != nil {
		t.Fatalf("read sessions: %v", err)
	}
	if len(got) != len(contacts) {
		t.Fatalf("got %d sessions, want %d", len(got), len(contacts))
	}
	total := 0
	for _, c := range got {
		total += c.Stored
		if c.MessagesIn != c.Stored || !c.LastInbound.Equal(c.LatestMessage) {
			t.Errorf("session %s: got messages_in %d, last inbound at %s; want %d, %s", c.Session, c.MessagesIn, c.LastInbound, c.Stored, c.LatestMessage)
		}
	}
	if total != len(contacts)+len(items) {
		t.Errorf("got %d inbound messages, want %d", total, len(contacts)+len(items))
	}
}

func TestInboundBatch_CopyCommittedByAnotherRequestMeanwhileIsADuplicate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		others int
	}{
		{name: "alone in its batch"},
		{name: "with other texts", others: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newBatchWorld(t)
			const contact = "+14155560050"
			w.deliver(w.inbound(contact, annNumber, "hello"), OutcomeRouted)
			copied := w.inbound(contact, annNumber, "sent twice")
			// Another request stores its copy and has not committed when the batch starts: the
			// batch finds no copy stored, then waits for the other's session lock.
			tx, err := w.db.Beginx()
			if err != nil {
				t.Fatalf("begin: %v", err)
			}
			defer tx.Rollback() //nolint:errcheck // committed below
			other, err := json.Marshal([]*inboundItem{w.item(copied, w.now())})
			if err != nil {
				t.Fatalf("encode the other copy: %v", err)
			}
			var outcomes []string
			if err := tx.Select(&outcomes, `SELECT outcome FROM routing_inbound_batch($1, $2, $3, $4)`,
				string(other), OptOutText, OptInText, HelpText); err != nil || !slices.Equal(outcomes, []string{"routed"}) {
				t.Fatalf("store the other copy: got %v %v", outcomes, err)
			}

			at := w.now().Add(time.Minute)
			items := []*inboundItem{w.item(copied, at)}
			for i := range tc.others {
				items = append(items, w.item(w.inbound(fmt.Sprintf("+141555601%02d", i), queueNumber, "hi"), at))
			}
			done := make(chan []outcome[Result], 1)
			go func() { done <- w.svc.inboundBatch(context.Background(), items) }()
			w.waitForLockWait()
			if err := tx.Commit(); err != nil {
				t.Fatalf("commit the other copy: %v", err)
			}

			out := <-done
			for i, o := range out {
				want := OutcomeRouted
				if i == 0 {
					want = OutcomeDuplicate
				}
				if o.err != nil || o.res.Outcome != want {
					t.Errorf("text %d: got %+v %v, want %s", i, o.res, o.err, want)
				}
			}
			for _, it := range items {
				if n := w.copies(it.CarrierMessageID); n != 1 {
					t.Errorf("got %d stored copies of %s, want 1", n, it.CarrierMessageID)
				}
			}
		})
	}
}

func TestInbound_ConcurrentRequestsStoreEveryTextOnceAndAnswerEachCopyAsADuplicate(t *testing.T) {
	t.Parallel()
	w := newBatchWorld(t)
	const texts, contacts, copiesEvery = 200, 20, 5
	// Every fifth text is delivered twice, both copies at once.
	var sent []Inbound
	twice := map[string]bool{}
	for i := range texts {
		contact := fmt.Sprintf("+141555602%02d", i%contacts)
		number := []string{annNumber, queueNumber}[i/contacts%2]
		in := w.inbound(contact, number, fmt.Sprintf("text %d", i))
		sent = append(sent, in)
		if i%copiesEvery == 0 {
			sent = append(sent, in)
			twice[in.CarrierMessageID] = true
		}
	}
	results := make([]Result, len(sent))
	errs := make([]error, len(sent))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, in := range sent {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i], errs[i] = w.svc.Inbound(context.Background(), in)
		}()
	}
	close(start)
	wg.Wait()

	answers := map[string][]Outcome{}
	for i, in := range sent {
		if errs[i] != nil {
			t.Errorf("text %s: %v", in.CarrierMessageID, errs[i])
			continue
		}
		answers[in.CarrierMessageID] = append(answers[in.CarrierMessageID], results[i].Outcome)
	}
	for id, got := range answers {
		slices.Sort(got)
		want := []Outcome{OutcomeRouted}
		if twice[id] {
			want = []Outcome{OutcomeDuplicate, OutcomeRouted}
		}
		if !slices.Equal(got, want) {
			t.Errorf("text %s: got answers %v, want %v", id, got, want)
		}
		if n := w.copies(id); n != 1 {
			t.Errorf("text %s: got %d stored copies, want 1", id, n)
		}
	}
	if len(answers) != texts {
		t.Errorf("got answers for %d texts, want %d", len(answers), texts)
	}
	if n := w.count(`SELECT count(*) FROM sessions`); n != 2*contacts {
		t.Errorf("got %d sessions, want one per contact and number: %d", n, 2*contacts)
	}
	if n := w.count(`SELECT count(*) FROM sessions s WHERE s.messages_in <> (SELECT count(*) FROM messages m WHERE m.session_id = s.id AND m.direction = 'in')`); n != 0 {
		t.Errorf("got %d sessions whose messages_in is not their inbound messages' count", n)
	}
}
