package directory

import (
	"context"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/nyaruka/phonenumbers/v2"

	"directsms/internal/apperr"
	"directsms/sql/pg"
)

// NewTenant is what creating a tenant takes.
type NewTenant struct {
	Name       string
	AdminEmail string
	AdminName  string
	Region     string // default region for parsing national numbers; "US" when empty
	Timezone   string // IANA zone for reports; "UTC" when empty
}

// CreatedTenant is a new tenant, its first admin and the admin's API key (shown once).
type CreatedTenant struct {
	TenantID    string `json:"tenant_id"`
	AdminUserID string `json:"admin_user_id"`
	APIKey      string `json:"api_key"`
}

const (
	sqlInsertTenant        = `INSERT INTO tenants (name, default_region, timezone) VALUES ($1, $2, $3) RETURNING id`
	sqlInsertTenantChannel = `INSERT INTO tenant_channels (tenant_id, channel, capacity) VALUES ($1, $2, $3)`
	sqlInsertTeam          = `INSERT INTO teams (tenant_id, name) VALUES ($1, $2) RETURNING id`
	sqlInsertUser          = `INSERT INTO users (tenant_id, name, email, role, status, primary_team_id, created_at, status_changed_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id`
	sqlInsertTeamMember = `INSERT INTO team_members (tenant_id, team_id, user_id) VALUES ($1, $2, $3)`
)

// DefaultTeamName is the team a new tenant's admin is put in, since every user needs one.
const DefaultTeamName = "Administrators"

// CreateTenant creates a tenant with its channel defaults, a first team, and its first admin
// with an API key.
func (s *Store) CreateTenant(ctx context.Context, in NewTenant) (CreatedTenant, error) {
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || len(in.Name) > 200 {
		return CreatedTenant{}, apperr.Invalid("name", "invalid_name", "tenant name must be 1 to 200 characters")
	}
	if in.Region == "" {
		in.Region = "US"
	}
	if err := ValidateRegion("default_region", in.Region); err != nil {
		return CreatedTenant{}, err
	}
	if in.Timezone == "" {
		in.Timezone = "UTC"
	}
	if err := ValidateTimezone("timezone", in.Timezone); err != nil {
		return CreatedTenant{}, err
	}
	email, err := NormalizeEmail("admin_email", in.AdminEmail)
	if err != nil {
		return CreatedTenant{}, err
	}
	if in.AdminName == "" {
		in.AdminName = strings.SplitN(email, "@", 2)[0]
	}
	var out CreatedTenant
	err = pg.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		if err := tx.GetContext(ctx, &out.TenantID, sqlInsertTenant, in.Name, in.Region, in.Timezone); err != nil {
			return fmt.Errorf("insert tenant: %w", err)
		}
		for _, c := range Channels {
			if _, err := tx.ExecContext(ctx, sqlInsertTenantChannel, out.TenantID, c, c.DefaultCapacity()); err != nil {
				return fmt.Errorf("insert channel default %s: %w", c, err)
			}
		}
		var teamID string
		if err := tx.GetContext(ctx, &teamID, sqlInsertTeam, out.TenantID, DefaultTeamName); err != nil {
			return fmt.Errorf("insert team: %w", err)
		}
		now := s.now()
		if err := tx.GetContext(ctx, &out.AdminUserID, sqlInsertUser, out.TenantID, in.AdminName, email, RoleAdmin, StatusOffline, teamID, now); err != nil {
			return fmt.Errorf("insert admin: %w", err)
		}
		if _, err := tx.ExecContext(ctx, sqlInsertTeamMember, out.TenantID, teamID, out.AdminUserID); err != nil {
			return fmt.Errorf("insert admin membership: %w", err)
		}
		key, err := insertAPIKey(ctx, tx, out.TenantID, out.AdminUserID, "created with the tenant", now)
		if err != nil {
			return err
		}
		out.APIKey = key.Key
		return nil
	})
	if err != nil {
		return CreatedTenant{}, fmt.Errorf("create tenant %q: %w", in.Name, err)
	}
	return out, nil
}

// ValidateTimezone checks zone is an IANA time zone name.
func ValidateTimezone(field, zone string) error {
	if zone == "" || strings.EqualFold(zone, "local") {
		return apperr.Invalid(field, "invalid_timezone", fmt.Sprintf("%q is not an IANA time zone", zone))
	}
	if _, err := time.LoadLocation(zone); err != nil {
		return apperr.Invalid(field, "invalid_timezone", fmt.Sprintf("%q is not an IANA time zone", zone))
	}
	return nil
}

// ValidateRegion checks region is a two-letter region phone numbers can be parsed for.
func ValidateRegion(field, region string) error {
	if len(region) != 2 || phonenumbers.GetCountryCodeForRegion(region) == 0 {
		return apperr.Invalid(field, "invalid_region", fmt.Sprintf("%q is not a supported region code (like US or GB)", region))
	}
	return nil
}

// NormalizeEmail checks an email address and returns it trimmed; domains are compared
// case-insensitively by the store.
func NormalizeEmail(field, email string) (string, error) {
	email = strings.TrimSpace(email)
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email || !strings.Contains(email, "@") || len(email) > 254 {
		return "", apperr.Invalid(field, "invalid_email", fmt.Sprintf("%q is not an email address", email))
	}
	return email, nil
}

const (
	sqlTenantIDByName = `SELECT id FROM tenants WHERE name = $1 ORDER BY created_at LIMIT 1`
	sqlUserIDByEmail  = `SELECT id FROM users WHERE tenant_id = $1 AND lower(email) = lower($2) AND active`
)

// TenantIDByName finds the oldest tenant with the given name; tenant names are not unique, so
// this is for operators' tools (the demo reuses its tenant), not for the API.
func (s *Store) TenantIDByName(ctx context.Context, name string) (string, error) {
	var id string
	err := s.db.GetContext(ctx, &id, sqlTenantIDByName, name)
	if err == pg.ErrNoRows {
		return "", apperr.NotFound("tenant")
	}
	if err != nil {
		return "", fmt.Errorf("find tenant %q: %w", name, err)
	}
	return id, nil
}

// UserIDByEmail finds an active user of the tenant by email.
func (s *Store) UserIDByEmail(ctx context.Context, tenantID, email string) (string, error) {
	var id string
	err := s.db.GetContext(ctx, &id, sqlUserIDByEmail, tenantID, email)
	if err == pg.ErrNoRows {
		return "", apperr.NotFound("user")
	}
	if err != nil {
		return "", fmt.Errorf("find user by email: %w", err)
	}
	return id, nil
}
