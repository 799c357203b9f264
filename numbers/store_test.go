package numbers

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"directsms/internal/apperr"
	"directsms/sql/pg"
	"directsms/sql/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// fixture is a database with one tenant, a user, SMS and IVR queues and a Twilio account.
type fixture struct {
	db                   *sqlx.DB
	store                *Store
	tenant, user, admin  string
	smsQueue, ivrQueue   string
	parentQueue, account string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db := pgtest.NewDB(t)
	f := &fixture{db: db, store: NewStore(db, Config{NowFunc: func() time.Time { return time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC) }})}
	must := func(dst *string, query string, args ...any) {
		t.Helper()
		if err := db.Get(dst, query, args...); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}
	var team string
	must(&f.tenant, `INSERT INTO tenants (name) VALUES ('Acme') RETURNING id`)
	must(&team, `INSERT INTO teams (tenant_id, name) VALUES ($1, 'Floor') RETURNING id`, f.tenant)
	// Active users need a primary team they are a member of (checked at commit).
	const insertUser = `WITH u AS (INSERT INTO users (tenant_id, name, email, role, primary_team_id) VALUES ($1, $2, $3, $4, $5) RETURNING id)
		INSERT INTO team_members (tenant_id, team_id, user_id) SELECT $1, $5, id FROM u RETURNING user_id`
	must(&f.user, insertUser, f.tenant, "Alice", "alice@acme.example", "agent", team)
	must(&f.admin, insertUser, f.tenant, "Ada", "ada@acme.example", "admin", team)
	must(&f.smsQueue, `INSERT INTO queues (tenant_id, name, kind) VALUES ($1, 'Sales', 'sms') RETURNING id`, f.tenant)
	must(&f.ivrQueue, `INSERT INTO queues (tenant_id, name, kind) VALUES ($1, 'Menu', 'ivr') RETURNING id`, f.tenant)
	must(&f.parentQueue, `INSERT INTO queues (tenant_id, name, kind) VALUES ($1, 'Regions', 'sms') RETURNING id`, f.tenant)
	var child string
	must(&child, `INSERT INTO queues (tenant_id, name, kind, parent_id) VALUES ($1, 'North', 'sms', $2) RETURNING id`, f.tenant, f.parentQueue)
	a, err := f.store.CreateAccount(context.Background(), f.tenant, NewAccount{Provider: ProviderTwilio, AccountSID: "AC0123456789abcdef0123456789ABCDEF", AuthToken: "secret"})
	if err != nil {
		t.Fatalf("create account: %v", err)
	}
	f.account = a.ID
	return f
}

// addNumber inserts a number directly, in the given state.
func (f *fixture) addNumber(t *testing.T, e164 string, direct, verified bool) string {
	t.Helper()
	status, at, via := "unverified", (*time.Time)(nil), (*string)(nil)
	if verified {
		now, how := time.Now(), "test"
		status, at, via = "verified", &now, &how
	}
	var id string
	err := f.db.Get(&id, `INSERT INTO numbers (tenant_id, e164, region, direct, status, verified_at, verified_via, carrier_account_id, created_at, updated_at)
		VALUES ($1, $2, 'US', $3, $4, $5, $6, $7, now(), now()) RETURNING id`, f.tenant, e164, direct, status, at, via, f.account)
	if err != nil {
		t.Fatalf("insert number %s: %v", e164, err)
	}
	return id
}

