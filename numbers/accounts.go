package numbers

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"directsms/internal/apperr"
	"directsms/sql/pg"
)

// Provider is a carrier directsms can talk to.
type Provider string

// The carriers.
const (
	ProviderTwilio Provider = "twilio"
	ProviderTelnyx Provider = "telnyx"
)

// Valid reports whether p is a known carrier.
func (p Provider) Valid() bool { return p == ProviderTwilio || p == ProviderTelnyx }

// defaultSendsOwnOptOut is what a new account of each carrier assumes when the admin does not
// say: Twilio answers STOP on long codes itself (and then refuses to deliver directsms's own
// confirmation), Telnyx leaves it to the application.
var defaultSendsOwnOptOut = map[Provider]bool{ProviderTwilio: true, ProviderTelnyx: false}

// Account is a tenant's account at a carrier, with its secrets. Its String and LogValue leave
// the secrets out, so printing or logging one cannot leak them; the secret fields are also kept
// out of JSON.
type Account struct {
	ID       string
	TenantID string
	Provider Provider
	Label    string
	// AccountSID is Twilio's AccountSid; for Telnyx an optional reference.
	AccountSID string
	// AuthToken is Twilio's; it signs webhooks and authenticates REST calls.
	AuthToken string `json:"-"`
	// APIKey authenticates Telnyx REST calls.
	APIKey string `json:"-"`
	// PublicKey is Telnyx's base64 Ed25519 key that webhook signatures are checked with.
	PublicKey string `json:"-"`
	// BaseURL is the carrier's REST base URL when not the public one; "" means the public one.
	BaseURL string
	// SendsOwnOptOutConfirmation says the carrier answers STOP itself, so directsms must not.
	SendsOwnOptOutConfirmation bool
	CreatedAt                  time.Time
	UpdatedAt                  time.Time
}

// String names the account without its secrets.
func (a Account) String() string {
	return fmt.Sprintf("%s account %s (%s)", a.Provider, a.AccountSID, a.ID)
}

// GoString is String, so %#v cannot print the secrets either.
func (a Account) GoString() string { return a.String() }

// LogValue logs the account without its secrets.
func (a Account) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", a.ID), slog.String("provider", string(a.Provider)), slog.String("account_sid", a.AccountSID))
}

// NewAccount is what registering a carrier account takes. Which credentials are required
// depends on the provider: Twilio needs AccountSID and AuthToken, Telnyx APIKey and PublicKey.
type NewAccount struct {
	Provider   Provider
	Label      string
	AccountSID string
	AuthToken  string
	APIKey     string
	PublicKey  string
	BaseURL    string
	// SendsOwnOptOutConfirmation nil means the provider's usual behaviour.
	SendsOwnOptOutConfirmation *bool
}

// AccountUpdate changes an account; nil fields are left alone. Provider and AccountSID cannot
// change: the numbers were verified against that account. An empty BaseURL goes back to the
// carrier's public API.
type AccountUpdate struct {
	Label                      *string
	AuthToken                  *string
	APIKey                     *string
	PublicKey                  *string
	BaseURL                    *string
	SendsOwnOptOutConfirmation *bool
}

const accountColumns = `id, tenant_id, provider, label, COALESCE(account_sid, '') AS account_sid,
	COALESCE(auth_token, '') AS auth_token, COALESCE(api_key, '') AS api_key,
	COALESCE(public_key, '') AS public_key, COALESCE(base_url, '') AS base_url,
	sends_own_opt_out_confirmation, created_at, updated_at`

