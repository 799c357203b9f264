package gateway_test

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"directsms/gateway"
	"directsms/numbers"
)

// telnyxKey is a well-formed Telnyx public key: 32 bytes in base64.
var telnyxKey = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

func TestCarrierAccounts_SecretsAreWriteOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const token, apiKey = "tw-secret-token-1234", "KEYsecretTelnyx9876"
	tw := e.do(http.MethodPost, "/v1/carrier-accounts", e.adminKey, map[string]any{
		"provider": "twilio", "account_sid": newSID(), "auth_token": token, "label": "main",
	})
	expect(t, tw, http.StatusCreated, "")
	tx := e.do(http.MethodPost, "/v1/carrier-accounts", e.adminKey, map[string]any{
		"provider": "telnyx", "api_key": apiKey, "public_key": telnyxKey,
	})
	expect(t, tx, http.StatusCreated, "")

	twID, txID := tw.JSON(t)["id"].(string), tx.JSON(t)["id"].(string)
	for _, r := range []response{tw, tx,
		e.do(http.MethodGet, "/v1/carrier-accounts/"+twID, e.adminKey, nil),
		e.do(http.MethodGet, "/v1/carrier-accounts/"+txID, e.adminKey, nil),
		e.do(http.MethodGet, "/v1/carrier-accounts", e.adminKey, nil),
		e.do(http.MethodPatch, "/v1/carrier-accounts/"+twID, e.adminKey, map[string]any{"auth_token": token + "x"}),
	} {
		body := string(r.Body)
		for _, secret := range []string{token, apiKey, telnyxKey, `"auth_token"`, `"api_key"`, `"public_key"`} {
			if strings.Contains(body, secret) {
				t.Fatalf("response %s shows %s", body, secret)
			}
		}
	}
	got := e.do(http.MethodGet, "/v1/carrier-accounts/"+twID, e.adminKey, nil).JSON(t)
	if got["has_auth_token"] != true || got["has_api_key"] != false || got["sends_own_opt_out_confirmation"] != true {
		t.Fatalf("got %v, want has_auth_token, no api key, Twilio answering STOP itself", got)
	}
	got = e.do(http.MethodGet, "/v1/carrier-accounts/"+txID, e.adminKey, nil).JSON(t)
	if got["has_api_key"] != true || got["has_public_key"] != true || got["sends_own_opt_out_confirmation"] != false || got["account_sid"] != nil {
		t.Fatalf("got %v, want Telnyx keys set and directsms answering STOP", got)
	}
}

func TestCarrierAccounts_InvalidInputIs422(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	twilio := func(over map[string]any) map[string]any {
		in := map[string]any{"provider": "twilio", "account_sid": newSID(), "auth_token": "tok"}
		for k, v := range over {
			in[k] = v
		}
		return in
	}
	cases := []struct {
		name  string
		body  map[string]any
		field string
		code  string
	}{
		{"unknown provider", map[string]any{"provider": "vonage"}, "provider", "invalid_provider"},
		{"twilio sid of the wrong shape", twilio(map[string]any{"account_sid": "AC123"}), "account_sid", "invalid_account_sid"},
		{"twilio sid with the wrong prefix", twilio(map[string]any{"account_sid": "MG" + strings.Repeat("a", 32)}), "account_sid", "invalid_account_sid"},
		{"twilio without auth token", twilio(map[string]any{"auth_token": ""}), "auth_token", "invalid_auth_token"},
		{"twilio with a telnyx key", twilio(map[string]any{"api_key": "k"}), "api_key", "invalid_credentials"},
		{"telnyx without api key", map[string]any{"provider": "telnyx", "public_key": telnyxKey}, "api_key", "invalid_api_key"},
		{"telnyx public key not base64", map[string]any{"provider": "telnyx", "api_key": "k", "public_key": "not base64!"}, "public_key", "invalid_public_key"},
		{"telnyx public key too short", map[string]any{"provider": "telnyx", "api_key": "k", "public_key": "AAAA"}, "public_key", "invalid_public_key"},
		{"telnyx with an auth token", map[string]any{"provider": "telnyx", "api_key": "k", "public_key": telnyxKey, "auth_token": "t"}, "auth_token", "invalid_credentials"},
		{"base url with a path", twilio(map[string]any{"base_url": "https://api.example.com/2010-04-01"}), "base_url", "invalid_base_url"},
		{"base url with a query", twilio(map[string]any{"base_url": "https://api.example.com?x=1"}), "base_url", "invalid_base_url"},
		{"base url not http", twilio(map[string]any{"base_url": "ftp://api.example.com"}), "base_url", "invalid_base_url"},
		{"base url with credentials", twilio(map[string]any{"base_url": "https://u:p@api.example.com"}), "base_url", "invalid_base_url"},
		{"label too long", twilio(map[string]any{"label": strings.Repeat("x", 201)}), "label", "invalid_label"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(http.MethodPost, "/v1/carrier-accounts", e.adminKey, tc.body)
			expect(t, r, http.StatusUnprocessableEntity, tc.code)
			if got := field(r.JSON(t), "error", "field"); got != tc.field {
				t.Fatalf("got field %v, want %s", got, tc.field)
			}
		})
	}
}