// The rules are the database's: raw SQL that bypasses the store breaks none of them.
func TestSchema_RulesHoldAgainstRawSQL(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	direct := f.addNumber(t, "+14158670001", true, true)
	notDirect := f.addNumber(t, "+14158670002", false, true)
	unverified := f.addNumber(t, "+14158670003", true, false)
	cases := []struct {
		name, query string
		args        []any
		constraint  string
	}{
		{"agent owner must be direct", `UPDATE numbers SET sms_user_id = $2 WHERE id = $1`, []any{notDirect, f.user}, "numbers_sms_user_direct_check"},
		{"agent owner must be verified", `UPDATE numbers SET sms_user_id = $2 WHERE id = $1`, []any{unverified, f.user}, "numbers_sms_user_verified_check"},
		{"SMS queue owner must be verified", `UPDATE numbers SET sms_queue_id = $2 WHERE id = $1`, []any{unverified, f.smsQueue}, "numbers_sms_queue_verified_check"},
		{"one SMS owner", `UPDATE numbers SET sms_user_id = $2, sms_queue_id = $3 WHERE id = $1`, []any{direct, f.user, f.smsQueue}, "numbers_sms_owner_queue_check"},
		{"an IVR queue is not an SMS queue", `UPDATE numbers SET sms_queue_id = $2 WHERE id = $1`, []any{direct, f.ivrQueue}, "numbers_sms_queue_fkey"},
		{"an SMS queue is not an IVR queue", `UPDATE numbers SET ivr_queue_id = $2 WHERE id = $1`, []any{direct, f.smsQueue}, "numbers_ivr_queue_fkey"},
		{"only leaf queues", `UPDATE numbers SET sms_queue_id = $2 WHERE id = $1`, []any{direct, f.parentQueue}, "numbers_leaf_queue_check"},
		{"no senders on a direct number", `INSERT INTO number_outbound (tenant_id, number_id, user_id, created_at) SELECT tenant_id, id, $2, now() FROM numbers WHERE id = $1`, []any{direct, f.user}, "number_outbound_number_fkey"},
		{"a number cannot become verified without when and how", `UPDATE numbers SET status = 'verified' WHERE id = $1`, []any{unverified}, "numbers_verified_check"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.db.Exec(tc.query, tc.args...)
			if got := pg.Constraint(err); got != tc.constraint {
				t.Fatalf("got %v (%s), want a violation of %s", err, got, tc.constraint)
			}
		})
	}
	t.Run("the constant key columns cannot be written", func(t *testing.T) {
		for _, q := range []string{
			`UPDATE numbers SET sms_queue_kind = 'ivr' WHERE id = $1 AND $2 <> ''`,
			`INSERT INTO number_outbound (tenant_id, number_id, number_direct, user_id, created_at) SELECT tenant_id, id, true, $2, now() FROM numbers WHERE id = $1`,
		} {
			if _, err := f.db.Exec(q, direct, f.user); pg.Code(err) != "428C9" {
				t.Fatalf("%s: got %v, want generated_always (428C9)", q, err)
			}
		}
	})
	t.Run("a number with senders cannot become direct", func(t *testing.T) {
		if _, err := f.db.Exec(`INSERT INTO number_outbound (tenant_id, number_id, user_id, created_at) VALUES ($1, $2, $3, now())`, f.tenant, notDirect, f.user); err != nil {
			t.Fatalf("add sender: %v", err)
		}
		_, err := f.db.Exec(`UPDATE numbers SET direct = true WHERE id = $1`, notDirect)
		if got := pg.Constraint(err); got != "number_outbound_number_fkey" {
			t.Fatalf("got %v, want number_outbound_number_fkey", err)
		}
	})
	t.Run("the per-agent limit holds within one many-row statement", func(t *testing.T) {
		f.addNumber(t, "+14158670004", true, true)
		f.addNumber(t, "+14158670005", true, true)
		if _, err := f.db.Exec(`UPDATE tenants SET max_direct_numbers_per_agent = 1 WHERE id = $1`, f.tenant); err != nil {
			t.Fatalf("set limit: %v", err)
		}
		_, err := f.db.Exec(`UPDATE numbers SET sms_user_id = $1 WHERE e164 IN ('+14158670004', '+14158670005')`, f.admin)
		if got := pg.Constraint(err); got != "numbers_agent_limit_check" {
			t.Fatalf("got %v, want numbers_agent_limit_check", err)
		}
	})
	t.Run("a deactivated user gets no number", func(t *testing.T) {
		id := f.addNumber(t, "+14158670006", true, true)
		if _, err := f.db.Exec(`UPDATE users SET active = false, deactivated_at = now() WHERE id = $1`, f.admin); err != nil {
			t.Fatalf("deactivate: %v", err)
		}
		_, err := f.db.Exec(`UPDATE numbers SET sms_user_id = $2 WHERE id = $1`, id, f.admin)
		if got := pg.Constraint(err); got != "numbers_sms_user_active_check" {
			t.Fatalf("got %v, want numbers_sms_user_active_check", err)
		}
	})
	t.Run("an owner is never replaced", func(t *testing.T) {
		if _, err := f.db.Exec(`UPDATE numbers SET sms_user_id = $2 WHERE id = $1`, direct, f.user); err != nil {
			t.Fatalf("assign: %v", err)
		}
		_, err := f.db.Exec(`UPDATE numbers SET sms_user_id = $2 WHERE id = $1`, direct, f.admin)
		if got := pg.Constraint(err); got != "numbers_sms_owner_user_check" {
			t.Fatalf("got %v, want numbers_sms_owner_user_check", err)
		}
	})
}