const (
	sqlInsertAccount = `INSERT INTO carrier_accounts (tenant_id, provider, label, account_sid, auth_token, api_key, public_key,
		base_url, sends_own_opt_out_confirmation, created_at, updated_at)
		VALUES ($1, $2, $3, NULLIF($4, ''), NULLIF($5, ''), NULLIF($6, ''), NULLIF($7, ''), NULLIF($8, ''), $9, $10, $10)
		RETURNING ` + accountColumns
	sqlSelectAccount         = `SELECT ` + accountColumns + ` FROM carrier_accounts WHERE tenant_id = $1 AND id = $2`
	sqlSelectAccountLocked   = sqlSelectAccount + ` FOR UPDATE`
	sqlSelectAccountBySID    = `SELECT ` + accountColumns + ` FROM carrier_accounts WHERE provider = $1 AND account_sid = $2`
	sqlSelectAccountsForList = `SELECT ` + accountColumns + ` FROM carrier_accounts
		WHERE tenant_id = $1 AND ($2 = '' OR id > CAST(NULLIF($2, '') AS uuid)) ORDER BY id LIMIT $3`
	sqlUpdateAccount = `UPDATE carrier_accounts SET label = $3, auth_token = NULLIF($4, ''), api_key = NULLIF($5, ''),
		public_key = NULLIF($6, ''), base_url = NULLIF($7, ''), sends_own_opt_out_confirmation = $8, updated_at = $9
		WHERE tenant_id = $1 AND id = $2 RETURNING ` + accountColumns
	sqlDeleteAccount = `DELETE FROM carrier_accounts WHERE tenant_id = $1 AND id = $2`
)

// accountRow is an account as scanned.
type accountRow struct {
	ID                         string    `db:"id"`
	TenantID                   string    `db:"tenant_id"`
	Provider                   Provider  `db:"provider"`
	Label                      string    `db:"label"`
	AccountSID                 string    `db:"account_sid"`
	AuthToken                  string    `db:"auth_token"`
	APIKey                     string    `db:"api_key"`
	PublicKey                  string    `db:"public_key"`
	BaseURL                    string    `db:"base_url"`
	SendsOwnOptOutConfirmation bool      `db:"sends_own_opt_out_confirmation"`
	CreatedAt                  time.Time `db:"created_at"`
	UpdatedAt                  time.Time `db:"updated_at"`
}

func (r accountRow) account() Account {
	return Account{
		ID: r.ID, TenantID: r.TenantID, Provider: r.Provider, Label: r.Label, AccountSID: r.AccountSID,
		AuthToken: r.AuthToken, APIKey: r.APIKey, PublicKey: r.PublicKey, BaseURL: r.BaseURL,
		SendsOwnOptOutConfirmation: r.SendsOwnOptOutConfirmation, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
}

var twilioSID = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)

// CreateAccount registers a carrier account for the tenant.
func (s *Store) CreateAccount(ctx context.Context, tenantID string, in NewAccount) (Account, error) {
	if err := s.checkNewAccount(&in); err != nil {
		return Account{}, err
	}
	sendsOwn := defaultSendsOwnOptOut[in.Provider]
	if in.SendsOwnOptOutConfirmation != nil {
		sendsOwn = *in.SendsOwnOptOutConfirmation
	}
	var row accountRow
	err := s.db.GetContext(ctx, &row, sqlInsertAccount, tenantID, in.Provider, in.Label, in.AccountSID,
		in.AuthToken, in.APIKey, in.PublicKey, in.BaseURL, sendsOwn, s.now())
	if pg.IsViolation(err, "carrier_accounts_account_sid_key") {
		return Account{}, apperr.Conflict("carrier_account_exists", "a "+string(in.Provider)+" account with this account_sid is already registered")
	}
	if err != nil {
		return Account{}, fmt.Errorf("create %s account: %w", in.Provider, err)
	}
	return row.account(), nil
}

