package gateway_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestCreateNumber_NormalizesInTheTenantsRegion(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.startCarrier()
	cases := []struct {
		name, region, input, want, wantRegion string
	}{
		{"US national format", "US", "(415) 867-0001", "+14158670001", "US"},
		{"US with dots", "US", "415.867.0002", "+14158670002", "US"},
		{"international form ignores the region", "US", "+44 20 7946 0958", "+442079460958", "GB"},
		{"GB national format in a GB tenant", "GB", "020 7946 0959", "+442079460959", "GB"},
		{"Guernsey mobile written in UK format keeps its own region", "GB", "07781 123456", "+447781123456", "GG"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mustExec(t, e.db, `UPDATE tenants SET default_region = $2 WHERE id = $1`, e.tenantID, tc.region)
			r := e.do(http.MethodPost, "/v1/numbers", e.adminKey, map[string]any{"number": tc.input, "carrier_account_id": c.accountID, "label": " Front desk "})
			expect(t, r, http.StatusCreated, "")
			got := r.JSON(t)
			if got["number"] != tc.want || got["region"] != tc.wantRegion || got["status"] != "unverified" || got["label"] != "Front desk" {
				t.Fatalf("got %v, want %s in %s, unverified, label trimmed", got, tc.want, tc.wantRegion)
			}
		})
	}
}

func TestCreateNumber_InvalidNumberIs422NamingTheInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.startCarrier()
	cases := []struct{ name, input string }{
		{"letters", "call me"},
		{"too few digits", "12"},
		{"a short code", "72345"},
		{"an alphanumeric sender id", "ACME"},
		{"a number valid nowhere", "+1 555 010"},
		{"empty", ""},
		{"a keypad vanity number", "1-800-FLOWERS"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(http.MethodPost, "/v1/numbers", e.adminKey, map[string]any{"number": tc.input, "carrier_account_id": c.accountID})
			expect(t, r, http.StatusUnprocessableEntity, "invalid_number")
			body := r.JSON(t)
			if field(body, "error", "field") != "number" || !strings.Contains(field(body, "error", "message").(string), `"`+tc.input+`"`) {
				t.Fatalf("got %v, want field number and a message naming %q", body, tc.input)
			}
		})
	}
	t.Run("a number in a path", func(t *testing.T) {
		r := e.do(http.MethodGet, "/v1/numbers/"+url.PathEscape("not a number"), e.adminKey, nil)
		expect(t, r, http.StatusUnprocessableEntity, "invalid_number")
		if msg := field(r.JSON(t), "error", "message").(string); !strings.Contains(msg, `"not a number"`) {
			t.Fatalf("got message %q, want it to name the input", msg)
		}
	})
}

func TestCreateNumber_ANumberIsUniqueAcrossTenants(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.startCarrier()
	e.addNumber(c, num(200), false)
	otherID, _, otherKey := e.newTenant("Other")
	var otherAccount string
	if err := e.db.Get(&otherAccount, `INSERT INTO carrier_accounts (tenant_id, provider, account_sid, auth_token, sends_own_opt_out_confirmation, created_at, updated_at)
		VALUES ($1, 'twilio', $2, 'tok', true, now(), now()) RETURNING id`, otherID, newSID()); err != nil {
		t.Fatalf("insert account: %v", err)
	}
	for _, tc := range []struct{ name, key, account, input string }{
		{"the same tenant again", e.adminKey, c.accountID, num(200)},
		{"the same tenant in another form", e.adminKey, c.accountID, "(415) 867-0200"},
		{"another tenant", otherKey, otherAccount, num(200)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(http.MethodPost, "/v1/numbers", tc.key, map[string]any{"number": tc.input, "carrier_account_id": tc.account})
			expect(t, r, http.StatusConflict, "number_exists")
		})
	}
	t.Run("another tenant's number is not found", func(t *testing.T) {
		expect(t, e.do(http.MethodGet, numberPath(num(200)), otherKey, nil), http.StatusNotFound, "not_found")
		expect(t, e.do(http.MethodDelete, numberPath(num(200)), otherKey, nil), http.StatusNotFound, "not_found")
	})
}

func TestCreateNumber_CarrierAccountMustBeTheTenants(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	other := newEnv(t)
	theirs := other.startCarrier()
	for _, account := range []string{theirs.accountID, "not-an-id", ""} {
		r := e.do(http.MethodPost, "/v1/numbers", e.adminKey, map[string]any{"number": num(201), "carrier_account_id": account})
		expect(t, r, http.StatusUnprocessableEntity, "carrier_account_not_found")
	}
	r := e.do(http.MethodPost, "/v1/numbers", e.adminKey, map[string]any{"number": num(201), "carrier_account_id": theirs.accountID, "colour": "red"})
	expect(t, r, http.StatusBadRequest, "invalid_request")
}