func TestRuleError_EveryRuleHasAConflictCode(t *testing.T) {
	t.Parallel()
	for name, rule := range ruleCodes {
		t.Run(name, func(t *testing.T) {
			err := ruleConflict(name, "+14158670001")
			if err.Kind != apperr.KindConflict || err.Code != rule.code || err.Message == "" {
				t.Fatalf("got %+v, want a 409 %s", err, rule.code)
			}
		})
	}
}

func TestLookupNumber_FindsTenantOwnerAndAccountInOneQuery(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.addNumber(t, "+14158670010", true, true)
	if _, err := f.store.AssignToUser(ctx, f.tenant, f.user, "+14158670010"); err != nil {
		t.Fatalf("assign: %v", err)
	}
	n, err := f.store.LookupNumber(ctx, "+14158670010")
	if err != nil {
		t.Fatalf("lookup: %v", err)
	}
	if n.TenantID != f.tenant || n.SMSOwner == nil || n.SMSOwner.UserID != f.user || n.SMSOwner.PersonalQueueID == "" ||
		!n.Direct || n.Status != StatusVerified || n.CarrierAccountID != f.account {
		t.Fatalf("got %+v, want the tenant, the agent with a personal queue, direct, verified, the account", n)
	}
	if _, err := f.store.LookupNumber(ctx, "+14158670099"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("got %v, want ErrNotFound", err)
	}
}

func TestAccountBySID_ReturnsTheSecretsForSignatureChecks(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	a, err := f.store.AccountBySID(ctx, ProviderTwilio, "AC0123456789abcdef0123456789abcdef")
	if err != nil || a.ID != f.account || a.TenantID != f.tenant || a.AuthToken != "secret" {
		t.Fatalf("got %v %v, want the account with its token (the SID is stored in lower case)", a, err)
	}
	if _, err := f.store.AccountBySID(ctx, ProviderTelnyx, a.AccountSID); !errors.Is(err, ErrAccountNotFound) {
		t.Fatalf("got %v, want ErrAccountNotFound for another provider", err)
	}
	got, err := f.store.GetAccount(ctx, f.tenant, f.account)
	if err != nil || got.AuthToken != "secret" {
		t.Fatalf("got %v %v, want the account with its token", got, err)
	}
	for _, printed := range []string{got.String(), got.GoString()} {
		if printed == "" || strings.Contains(printed, "secret") {
			t.Fatalf("got %q, want the account named without its token", printed)
		}
	}
}

func TestCheckBaseURL_PrivateHostsOnlyInDevelopment(t *testing.T) {
	t.Parallel()
	prod, dev := &Store{}, &Store{allowPrivate: true}
	cases := []struct {
		url       string
		prod, dev bool
	}{
		{"https://api.twilio.com", true, true},
		{"https://api.twilio.com/", true, true},
		{"http://api.twilio.com", false, true},
		{"http://127.0.0.1:8089", false, true},
		{"https://localhost", false, true},
		{"https://10.1.2.3", false, true},
		{"https://[::1]:443", false, true},
		{"https://169.254.169.254", false, true},
		{"https://api.twilio.com/path", false, false},
	}
	for _, tc := range cases {
		t.Run(tc.url, func(t *testing.T) {
			if _, err := prod.checkBaseURL(tc.url); (err == nil) != tc.prod {
				t.Fatalf("production: got %v, want accepted=%v", err, tc.prod)
			}
			if _, err := dev.checkBaseURL(tc.url); (err == nil) != tc.dev {
				t.Fatalf("development: got %v, want accepted=%v", err, tc.dev)
			}
		})
	}
}