func (s *Store) checkNewAccount(in *NewAccount) error {
	in.Label = strings.TrimSpace(in.Label)
	in.AccountSID = strings.TrimSpace(in.AccountSID)
	switch in.Provider {
	case ProviderTwilio:
		if !twilioSID.MatchString(in.AccountSID) {
			return apperr.Invalid("account_sid", "invalid_account_sid", "a Twilio account_sid is AC followed by 32 hex digits")
		}
		// Twilio writes SIDs in lower case, and webhooks are matched on the exact string.
		in.AccountSID = "AC" + strings.ToLower(in.AccountSID[2:])
		if in.APIKey != "" || in.PublicKey != "" {
			return apperr.Invalid("api_key", "invalid_credentials", "api_key and public_key are for Telnyx accounts; Twilio takes auth_token")
		}
	case ProviderTelnyx:
		if err := checkText("account_sid", "invalid_account_sid", in.AccountSID, 200); err != nil {
			return err
		}
		if in.AuthToken != "" {
			return apperr.Invalid("auth_token", "invalid_credentials", "auth_token is for Twilio accounts; Telnyx takes api_key and public_key")
		}
	default:
		return apperr.Invalid("provider", "invalid_provider", "provider must be twilio or telnyx")
	}
	return s.checkAccountFields(in.Provider, &in.Label, &in.AuthToken, &in.APIKey, &in.PublicKey, &in.BaseURL)
}

// checkAccountFields validates the fields an update can also change, as they will be stored.
func (s *Store) checkAccountFields(p Provider, label, authToken, apiKey, publicKey, baseURL *string) error {
	if err := checkText("label", "invalid_label", *label, 200); err != nil {
		return err
	}
	switch p {
	case ProviderTwilio:
		if *authToken == "" || checkText("auth_token", "", *authToken, 200) != nil {
			return apperr.Invalid("auth_token", "invalid_auth_token", "a Twilio account needs its auth_token (at most 200 characters)")
		}
	case ProviderTelnyx:
		if *apiKey == "" || checkText("api_key", "", *apiKey, 500) != nil {
			return apperr.Invalid("api_key", "invalid_api_key", "a Telnyx account needs its api_key (at most 500 characters)")
		}
		if key, err := base64.StdEncoding.DecodeString(*publicKey); err != nil || len(key) != 32 {
			return apperr.Invalid("public_key", "invalid_public_key", "public_key must be the account's Ed25519 public key, 32 bytes in base64")
		}
	}
	u, err := s.checkBaseURL(*baseURL)
	*baseURL = u
	return err
}

// checkBaseURL accepts a scheme and host (and port). Secrets are sent to it, so outside
// development it must be https to a public host; the HTTP client checks the resolved address
// again when it connects.
func (s *Store) checkBaseURL(raw string) (string, error) {
	raw = strings.TrimRight(strings.TrimSpace(raw), "/")
	if raw == "" {
		return "", nil
	}
	bad := apperr.Invalid("base_url", "invalid_base_url", "base_url must be an absolute https URL with only a scheme and host, like https://api.twilio.com")
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", bad
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && s.allowPrivate) {
		return "", bad
	}
	if !s.allowPrivate && IsPrivateHost(u.Hostname()) {
		return "", apperr.Invalid("base_url", "invalid_base_url", "base_url must not point at a loopback or private address")
	}
	return u.Scheme + "://" + u.Host, nil
}

// IsPrivateHost reports whether host is localhost or an address that is not publicly routable
// (loopback, private, link-local, unspecified). Carrier requests carry secrets, so they must not
// be steered at the server's own network.
func IsPrivateHost(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsUnspecified())
}

// GetAccount returns an account of the tenant with its secrets, for signature checks and sends.
func (s *Store) GetAccount(ctx context.Context, tenantID, id string) (Account, error) {
	var row accountRow
	err := s.db.GetContext(ctx, &row, sqlSelectAccount, tenantID, id)
	if err == pg.ErrNoRows {
		return Account{}, ErrAccountNotFound
	}
	if err != nil {
		return Account{}, fmt.Errorf("get carrier account %s: %w", id, err)
	}
	return row.account(), nil
}

// ErrAccountNotFound is the answer for a carrier account that is not the tenant's (or, for
// AccountBySID, nobody's).
var ErrAccountNotFound = apperr.NotFound("carrier account")