func TestNumbers_ListFiltersAndPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.startCarrier(num(300), num(301))
	e.addVerified(c, num(300), true)
	e.addVerified(c, num(301), false)
	e.addNumber(c, num(302), true)
	e.addNumber(c, "+442079460958", false)
	mustExec(t, e.db, `UPDATE numbers SET label = 'Support 100%' WHERE e164 = $1`, num(302))

	list := func(query string) []string {
		t.Helper()
		r := e.do(http.MethodGet, "/v1/numbers?"+query, e.adminKey, nil)
		expect(t, r, http.StatusOK, "")
		var out []string
		for _, n := range r.JSON(t)["data"].([]any) {
			out = append(out, n.(map[string]any)["number"].(string))
		}
		return out
	}
	cases := []struct {
		name, query string
		want        []string
	}{
		{"all, in number order", "", []string{num(300), num(301), num(302), "+442079460958"}},
		{"direct only", "direct=true", []string{num(300), num(302)}},
		{"not direct", "direct=false", []string{num(301), "+442079460958"}},
		{"verified", "status=verified", []string{num(300), num(301)}},
		{"unverified direct", "status=unverified&direct=true", []string{num(302)}},
		{"q matches digits however written", "q=" + url.QueryEscape("(415) 867-0301"), []string{num(301)}},
		{"q matches the label", "q=support", []string{num(302)}},
		{"q percent is literal", "q=" + url.QueryEscape("100%"), []string{num(302)}},
		{"q without a match", "q=nothing", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := list(tc.query); strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("pages", func(t *testing.T) {
		r := e.do(http.MethodGet, "/v1/numbers?limit=3", e.adminKey, nil).JSON(t)
		cursor, _ := r["next_cursor"].(string)
		if len(r["data"].([]any)) != 3 || cursor != num(302) {
			t.Fatalf("got %v, want 3 numbers and a cursor", r)
		}
		if got := list("limit=3&cursor=" + url.QueryEscape(cursor)); len(got) != 1 || got[0] != "+442079460958" {
			t.Fatalf("got page 2 %v, want the last number", got)
		}
	})
	t.Run("bad filters are 422", func(t *testing.T) {
		for query, code := range map[string]string{
			"direct=maybe":   "invalid_direct",
			"status=pending": "invalid_status",
			"q=%00":          "invalid_text",
			"q=%FF":          "invalid_text",
			"cursor=%00":     "invalid_text",
		} {
			expect(t, e.do(http.MethodGet, "/v1/numbers?"+query, e.adminKey, nil), http.StatusUnprocessableEntity, code)
		}
	})
	t.Run("text a database cannot hold is 422", func(t *testing.T) {
		expect(t, e.do(http.MethodPatch, numberPath(num(300)), e.adminKey, map[string]any{"label": "a\x00b"}), http.StatusUnprocessableEntity, "invalid_text")
		expect(t, e.do(http.MethodPatch, "/v1/carrier-accounts/"+c.accountID, e.adminKey, map[string]any{"label": "a\x00b"}), http.StatusUnprocessableEntity, "invalid_text")
		expect(t, e.do(http.MethodPatch, "/v1/carrier-accounts/"+c.accountID, e.adminKey, map[string]any{"auth_token": "a\x00b"}), http.StatusUnprocessableEntity, "invalid_text")
	})
}

func TestNumbers_GetShowsAssignmentsAndDeleteRemovesThem(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.startCarrier(num(310))
	e.addVerified(c, num(310), false)
	agent := e.newUser("Alice", "agent")
	sales, ivr := e.newQueue("Sales", "sms", ""), e.newQueue("Menu", "ivr", "")
	expect(t, e.assignQueue(sales, num(310)), http.StatusOK, "")
	expect(t, e.assignQueue(ivr, num(310)), http.StatusOK, "")
	expect(t, e.do(http.MethodPut, numberPath(num(310))+"/outbound", e.adminKey, map[string]any{"user_ids": []string{agent}}), http.StatusOK, "")

	got := e.do(http.MethodGet, numberPath(num(310)), e.adminKey, nil).JSON(t)
	if field(got, "sms_owner", "queue_id") != sales || got["ivr_queue_id"] != ivr || field(got, "outbound", "user_ids").([]any)[0] != agent {
		t.Fatalf("got %v, want the SMS queue, IVR queue and outbound user", got)
	}
	expect(t, e.do(http.MethodDelete, numberPath(num(310)), e.adminKey, nil), http.StatusNoContent, "")
	expect(t, e.do(http.MethodGet, numberPath(num(310)), e.adminKey, nil), http.StatusNotFound, "not_found")
	var senders int
	if err := e.db.Get(&senders, `SELECT count(*) FROM number_outbound`); err != nil || senders != 0 {
		t.Fatalf("got %d outbound rows (%v), want 0", senders, err)
	}
}

func TestVerify_FoundInTheAccountRecordsWhenAndHow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.startCarrier(num(400))
	e.addNumber(c, num(400), true)
	before := time.Now().Add(-time.Second)
	r := e.do(http.MethodPost, numberPath(num(400))+"/verify", e.adminKey, nil)
	expect(t, r, http.StatusOK, "")
	got := r.JSON(t)
	at, err := time.Parse(time.RFC3339Nano, got["verified_at"].(string))
	if got["status"] != "verified" || got["verified_via"] != "twilio:IncomingPhoneNumbers" || err != nil || at.Before(before) {
		t.Fatalf("got %v, want verified now through twilio:IncomingPhoneNumbers", got)
	}
}

