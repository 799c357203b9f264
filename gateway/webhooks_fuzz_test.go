package gateway_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"directsms/directory"
	"directsms/gateway"
	"directsms/gateway/twilio"
	"directsms/numbers"
	"directsms/routing"
	"directsms/sql/pgtest"
)

// FuzzTwilioWebhook posts arbitrary form bodies, correctly signed, to the real router over a real
// database. Whatever the body, the answer is never a 5xx, an error is JSON, and a 200 stores the
// text at most once.
func FuzzTwilioWebhook(f *testing.F) {
	db := pgtest.NewDB(f)
	dir := directory.NewStore(db, nil)
	rt := routing.NewService(db, routing.Options{})
	f.Cleanup(func() { rt.Close() })
	srv := httptest.NewServer(gateway.New(gateway.Config{PublicURL: publicURL}, gateway.Deps{
		DB: db, Directory: dir, Routing: rt, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}))
	f.Cleanup(srv.Close)
	ctx := context.Background()
	tenant, err := dir.CreateTenant(ctx, directory.NewTenant{Name: "Fuzz", AdminEmail: "admin@fuzz.example"})
	if err != nil {
		f.Fatal(err)
	}
	nums := numbers.NewStore(db, numbers.Config{})
	sid, token := "AC"+strings.Repeat("ab", 16), "fuzz-token"
	acct, err := nums.CreateAccount(ctx, tenant.TenantID, numbers.NewAccount{Provider: numbers.ProviderTwilio, AccountSID: sid, AuthToken: token})
	if err != nil {
		f.Fatal(err)
	}
	if _, err := nums.CreateNumber(ctx, tenant.TenantID, numbers.NewNumber{Number: "+14155550100", Direct: true, CarrierAccountID: acct.ID}); err != nil {
		f.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE numbers SET status = 'verified', verified_at = now(), verified_via = 'test'`); err != nil {
		f.Fatal(err)
	}
	if _, err := nums.AssignToUser(ctx, tenant.TenantID, tenant.AdminUserID, "+14155550100"); err != nil {
		f.Fatal(err)
	}

	f.Add("MessageSid=SM0123456789abcdef0123456789abcdef&From=%2B14155550199&To=%2B14155550100&Body=hi")
	f.Add("MessageSid=SM0123456789abcdef0123456789abcdef&From=%2B14155550199&To=%2B14155550100&Body=STOP")
	f.Add("MessageSid=MM0123456789abcdef0123456789abcdef&From=ACME&To=%2B14155550100&NumMedia=1&MediaUrl0=https%3A%2F%2Fx.example%2Fa&MediaContentType0=image%2Fpng")
	f.Add("MessageSid=SM0123456789abcdef0123456789abcdef&From=72345&To=12345&Body=%00")
	f.Add("MessageSid=SM0123456789abcdef0123456789abcdef&From=%2B1&To=%2B14155550100&Body=%ff")
	f.Add("From=&To=&Body=")
	f.Add("%zz")
	f.Fuzz(func(t *testing.T, body string) {
		body = "AccountSid=" + sid + "&" + body
		form, _ := url.ParseQuery(body)
		req, err := http.NewRequest(http.MethodPost, srv.URL+twilioPath, strings.NewReader(body))
		if err != nil {
			t.Skip()
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(twilio.SignatureHeader, twilio.Signature(token, publicURL+twilioPath, form))
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatalf("post: %v", err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		switch {
		case res.StatusCode >= 500:
			t.Fatalf("got %d %s for body %q, want no 5xx", res.StatusCode, b, body)
		case res.StatusCode == http.StatusOK:
			var n int
			if err := db.Get(&n, `SELECT (SELECT count(*) FROM messages WHERE direction = 'in' AND carrier_message_id = $1) + (SELECT count(*) FROM unrouted_messages WHERE carrier_message_id = $1)`, form.Get("MessageSid")); err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Fatalf("got %d stored copies after a 200, want 1", n)
			}
		case res.Header.Get("Content-Type") != "application/json":
			t.Fatalf("got %d with Content-Type %q, want a JSON error", res.StatusCode, res.Header.Get("Content-Type"))
		}
	})
}