// AccountBySID finds the account a webhook came from by the carrier's account id, across
// tenants, with its secrets.
func (s *Store) AccountBySID(ctx context.Context, p Provider, sid string) (Account, error) {
	var row accountRow
	err := s.db.GetContext(ctx, &row, sqlSelectAccountBySID, p, sid)
	if err == pg.ErrNoRows {
		return Account{}, ErrAccountNotFound
	}
	if err != nil {
		return Account{}, fmt.Errorf("find %s account %s: %w", p, sid, err)
	}
	return row.account(), nil
}

// AccountFilter pages through a tenant's accounts: Cursor is the last id of the previous page.
type AccountFilter struct {
	Limit  int
	Cursor string
}

// FindAccounts returns up to f.Limit+1 of the tenant's accounts after the cursor, in id order,
// so the caller can tell whether there is a next page.
func (s *Store) FindAccounts(ctx context.Context, tenantID string, f AccountFilter) ([]Account, error) {
	var rows []accountRow
	if err := s.db.SelectContext(ctx, &rows, sqlSelectAccountsForList, tenantID, f.Cursor, f.Limit+1); err != nil {
		return nil, fmt.Errorf("list carrier accounts: %w", err)
	}
	out := make([]Account, len(rows))
	for i, r := range rows {
		out[i] = r.account()
	}
	return out, nil
}

// UpdateAccount changes an account's label, credentials, base URL or opt-out behaviour.
func (s *Store) UpdateAccount(ctx context.Context, tenantID, id string, upd AccountUpdate) (Account, error) {
	var out Account
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		var row accountRow
		err := tx.GetContext(ctx, &row, sqlSelectAccountLocked, tenantID, id)
		if err == pg.ErrNoRows {
			return ErrAccountNotFound
		}
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		a := row.account()
		if err := applyAccountUpdate(&a, upd); err != nil {
			return err
		}
		if err := s.checkAccountFields(a.Provider, &a.Label, &a.AuthToken, &a.APIKey, &a.PublicKey, &a.BaseURL); err != nil {
			return err
		}
		if err := tx.GetContext(ctx, &row, sqlUpdateAccount, tenantID, id, a.Label, a.AuthToken, a.APIKey,
			a.PublicKey, a.BaseURL, a.SendsOwnOptOutConfirmation, s.now()); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		out = row.account()
		return nil
	})
	if err != nil {
		return Account{}, fmt.Errorf("update carrier account %s: %w", id, err)
	}
	return out, nil
}

func applyAccountUpdate(a *Account, upd AccountUpdate) error {
	if upd.Label != nil {
		a.Label = strings.TrimSpace(*upd.Label)
	}
	if a.Provider == ProviderTwilio && (upd.APIKey != nil || upd.PublicKey != nil) {
		return apperr.Invalid("api_key", "invalid_credentials", "api_key and public_key are for Telnyx accounts; Twilio takes auth_token")
	}
	if a.Provider == ProviderTelnyx && upd.AuthToken != nil {
		return apperr.Invalid("auth_token", "invalid_credentials", "auth_token is for Twilio accounts; Telnyx takes api_key and public_key")
	}
	if upd.AuthToken != nil {
		a.AuthToken = *upd.AuthToken
	}
	if upd.APIKey != nil {
		a.APIKey = *upd.APIKey
	}
	if upd.PublicKey != nil {
		a.PublicKey = *upd.PublicKey
	}
	if upd.BaseURL != nil {
		a.BaseURL = *upd.BaseURL
	}
	if upd.SendsOwnOptOutConfirmation != nil {
		a.SendsOwnOptOutConfirmation = *upd.SendsOwnOptOutConfirmation
	}
	return nil
}

// DeleteAccount removes an account that no number belongs to.
func (s *Store) DeleteAccount(ctx context.Context, tenantID, id string) error {
	res, err := s.db.ExecContext(ctx, sqlDeleteAccount, tenantID, id)
	if pg.IsViolation(err, "numbers_carrier_account_fkey") {
		return apperr.Conflict("carrier_account_in_use", "numbers belong to this account; delete them first")
	}
	if err != nil {
		return fmt.Errorf("delete carrier account %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrAccountNotFound
	}
	return nil
}