func TestVerify_Telnyx(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.startCarrier()
	c.fake.AddTelnyxAccount("KEY-telnyx", num(401))
	r := e.do(http.MethodPost, "/v1/carrier-accounts", e.adminKey, map[string]any{
		"provider": "telnyx", "api_key": "KEY-telnyx", "public_key": c.fake.TelnyxPublicKey(), "base_url": c.url,
	})
	expect(t, r, http.StatusCreated, "")
	account := r.JSON(t)["id"].(string)
	for _, n := range []string{num(401), num(402)} {
		expect(t, e.do(http.MethodPost, "/v1/numbers", e.adminKey, map[string]any{"number": n, "carrier_account_id": account, "direct": true}), http.StatusCreated, "")
	}
	r = e.do(http.MethodPost, numberPath(num(401))+"/verify", e.adminKey, nil)
	expect(t, r, http.StatusOK, "")
	if got := r.JSON(t)["verified_via"]; got != "telnyx:phone_numbers" {
		t.Fatalf("got verified_via %v, want telnyx:phone_numbers", got)
	}
	expect(t, e.do(http.MethodPost, numberPath(num(402))+"/verify", e.adminKey, nil), http.StatusConflict, "number_not_in_carrier_account")
}

func TestVerify_NotInTheAccountIs409AndUnverifiesTheNumber(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.startCarrier(num(410))
	e.addVerified(c, num(410), true)
	e.addNumber(c, num(411), true)
	agent := e.newUser("Alice", "agent")
	expect(t, e.assignAgent(agent, num(410)), http.StatusOK, "")

	r := e.do(http.MethodPost, numberPath(num(411))+"/verify", e.adminKey, nil)
	expect(t, r, http.StatusConflict, "number_not_in_carrier_account")
	got := e.do(http.MethodGet, numberPath(num(411)), e.adminKey, nil).JSON(t)
	if got["status"] != "unverified" || got["checked_at"] == nil || got["verified_at"] != nil {
		t.Fatalf("got %v, want unverified with checked_at recorded", got)
	}

	// The number leaves the carrier account: verifying again unverifies it and frees it.
	_, empty := startFake(t, c.sid, c.token)
	mustExec(t, e.db, `UPDATE carrier_accounts SET base_url = $2 WHERE id = $1`, c.accountID, empty)
	r = e.do(http.MethodPost, numberPath(num(410))+"/verify", e.adminKey, nil)
	expect(t, r, http.StatusConflict, "number_not_in_carrier_account")
	if msg := field(r.JSON(t), "error", "message").(string); !strings.Contains(msg, "SMS owner assignment was removed") {
		t.Fatalf("got message %q, want it to say the owner was removed", msg)
	}
	got = e.do(http.MethodGet, numberPath(num(410)), e.adminKey, nil).JSON(t)
	if got["status"] != "unverified" || got["sms_owner"] != nil {
		t.Fatalf("got %v, want unverified and unassigned", got)
	}
}

func TestVerify_CarrierUnreachableIs503AndChangesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.startCarrier(num(420))
	e.addVerified(c, num(420), true)
	mustExec(t, e.db, `UPDATE carrier_accounts SET base_url = 'http://127.0.0.1:1' WHERE id = $1`, c.accountID)
	expect(t, e.do(http.MethodPost, numberPath(num(420))+"/verify", e.adminKey, nil), http.StatusServiceUnavailable, "carrier_unavailable")
	if got := e.do(http.MethodGet, numberPath(num(420)), e.adminKey, nil).JSON(t); got["status"] != "verified" {
		t.Fatalf("got %v, want still verified", got)
	}
}
