package gateway_test

import (
	"net/http"
	"net/url"
	"testing"
)

func TestExplain_WalksTheOwnersFallbackChain(t *testing.T) {
	t.Parallel()
	w := newInboundWorld(t)
	e := w.e
	teamQueue := e.queue("Sales SMS", nil, []string{w.team})
	e.backup(w.ann, w.bob)
	explain := func(t *testing.T, q url.Values) map[string]any {
		t.Helper()
		r := e.do(http.MethodGet, "/v1/routing/explain?"+q.Encode(), e.adminKey, nil)
		expect(t, r, http.StatusOK, "")
		return r.JSON(t)
	}
	steps := func(ex map[string]any) string {
		out := ""
		for _, s := range ex["steps"].([]any) {
			s := s.(map[string]any)
			out += s["step"].(string) + "="
			if s["takes"] == true {
				out += "takes "
			} else {
				out += s["reason"].(string) + " "
			}
		}
		return out
	}

	t.Run("available owner takes it", func(t *testing.T) {
		ex := explain(t, url.Values{"to": {"(415) 555-0100"}})
		if ex["session_type"] != "Messaging Inbound (SMS Direct)" || ex["routed"] != true {
			t.Errorf("got %v routed %v, want a direct routed session", ex["session_type"], ex["routed"])
		}
		if got := steps(ex); got != "owner=takes " {
			t.Errorf("got steps %q, want the owner", got)
		}
		if d := ex["decision"].(map[string]any); d["offer_to"].([]any)[0] != w.ann || d["direct"] != true {
			t.Errorf("got decision %v, want a direct offer to Ann", d)
		}
	})
	t.Run("away owner: the backup", func(t *testing.T) {
		e.setStatus(w.ann, "away")
		ex := explain(t, url.Values{"to": {w.annNumber}})
		if got := steps(ex); got != "owner=not_available backup=takes " {
			t.Errorf("got steps %q", got)
		}
		inel := ex["ineligible_agents"].([]any)
		if len(inel) != 1 || inel[0].(map[string]any)["reason"] != "not_available" {
			t.Errorf("got ineligible %v, want Ann not_available", inel)
		}
	})
	t.Run("backup with sms off: the team queue", func(t *testing.T) {
		e.smsOff(w.bob)
		ex := explain(t, url.Values{"to": {w.annNumber}, "from": {w.contact}, "at": {"2026-03-08T09:30:00Z"}})
		if got := steps(ex); got != "owner=not_available backup=channel_disabled team_queue=takes " {
			t.Errorf("got steps %q", got)
		}
		if d := ex["decision"].(map[string]any); d["target"].(map[string]any)["queue_id"] != teamQueue || len(d["offer_to"].([]any)) != 0 {
			t.Errorf("got decision %v, want the team queue with nobody to offer to", d)
		}
		if ex["from"] != w.contact || ex["open_session"] != nil {
			t.Errorf("got from %v open session %v, want the contact and no open session", ex["from"], ex["open_session"])
		}
	})
	t.Run("an open session is continued", func(t *testing.T) {
		e.text(w.acct, w.contact, w.annNumber, "hi")
		ex := explain(t, url.Values{"to": {w.annNumber}, "from": {w.contact}})
		if ex["open_session"] == nil {
			t.Errorf("got no open session, want the contact's")
		}
	})
	for _, tc := range []struct {
		name   string
		query  string
		key    string
		status int
		code   string
	}{
		{"missing to", "", e.adminKey, http.StatusUnprocessableEntity, "invalid_number"},
		{"invalid to", "to=12", e.adminKey, http.StatusUnprocessableEntity, "invalid_number"},
		{"a number not in the inventory", "to=%2B14155550999", e.adminKey, http.StatusNotFound, "not_found"},
		{"a bad time", "to=%2B14155550100&at=tomorrow", e.adminKey, http.StatusUnprocessableEntity, "invalid_time"},
		{"an agent", "to=%2B14155550100", w.annKey, http.StatusForbidden, "forbidden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expect(t, e.do(http.MethodGet, "/v1/routing/explain?"+tc.query, tc.key, nil), tc.status, tc.code)
		})
	}
}

func TestExplain_QueueNumberListsWhoIsEligible(t *testing.T) {
	t.Parallel()
	w := newInboundWorld(t)
	e := w.e
	queue := e.queue("Support SMS", nil, []string{w.team})
	e.queueNumber(e.tenantID, w.acct.ID, queue, "+14155550110", false)
	e.smsOff(w.bob)
	r := e.do(http.MethodGet, "/v1/routing/explain?to=%2B14155550110", e.adminKey, nil)
	expect(t, r, http.StatusOK, "")
	ex := r.JSON(t)
	if ex["session_type"] != "Messaging Inbound" {
		t.Errorf("got %v, want Messaging Inbound", ex["session_type"])
	}
	if el := ex["eligible_agents"].([]any); len(el) != 1 || el[0].(map[string]any)["user_id"] != w.ann {
		t.Errorf("got eligible %v, want Ann", el)
	}
	if in := ex["ineligible_agents"].([]any); len(in) != 1 || in[0].(map[string]any)["reason"] != "channel_disabled" {
		t.Errorf("got ineligible %v, want Bob channel_disabled", in)
	}
	mustExec(t, e.db, `UPDATE tenants SET sms_enabled = false WHERE id = $1`, e.tenantID)
	r = e.do(http.MethodGet, "/v1/routing/explain?to=%2B14155550110", e.adminKey, nil)
	expect(t, r, http.StatusOK, "")
	if ex := r.JSON(t); ex["routed"] != false || ex["unrouted_reason"] != "sms_disabled" {
		t.Errorf("got routed %v reason %v, want unrouted sms_disabled", ex["routed"], ex["unrouted_reason"])
	}
}
