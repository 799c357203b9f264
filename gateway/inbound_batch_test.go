package gateway_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"directsms/gateway/twilio"
)

// Concurrent webhooks are stored together, in batches (routing.Service.Inbound); these tests
// post many at once through the real router.

func TestTwilioWebhook_ConcurrentWebhooksAreEachAcknowledgedAndStoredOnce(t *testing.T) {
	t.Parallel()
	w := newInboundWorld(t)
	e := w.e
	const bobNumber = "+14155550101"
	e.agentNumber(e.tenantID, w.acct.ID, w.bob, bobNumber)

	// 80 texts: 8 contacts each text both numbers 5 times; every fourth text is delivered
	// twice, both copies at once. 100 webhooks in all.
	type webhook struct{ body, signature, sid string }
	var hooks []webhook
	sids := map[string]bool{}
	for i := range 80 {
		contact := fmt.Sprintf("+141555502%02d", i%8)
		number := []string{w.annNumber, bobNumber}[i/8%2]
		form, sig := twilioForm(w.acct, contact, number, fmt.Sprintf("text %d", i))
		h := webhook{body: form.Encode(), signature: sig, sid: form.Get("MessageSid")}
		sids[h.sid] = true
		hooks = append(hooks, h)
		if i%4 == 0 {
			hooks = append(hooks, h)
		}
	}
	answers := make([]response, len(hooks))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, h := range hooks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			answers[i] = e.postForm(twilioPath, h.body, h.signature)
		}()
	}
	close(start)
	wg.Wait()

	for i, r := range answers {
		if r.Status != http.StatusOK || string(r.Body) != twilio.ResponseXML {
			t.Errorf("webhook of %s: got %d %q, want 200 TwiML", hooks[i].sid, r.Status, r.Body)
		}
	}
	for sid := range sids {
		if n := e.count(`SELECT count(*) FROM messages WHERE direction = 'in' AND carrier_message_id = $1`, sid); n != 1 {
			t.Errorf("got %d copies of %s, want 1", n, sid)
		}
	}
	if n := e.stored(); n != len(sids) {
		t.Errorf("got %d texts stored, want %d", n, len(sids))
	}
	if n := e.count(`SELECT count(*) FROM sessions`); n != 16 {
		t.Errorf("got %d sessions, want one per contact and number: 16", n)
	}
	if n := e.count(`SELECT count(*) FROM sessions s WHERE s.messages_in <> 5
		OR s.messages_in <> (SELECT count(*) FROM messages m WHERE m.session_id = s.id AND m.direction = 'in')`); n != 0 {
		t.Errorf("got %d sessions without their 5 inbound messages counted", n)
	}
}
