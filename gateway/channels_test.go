package gateway_test

import (
	"net/http"
	"testing"

	"directsms/directory"
)

func TestChannels_CapacityValidationAndSourceFlips(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	team := e.team("Support")
	ann, _ := e.user("Ann", directory.RoleAgent, team)
	path := "/v1/users/" + ann + "/channels/"
	invalid := []struct {
		name, channel, body, code, field string
	}{
		{"capacity 0", "sms", `{"capacity": 0}`, "invalid_capacity", "capacity"},
		{"capacity 51", "sms", `{"capacity": 51}`, "invalid_capacity", "capacity"},
		{"negative capacity", "voice", `{"capacity": -1}`, "invalid_capacity", "capacity"},
		{"unknown channel", "fax", `{"enabled": true}`, "invalid_channel", "channel"},
		{"channel names are lower case", "SMS", `{"enabled": true}`, "invalid_channel", "channel"},
	}
	for _, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			r := e.with(t).do(http.MethodPatch, path+tc.channel, e.adminKey, tc.body)
			expect(t, r, http.StatusUnprocessableEntity, tc.code)
			if got := r.JSON(t)["error"].(map[string]any)["field"]; got != tc.field {
				t.Fatalf("got field %v, want %s", got, tc.field)
			}
		})
	}
	expect(t, e.do(http.MethodPatch, path+"sms", e.adminKey, `{"capacity": "4"}`), http.StatusBadRequest, "invalid_request")
	expect(t, e.do(http.MethodPatch, path+"sms", e.adminKey, `{"capacity": 4.5}`), http.StatusBadRequest, "invalid_request")

	steps := []struct {
		name, body string
		enabled    bool
		capacity   float64
		source     string
	}{
		{"override", `{"capacity": 10}`, true, 10, "user"},
		{"disable keeps the override", `{"enabled": false}`, false, 10, "user"},
		{"null inherits the tenant default", `{"capacity": null}`, false, 4, "global"},
		{"an empty body changes nothing", `{}`, false, 4, "global"},
		{"override at the upper bound", `{"capacity": 50, "enabled": true}`, true, 50, "user"},
	}
	for _, st := range steps {
		r := e.do(http.MethodPatch, path+"sms", e.adminKey, st.body)
		expect(t, r, http.StatusOK, "")
		m := r.JSON(t)
		if m["enabled"] != st.enabled || m["capacity"] != st.capacity || m["capacity_source"] != st.source {
			t.Fatalf("%s: got %v, want enabled=%v capacity=%v source=%s", st.name, m, st.enabled, st.capacity, st.source)
		}
	}
	r := e.do(http.MethodGet, "/v1/users/"+ann+"/channels", e.adminKey, nil)
	expect(t, r, http.StatusOK, "")
	data := r.JSON(t)["data"].([]any)
	want := []struct {
		channel string
		enabled bool
		cap     float64
	}{{"sms", true, 50}, {"voice", true, 1}, {"whatsapp", false, 4}, {"messenger", false, 4}, {"instagram", false, 4}}
	if len(data) != len(want) {
		t.Fatalf("got %d channels, want %d", len(data), len(want))
	}
	for i, w := range want {
		c := data[i].(map[string]any)
		if c["channel"] != w.channel || c["enabled"] != w.enabled || c["capacity"] != w.cap {
			t.Fatalf("got channel %d %v, want %+v", i, c, w)
		}
	}
}

func TestChannels_DisabledSMSMakesAMemberIneligible(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	team := e.team("Support")
	ann, _ := e.user("Ann", directory.RoleAgent, team)
	queue := e.id(e.do(http.MethodPost, "/v1/queues", e.adminKey, map[string]any{"name": "Sales", "kind": "sms", "team_ids": []string{team}}), http.StatusCreated)
	expect(t, e.do(http.MethodPatch, "/v1/users/"+ann+"/channels/sms", e.adminKey, map[string]any{"enabled": false}), http.StatusOK, "")
	members, err := e.dir.EligibleMembers(t.Context(), e.tenantID, queue, directory.ChannelSMS)
	if err != nil || len(members) != 1 {
		t.Fatalf("got %+v, %v; want Ann as the one member", members, err)
	}
	if m := members[0]; m.UserID != ann || m.Eligible || m.Reason != directory.ReasonChannelDisabled {
		t.Fatalf("got %+v, want Ann ineligible with channel_disabled", m)
	}
}
