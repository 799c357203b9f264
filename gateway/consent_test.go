package gateway_test

import (
	"net/http"
	"strings"
	"testing"
)

// replies lists the kinds of the outbound messages queued for the contact, oldest first.
func (w *inboundWorld) replies(contact string) []string {
	w.e.t.Helper()
	var kinds []string
	if err := w.e.db.Select(&kinds, `SELECT kind FROM messages WHERE direction = 'out' AND to_address = $1 AND status = 'queued' ORDER BY created_at, id`, contact); err != nil {
		w.e.t.Fatalf("replies: %v", err)
	}
	return kinds
}

func (w *inboundWorld) optedOut(contact string) bool {
	w.e.t.Helper()
	var out bool
	if err := w.e.db.Get(&out, `SELECT opted_out FROM contacts WHERE address = $1`, contact); err != nil {
		w.e.t.Fatalf("contact %s: %v", contact, err)
	}
	return out
}

// ownConfirmations sets whether the world's carrier account answers STOP itself (Twilio's
// default, with Advanced Opt-Out).
func (w *inboundWorld) ownConfirmations(own bool) {
	w.e.t.Helper()
	mustExec(w.e.t, w.e.db, `UPDATE carrier_accounts SET sends_own_opt_out_confirmation = $2 WHERE id = $1`, w.acct.ID, own)
}

func TestConsent_KeywordsUpdateConsentAndQueueOneReply(t *testing.T) {
	t.Parallel()
	w := newInboundWorld(t)
	e := w.e
	w.ownConfirmations(false)
	steps := []struct {
		name      string
		body      string
		optedOut  bool
		replies   string
		lastReply string
	}{
		{"an ordinary text changes nothing", "Hello", false, "", ""},
		{"HELP answers with the help text", " help ", false, "help", "help"},
		{"STOP opts out and confirms", "STOP", true, "help,opt_out_confirmation", "opt_out_confirmation"},
		{"a second opt-out gets no second confirmation", "unsubscribe", true, "help,opt_out_confirmation", ""},
		{"an opted-out contact gets no help", "HELP", true, "help,opt_out_confirmation", ""},
		{"STOP PLEASE is not a keyword", "STOP PLEASE", true, "help,opt_out_confirmation", ""},
		{"START opts back in and confirms", "start", false, "help,opt_out_confirmation,opt_in_confirmation", "opt_in_confirmation"},
		{"YES from a subscribed contact is an ordinary reply", "yes", false, "help,opt_out_confirmation,opt_in_confirmation", ""},
		{"after an opt-in, a new opt-out is confirmed again", "Stop All", true, "help,opt_out_confirmation,opt_in_confirmation,opt_out_confirmation", "opt_out_confirmation"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			e.text(w.acct, w.contact, w.annNumber, st.body)
			if got := w.optedOut(w.contact); got != st.optedOut {
				t.Errorf("got opted_out %v, want %v", got, st.optedOut)
			}
			if got := strings.Join(w.replies(w.contact), ","); got != st.replies {
				t.Errorf("got queued replies %q, want %q", got, st.replies)
			}
		})
	}
	// Every keyword text is kept in the one session with its replies, which go out from the
	// number texted, in order.
	var bodies []string
	if err := e.db.Select(&bodies, `SELECT body FROM messages WHERE direction = 'out' ORDER BY created_at, id`); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(bodies[0], "Acme") || !strings.Contains(bodies[0], "Msg&data rates may apply") || !strings.Contains(bodies[0], "Reply STOP to opt out") {
		t.Errorf("got help text %q, want it to name the tenant, the rates and how to opt out", bodies[0])
	}
	if n := e.count(`SELECT count(DISTINCT session_id) FROM messages`); n != 1 {
		t.Errorf("got messages in %d sessions, want 1", n)
	}
	if n := e.count(`SELECT count(*) FROM messages WHERE direction = 'out' AND (from_address <> $1 OR segments < 1)`, w.annNumber); n != 0 {
		t.Errorf("got %d replies not from the number texted or without segments", n)
	}
}

func TestConsent_TenantHelpTextAndCarrierOwnConfirmation(t *testing.T) {
	t.Parallel()
	w := newInboundWorld(t)
	e := w.e
	mustExec(t, e.db, `UPDATE tenants SET help_text = 'Acme support: call 555-0100. Msg&data rates may apply. Reply STOP to opt out.' WHERE id = $1`, e.tenantID)
	w.ownConfirmations(true)

	e.text(w.acct, w.contact, w.annNumber, "INFO")
	e.text(w.acct, w.contact, w.annNumber, "STOP")
	if got := strings.Join(w.replies(w.contact), ","); got != "help" {
		t.Errorf("got replies %q, want only help: the carrier confirms opt-outs itself", got)
	}
	if !w.optedOut(w.contact) {
		t.Errorf("got opted in, want opted out")
	}
	var help string
	if err := e.db.Get(&help, `SELECT body FROM messages WHERE kind = 'help'`); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(help, "Acme support: call 555-0100.") {
		t.Errorf("got help %q, want the tenant's help text", help)
	}
	// The session still shows the texts to the agent.
	r := e.do(http.MethodGet, "/v1/sessions?contact=%2B14155550199", w.annKey, nil)
	expect(t, r, http.StatusOK, "")
	if got := r.JSON(t)["data"].([]any)[0].(map[string]any)["contact"].(map[string]any)["opted_out"]; got != true {
		t.Errorf("got contact opted_out %v in the session, want true", got)
	}
}

func TestConsent_ConcurrentStopsConfirmOnce(t *testing.T) {
	t.Parallel()
	w := newInboundWorld(t)
	e := w.e
	w.ownConfirmations(false)
	e.text(w.acct, w.contact, w.annNumber, "hello")
	done := make(chan struct{})
	for range 6 {
		go func() {
			defer func() { done <- struct{}{} }()
			form, sig := twilioForm(w.acct, w.contact, w.annNumber, "STOP")
			if r := e.postForm(twilioPath, form.Encode(), sig); r.Status != http.StatusOK {
				t.Errorf("got %d %s, want 200", r.Status, r.Body)
			}
		}()
	}
	for range 6 {
		<-done
	}
	if got := strings.Join(w.replies(w.contact), ","); got != "opt_out_confirmation" {
		t.Errorf("got replies %q, want exactly one confirmation", got)
	}
}
