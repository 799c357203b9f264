package routing

import (
	"context"
	"fmt"
	"sync"
	"time"

	"directsms/internal/apperr"
)

// WebhookAccount is a carrier account as a webhook check needs it: whose it is, the secret its
// signatures are checked with, and the tenant's default region for reading the numbers in it.
// String leaves the secrets out.
type WebhookAccount struct {
	ID       string
	TenantID string
	Provider Provider
	// AuthToken is a Twilio account's; it signs Twilio's webhooks.
	AuthToken string
	// PublicKey is a Telnyx account's base64 Ed25519 key.
	PublicKey string
	Region    string
}

// String names the account without its secrets.
func (a WebhookAccount) String() string { return string(a.Provider) + " account " + a.ID }

// ErrUnknownAccount is the answer for a webhook from no account directsms knows; the gateway
// answers it as a bad signature, since nothing can verify the request.
var ErrUnknownAccount = apperr.Forbidden("the request does not come from a known carrier account")

// accountTTL is how long a looked-up account is trusted without asking the database again. An
// account's secret is checked against every webhook, thousands a second under load; this keeps
// that off the database. Changes reach every process without any message between them: a
// rotated secret makes the first signature check fail, and a failed check looks the account up
// afresh (at most once per refreshInterval per account, so forged requests cannot turn into a
// query each); a deleted account is forgotten within accountTTL.
const (
	accountTTL      = 30 * time.Second
	refreshInterval = time.Second
)

const (
	sqlWebhookAccountColumns = `a.id, a.tenant_id, a.provider, COALESCE(a.auth_token, '') AS auth_token,
		COALESCE(a.public_key, '') AS public_key, t.default_region`
	sqlTwilioAccountBySID = `SELECT ` + sqlWebhookAccountColumns + `
		FROM carrier_accounts a JOIN tenants t ON t.id = a.tenant_id
		WHERE a.provider = 'twilio' AND a.account_sid = $1`
	sqlTelnyxAccountByNumber = `SELECT ` + sqlWebhookAccountColumns + `
		FROM numbers n JOIN carrier_accounts a ON a.id = n.carrier_account_id JOIN tenants t ON t.id = a.tenant_id
		WHERE n.e164 = $1 AND a.provider = 'telnyx'`
	sqlTelnyxAccounts = `SELECT ` + sqlWebhookAccountColumns + `
		FROM carrier_accounts a JOIN tenants t ON t.id = a.tenant_id
		WHERE a.provider = 'telnyx' ORDER BY a.id`
)

type webhookAccountRow struct {
	ID        string `db:"id"`
	TenantID  string `db:"tenant_id"`
	Provider  string `db:"provider"`
	AuthToken string `db:"auth_token"`
	PublicKey string `db:"public_key"`
	Region    string `db:"default_region"`
}

func (r webhookAccountRow) account() WebhookAccount {
	return WebhookAccount{ID: r.ID, TenantID: r.TenantID, Provider: Provider(r.Provider), AuthToken: r.AuthToken, PublicKey: r.PublicKey, Region: r.Region}
}

// accountCache holds found accounts only, so its size is bounded by the accounts and numbers
// that exist, whatever ids strangers send.
type accountCache struct {
	mu      sync.Mutex
	entries map[string]cachedAccounts
}

type cachedAccounts struct {
	accounts []WebhookAccount
	fetched  time.Time
	// refreshed is when a fresh lookup was last made for the key.
	refreshed time.Time
}

// lookup answers key's accounts from the cache while fresh, else from load. fresh asks for a
// new lookup (after a signature check failed), honoured once per refreshInterval.
func (c *accountCache) lookup(key string, fresh bool, load func() ([]WebhookAccount, error)) ([]WebhookAccount, error) {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && now.Sub(e.fetched) < accountTTL && (!fresh || now.Sub(e.refreshed) < refreshInterval) {
		return e.accounts, nil
	}
	accounts, err := load()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(accounts) == 0 {
		delete(c.entries, key)
	} else {
		if c.entries == nil {
			c.entries = map[string]cachedAccounts{}
		}
		refreshed := e.refreshed
		if fresh {
			refreshed = now
		}
		c.entries[key] = cachedAccounts{accounts: accounts, fetched: now, refreshed: refreshed}
	}
	c.mu.Unlock()
	return accounts, nil
}

// TwilioAccount finds the Twilio account with the AccountSid a webhook names. fresh bypasses
// the cache (rate-limited), for a retry after the cached token failed to verify a signature.
// An unknown sid is ErrUnknownAccount.
func (s *Service) TwilioAccount(ctx context.Context, sid string, fresh bool) (WebhookAccount, error) {
	accounts, err := s.accounts.lookup("twilio:"+sid, fresh, func() ([]WebhookAccount, error) {
		return s.loadAccounts(ctx, sqlTwilioAccountBySID, sid)
	})
	if err != nil {
		return WebhookAccount{}, fmt.Errorf("find twilio account %s: %w", sid, err)
	}
	if len(accounts) == 0 {
		return WebhookAccount{}, ErrUnknownAccount
	}
	return accounts[0], nil
}

// TelnyxAccounts lists the Telnyx accounts that may have signed a webhook to the number to
// (E.164): the account holding that number, or, for a number directsms does not know, every
// Telnyx account (so a text to an unknown number can still be verified and kept as unrouted).
// Telnyx webhooks name no account. fresh is as for TwilioAccount.
func (s *Service) TelnyxAccounts(ctx context.Context, to string, fresh bool) ([]WebhookAccount, error) {
	accounts, err := s.accounts.lookup("telnyx:"+to, fresh, func() ([]WebhookAccount, error) {
		return s.loadAccounts(ctx, sqlTelnyxAccountByNumber, to)
	})
	if err != nil {
		return nil, fmt.Errorf("find telnyx account of a number: %w", err)
	}
	if len(accounts) > 0 {
		return accounts, nil
	}
	accounts, err = s.accounts.lookup("telnyx:*", fresh, func() ([]WebhookAccount, error) {
		return s.loadAccounts(ctx, sqlTelnyxAccounts)
	})
	if err != nil {
		return nil, fmt.Errorf("list telnyx accounts: %w", err)
	}
	return accounts, nil
}

func (s *Service) loadAccounts(ctx context.Context, query string, args ...any) ([]WebhookAccount, error) {
	var rows []webhookAccountRow
	if err := s.db.SelectContext(ctx, &rows, query, args...); err != nil {
		return nil, err
	}
	out := make([]WebhookAccount, len(rows))
	for i, r := range rows {
		out[i] = r.account()
	}
	return out, nil
}
