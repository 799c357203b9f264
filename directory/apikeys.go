package directory

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"directsms/internal/apperr"
	"directsms/sql/pg"
)

// APIKey is a newly issued key; Key is shown once and only its hash is stored.
type APIKey struct {
	ID    string `json:"id"`
	Key   string `json:"key"`
	Label string `json:"label"`
}

const keyPrefix = "dsk_"

const (
	sqlInsertAPIKey = `INSERT INTO api_keys (tenant_id, user_id, key_hash, prefix, label, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`
	sqlAuthenticate = `SELECT k.id, k.tenant_id, k.user_id, u.role
		FROM api_keys k JOIN users u ON u.id = k.user_id
		WHERE k.key_hash = $1 AND k.revoked_at IS NULL AND u.active`
	sqlRevokeAPIKey = `UPDATE api_keys SET revoked_at = $3 WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL`
	sqlUserActive   = `SELECT true FROM users WHERE tenant_id = $1 AND id = $2 AND active`
)

// CreateAPIKey issues a new key for an active user of the tenant; label says what it is for.
func (s *Store) CreateAPIKey(ctx context.Context, tenantID, userID, label string) (APIKey, error) {
	if len(label) > 200 {
		return APIKey{}, apperr.Invalid("label", "invalid_label", "label must be at most 200 characters")
	}
	var key APIKey
	err := pg.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		var ok bool
		if err := tx.GetContext(ctx, &ok, sqlUserActive, tenantID, userID); err != nil {
			if err == pg.ErrNoRows {
				return apperr.NotFound("user")
			}
			return fmt.Errorf("find user: %w", err)
		}
		k, err := insertAPIKey(ctx, tx, tenantID, userID, label, s.now())
		key = k
		return err
	})
	if err != nil {
		return APIKey{}, fmt.Errorf("create api key for user %s: %w", userID, err)
	}
	return key, nil
}

func insertAPIKey(ctx context.Context, tx *sqlx.Tx, tenantID, userID, label string, now time.Time) (APIKey, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return APIKey{}, fmt.Errorf("generate key: %w", err)
	}
	key := keyPrefix + base64.RawURLEncoding.EncodeToString(b)
	var id string
	if err := tx.GetContext(ctx, &id, sqlInsertAPIKey, tenantID, userID, hashKey(key), key[:len(keyPrefix)+6], label, now); err != nil {
		return APIKey{}, fmt.Errorf("insert api key: %w", err)
	}
	return APIKey{ID: id, Key: key, Label: label}, nil
}

// RevokeAPIKey revokes a live key of the tenant; from then on it authenticates nothing.
func (s *Store) RevokeAPIKey(ctx context.Context, tenantID, keyID string) error {
	res, err := s.db.ExecContext(ctx, sqlRevokeAPIKey, tenantID, keyID, s.now())
	if err != nil {
		return fmt.Errorf("revoke api key %s: %w", keyID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.NotFound("api key")
	}
	return nil
}

// KeyOwner answers the user a live key of the tenant belongs to.
func (s *Store) KeyOwner(ctx context.Context, tenantID, keyID string) (string, error) {
	var userID string
	err := s.db.GetContext(ctx, &userID, `SELECT user_id FROM api_keys WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL`, tenantID, keyID)
	if err == pg.ErrNoRows {
		return "", apperr.NotFound("api key")
	}
	if err != nil {
		return "", fmt.Errorf("find api key %s: %w", keyID, err)
	}
	return userID, nil
}

// ErrUnauthenticated is the answer to a missing, unknown or revoked key.
var ErrUnauthenticated = &apperr.Error{Kind: apperr.KindUnauthenticated, Code: "unauthenticated", Message: "a valid API key is required (Authorization: Bearer <key>)"}

// Authenticate resolves a bearer key to its principal.
func (s *Store) Authenticate(ctx context.Context, key string) (Principal, error) {
	if !strings.HasPrefix(key, keyPrefix) || len(key) > 100 {
		return Principal{}, ErrUnauthenticated
	}
	var row struct {
		KeyID    string `db:"id"`
		TenantID string `db:"tenant_id"`
		UserID   string `db:"user_id"`
		Role     Role   `db:"role"`
	}
	err := s.db.GetContext(ctx, &row, sqlAuthenticate, hashKey(key))
	if err == pg.ErrNoRows {
		return Principal{}, ErrUnauthenticated
	}
	if err != nil {
		return Principal{}, fmt.Errorf("authenticate: %w", err)
	}
	return Principal{TenantID: row.TenantID, UserID: row.UserID, Role: row.Role, KeyID: row.KeyID}, nil
}

// hashKey is SHA-256: the keys are 256 random bits, so a slow password hash adds nothing.
func hashKey(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}
