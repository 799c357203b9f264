package gateway_test

import (
	"net/http"
	"testing"
)

func TestSettings_DefaultsAndValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.do(http.MethodGet, "/v1/settings", e.adminKey, nil)
	expect(t, r, http.StatusOK, "")
	m := r.JSON(t)
	di := m["direct_inbound"].(map[string]any)
	if m["max_direct_numbers_per_agent"] != 5.0 || di["missed_chat_threshold"] != 2.0 || di["unresponsive_threshold"] != 2.0 ||
		di["cooldown_seconds"] != nil || m["channels"].(map[string]any)["sms"].(map[string]any)["capacity"] != 4.0 || m["sms_enabled"] != true {
		t.Fatalf("got %s, want the documented defaults", r.Body)
	}

	invalid := []struct {
		name, body, code, field string
	}{
		{"bad time zone", `{"timezone": "Mars/Olympus"}`, "invalid_timezone", "timezone"},
		{"bad region", `{"default_region": "XX"}`, "invalid_region", "default_region"},
		{"unknown channel", `{"channels": {"fax": {"capacity": 2}}}`, "invalid_channel", "channels.fax"},
		{"channel capacity 0", `{"channels": {"sms": {"capacity": 0}}}`, "invalid_capacity", "channels.sms.capacity"},
		{"channel capacity 51", `{"channels": {"voice": {"capacity": 51}}}`, "invalid_capacity", "channels.voice.capacity"},
		{"no direct numbers", `{"max_direct_numbers_per_agent": 0}`, "invalid_max_direct_numbers", "max_direct_numbers_per_agent"},
		{"missed threshold 0", `{"direct_inbound": {"missed_chat_threshold": 0}}`, "invalid_threshold", "direct_inbound.missed_chat_threshold"},
		{"unresponsive threshold 101", `{"direct_inbound": {"unresponsive_threshold": 101}}`, "invalid_threshold", "direct_inbound.unresponsive_threshold"},
		{"offer timeout too short", `{"direct_inbound": {"offer_timeout_seconds": 1}}`, "invalid_offer_timeout", "direct_inbound.offer_timeout_seconds"},
		{"cooldown 0", `{"direct_inbound": {"cooldown_seconds": 0}}`, "invalid_cooldown", "direct_inbound.cooldown_seconds"},
		{"idle close under a minute", `{"session_idle_close_seconds": 59}`, "invalid_idle_close", "session_idle_close_seconds"},
		{"empty name", `{"name": ""}`, "invalid_name", "name"},
	}
	for _, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			r := e.with(t).do(http.MethodPatch, "/v1/settings", e.adminKey, tc.body)
			expect(t, r, http.StatusUnprocessableEntity, tc.code)
			if got := r.JSON(t)["error"].(map[string]any)["field"]; got != tc.field {
				t.Fatalf("got field %v, want %s", got, tc.field)
			}
		})
	}
	malformed := []string{`{"sms_enabled": "yes"}`, `{"direct_inbound": {"missed": 1}}`, `{"channels": {"sms": {"cap": 1}}}`, `{"cooldown_seconds": 5}`}
	for _, body := range malformed {
		expect(t, e.do(http.MethodPatch, "/v1/settings", e.adminKey, body), http.StatusBadRequest, "invalid_request")
	}

	r = e.do(http.MethodPatch, "/v1/settings", e.adminKey, `{"sms_enabled": false, "timezone": "America/New_York", "default_region": "gb",
		"channels": {"sms": {"capacity": 6}}, "direct_inbound": {"cooldown_seconds": 900, "offer_timeout_seconds": 30}, "help_text": "Call 020 7946 0958"}`)
	expect(t, r, http.StatusOK, "")
	m = r.JSON(t)
	di = m["direct_inbound"].(map[string]any)
	if m["sms_enabled"] != false || m["default_region"] != "GB" || di["cooldown_seconds"] != 900.0 || di["offer_timeout_seconds"] != 30.0 ||
		di["missed_chat_threshold"] != 2.0 || m["channels"].(map[string]any)["sms"].(map[string]any)["capacity"] != 6.0 ||
		m["channels"].(map[string]any)["voice"].(map[string]any)["capacity"] != 1.0 {
		t.Fatalf("got %s, want the patch applied and the rest unchanged", r.Body)
	}
	r = e.do(http.MethodPatch, "/v1/settings", e.adminKey, `{"direct_inbound": {"cooldown_seconds": null}}`)
	expect(t, r, http.StatusOK, "")
	if got := r.JSON(t)["direct_inbound"].(map[string]any)["cooldown_seconds"]; got != nil {
		t.Fatalf("got cooldown %v, want null after clearing it", got)
	}
}