func TestCarrierAccounts_AccountSIDIsUniqueAcrossTenants(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, _, otherKey := e.newTenant("Other")
	sid := newSID()
	expect(t, e.do(http.MethodPost, "/v1/carrier-accounts", e.adminKey, map[string]any{"provider": "twilio", "account_sid": sid, "auth_token": "a"}), http.StatusCreated, "")
	upper := "AC" + strings.ToUpper(sid[2:])
	expect(t, e.do(http.MethodPost, "/v1/carrier-accounts", otherKey, map[string]any{"provider": "twilio", "account_sid": upper, "auth_token": "b"}), http.StatusConflict, "carrier_account_exists")
}

func TestCarrierAccounts_PatchChangesCredentialsNotIdentity(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.startCarrier(num(1))
	path := "/v1/carrier-accounts/" + c.accountID
	expect(t, e.do(http.MethodPatch, path, e.adminKey, map[string]any{"provider": "telnyx"}), http.StatusUnprocessableEntity, "immutable_field")
	expect(t, e.do(http.MethodPatch, path, e.adminKey, map[string]any{"account_sid": newSID()}), http.StatusUnprocessableEntity, "immutable_field")
	expect(t, e.do(http.MethodPatch, path, e.adminKey, map[string]any{"auth_token": ""}), http.StatusUnprocessableEntity, "invalid_auth_token")

	// A wrong token makes the carrier refuse; the right one makes verification work again.
	e.addNumber(c, num(1), true)
	expect(t, e.do(http.MethodPatch, path, e.adminKey, map[string]any{"auth_token": "wrong", "label": "renamed"}), http.StatusOK, "")
	expect(t, e.do(http.MethodPost, numberPath(num(1))+"/verify", e.adminKey, nil), http.StatusConflict, "carrier_auth_failed")
	r := e.do(http.MethodPatch, path, e.adminKey, map[string]any{"auth_token": c.token, "sends_own_opt_out_confirmation": false})
	expect(t, r, http.StatusOK, "")
	if got := r.JSON(t); got["label"] != "renamed" || got["sends_own_opt_out_confirmation"] != false || got["base_url"] != c.url {
		t.Fatalf("got %v, want label renamed, own confirmations, base_url kept", got)
	}
	expect(t, e.do(http.MethodPost, numberPath(num(1))+"/verify", e.adminKey, nil), http.StatusOK, "")
	r = e.do(http.MethodPatch, path, e.adminKey, map[string]any{"base_url": ""})
	if got := r.JSON(t)["base_url"]; got != nil {
		t.Fatalf("got base_url %v, want null after clearing", got)
	}
}

func TestCarrierAccounts_DeleteRefusedWhileNumbersBelongToIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.startCarrier()
	e.addNumber(c, num(2), false)
	path := "/v1/carrier-accounts/" + c.accountID
	expect(t, e.do(http.MethodDelete, path, e.adminKey, nil), http.StatusConflict, "carrier_account_in_use")
	expect(t, e.do(http.MethodDelete, numberPath(num(2)), e.adminKey, nil), http.StatusNoContent, "")
	expect(t, e.do(http.MethodDelete, path, e.adminKey, nil), http.StatusNoContent, "")
	expect(t, e.do(http.MethodGet, path, e.adminKey, nil), http.StatusNotFound, "not_found")
}

func TestCarrierAccounts_AdminsOnlyAndTenantScoped(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.startCarrier()
	path := "/v1/carrier-accounts/" + c.accountID
	for _, role := range []string{"supervisor", "agent"} {
		key := e.keyFor(role)
		expect(t, e.do(http.MethodGet, "/v1/carrier-accounts", key, nil), http.StatusForbidden, "forbidden")
		expect(t, e.do(http.MethodGet, path, key, nil), http.StatusForbidden, "forbidden")
	}
	_, _, otherKey := e.newTenant("Other")
	expect(t, e.do(http.MethodGet, path, otherKey, nil), http.StatusNotFound, "not_found")
	expect(t, e.do(http.MethodPatch, path, otherKey, map[string]any{"label": "x"}), http.StatusNotFound, "not_found")
	expect(t, e.do(http.MethodDelete, path, otherKey, nil), http.StatusNotFound, "not_found")
	list := e.do(http.MethodGet, "/v1/carrier-accounts", otherKey, nil).JSON(t)
	if n := len(list["data"].([]any)); n != 0 {
		t.Fatalf("got %d accounts in the other tenant, want 0", n)
	}
}

func TestCarrierVerifier_RefusesPrivateAddressesOutsideDevelopment(t *testing.T) {
	t.Parallel()
	sid := newSID()
	_, base := startFake(t, sid, "tok", num(3))
	acct := numbers.Account{Provider: numbers.ProviderTwilio, AccountSID: sid, AuthToken: "tok", BaseURL: base}

	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	owned, via, err := gateway.NewCarrierVerifier(true, quiet).OwnsNumber(context.Background(), acct, numbers.E164(num(3)))
	if err != nil || !owned || via != "twilio:IncomingPhoneNumbers" {
		t.Fatalf("development: got %v %q %v, want owned through twilio:IncomingPhoneNumbers", owned, via, err)
	}
	_, _, err = gateway.NewCarrierVerifier(false, quiet).OwnsNumber(context.Background(), acct, numbers.E164(num(3)))
	if !errors.Is(err, numbers.ErrCarrierUnavailable) {
		t.Fatalf("production: got %v, want ErrCarrierUnavailable for a loopback base URL", err)
	}
}
