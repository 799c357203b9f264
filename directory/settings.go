package directory

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"

	"directsms/internal/apperr"
	"directsms/sql/pg"
)

// Settings are a tenant's settings.
type Settings struct {
	Name                     string                     `json:"name"`
	SMSEnabled               bool                       `json:"sms_enabled"`
	Timezone                 string                     `json:"timezone"`
	DefaultRegion            string                     `json:"default_region"`
	Channels                 map[Channel]ChannelDefault `json:"channels"`
	MaxDirectNumbersPerAgent int                        `json:"max_direct_numbers_per_agent"`
	DirectInbound            DirectInbound              `json:"direct_inbound"`
	SessionIdleCloseSeconds  int                        `json:"session_idle_close_seconds"`
	HelpText                 string                     `json:"help_text"`
}

// ChannelDefault is a channel's tenant-wide default.
type ChannelDefault struct {
	Capacity int `json:"capacity"`
}

// DirectInbound holds the rules for texts offered to one agent: how many consecutive misses or
// failed deliveries change the agent's status, how long an offer waits, and the optional
// cool-down after which such a status returns to available (nil: never automatically).
type DirectInbound struct {
	MissedChatThreshold   int  `json:"missed_chat_threshold"`
	UnresponsiveThreshold int  `json:"unresponsive_threshold"`
	OfferTimeoutSeconds   int  `json:"offer_timeout_seconds"`
	CooldownSeconds       *int `json:"cooldown_seconds"`
}

// SettingsUpdate changes the fields that are set; in Channels only the named channels change.
type SettingsUpdate struct {
	Name                     *string                         `json:"name"`
	SMSEnabled               *bool                           `json:"sms_enabled"`
	Timezone                 *string                         `json:"timezone"`
	DefaultRegion            *string                         `json:"default_region"`
	Channels                 map[string]ChannelDefaultUpdate `json:"channels"`
	MaxDirectNumbersPerAgent *int                            `json:"max_direct_numbers_per_agent"`
	DirectInbound            *DirectInboundUpdate            `json:"direct_inbound"`
	SessionIdleCloseSeconds  *int                            `json:"session_idle_close_seconds"`
	HelpText                 *string                         `json:"help_text"`
}

// ChannelDefaultUpdate changes a channel's tenant-wide default.
type ChannelDefaultUpdate struct {
	Capacity *int `json:"capacity"`
}

// DirectInboundUpdate changes the direct-offer rules; CooldownSeconds null turns the
// cool-down off.
type DirectInboundUpdate struct {
	MissedChatThreshold   *int          `json:"missed_chat_threshold"`
	UnresponsiveThreshold *int          `json:"unresponsive_threshold"`
	OfferTimeoutSeconds   *int          `json:"offer_timeout_seconds"`
	CooldownSeconds       Nullable[int] `json:"cooldown_seconds"`
}

// MaxHelpTextLength is the longest help_text: it is sent as the answer to HELP, which should
// stay a short text.
const MaxHelpTextLength = 480

type settingsRow struct {
	Name                     string        `db:"name"`
	SMSEnabled               bool          `db:"sms_enabled"`
	Timezone                 string        `db:"timezone"`
	DefaultRegion            string        `db:"default_region"`
	MaxDirectNumbersPerAgent int           `db:"max_direct_numbers_per_agent"`
	MissedChatThreshold      int           `db:"missed_chat_threshold"`
	UnresponsiveThreshold    int           `db:"unresponsive_threshold"`
	OfferTimeoutSeconds      int           `db:"offer_timeout_seconds"`
	CooldownSeconds          sql.NullInt64 `db:"cooldown_seconds"`
	SessionIdleCloseSeconds  int           `db:"session_idle_close_seconds"`
	HelpText                 string        `db:"help_text"`
}

const (
	sqlSelectSettings = `SELECT name, sms_enabled, timezone, default_region, max_direct_numbers_per_agent,
			missed_chat_threshold, unresponsive_threshold, offer_timeout_seconds, cooldown_seconds,
			session_idle_close_seconds, help_text
		FROM tenants WHERE id = $1`
	sqlSelectSettingsForUpdate = sqlSelectSettings + ` FOR NO KEY UPDATE`
	sqlSelectTenantChannels    = `SELECT channel, capacity FROM tenant_channels WHERE tenant_id = $1`
	sqlUpdateSettings          = `UPDATE tenants SET name = $2, sms_enabled = $3, timezone = $4, default_region = $5,
			max_direct_numbers_per_agent = $6, missed_chat_threshold = $7, unresponsive_threshold = $8,
			offer_timeout_seconds = $9, cooldown_seconds = $10, session_idle_close_seconds = $11, help_text = $12
		WHERE id = $1`
	sqlUpsertTenantChannel = `INSERT INTO tenant_channels (tenant_id, channel, capacity) VALUES ($1, $2, $3)
		ON CONFLICT (tenant_id, channel) DO UPDATE SET capacity = EXCLUDED.capacity`
)

// GetSettings returns the tenant's settings.
func (s *Store) GetSettings(ctx context.Context, tenantID string) (Settings, error) {
	out, err := getSettings(ctx, s.db, sqlSelectSettings, tenantID)
	if err != nil {
		return Settings{}, fmt.Errorf("get settings of tenant %s: %w", tenantID, err)
	}
	return out, nil
}

func getSettings(ctx context.Context, q sqlx.QueryerContext, query, tenantID string) (Settings, error) {
	var row settingsRow
	err := sqlx.GetContext(ctx, q, &row, query, tenantID)
	if err == pg.ErrNoRows {
		return Settings{}, apperr.NotFound("tenant")
	}
	if err != nil {
		return Settings{}, fmt.Errorf("select tenant: %w", err)
	}
	var chans []struct {
		Channel  Channel `db:"channel"`
		Capacity int     `db:"capacity"`
	}
	if err := sqlx.SelectContext(ctx, q, &chans, sqlSelectTenantChannels, tenantID); err != nil {
		return Settings{}, fmt.Errorf("select channel defaults: %w", err)
	}
	out := Settings{
		Name: row.Name, SMSEnabled: row.SMSEnabled, Timezone: row.Timezone, DefaultRegion: row.DefaultRegion,
		Channels:                 map[Channel]ChannelDefault{},
		MaxDirectNumbersPerAgent: row.MaxDirectNumbersPerAgent,
		DirectInbound: DirectInbound{
			MissedChatThreshold: row.MissedChatThreshold, UnresponsiveThreshold: row.UnresponsiveThreshold,
			OfferTimeoutSeconds: row.OfferTimeoutSeconds,
		},
		SessionIdleCloseSeconds: row.SessionIdleCloseSeconds, HelpText: row.HelpText,
	}
	if row.CooldownSeconds.Valid {
		n := int(row.CooldownSeconds.Int64)
		out.DirectInbound.CooldownSeconds = &n
	}
	for _, c := range Channels {
		out.Channels[c] = ChannelDefault{Capacity: c.DefaultCapacity()}
	}
	for _, c := range chans {
		out.Channels[c.Channel] = ChannelDefault{Capacity: c.Capacity}
	}
	return out, nil
}

// UpdateSettings validates every set field and changes the tenant's settings; admins only.
func (s *Store) UpdateSettings(ctx context.Context, by Principal, upd SettingsUpdate) (Settings, error) {
	if by.Role != RoleAdmin {
		return Settings{}, apperr.Forbidden("only admins may change the tenant's settings")
	}
	chans, err := checkChannelDefaults(upd.Channels)
	if err != nil {
		return Settings{}, err
	}
	var out Settings
	err = pg.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		cur, err := getSettings(ctx, tx, sqlSelectSettingsForUpdate, by.TenantID)
		if err != nil {
			return err
		}
		next, err := applySettings(cur, upd)
		if err != nil {
			return err
		}
		d := next.DirectInbound
		var cooldown any
		if d.CooldownSeconds != nil {
			cooldown = *d.CooldownSeconds
		}
		_, err = tx.ExecContext(ctx, sqlUpdateSettings, by.TenantID, next.Name, next.SMSEnabled, next.Timezone,
			next.DefaultRegion, next.MaxDirectNumbersPerAgent, d.MissedChatThreshold, d.UnresponsiveThreshold,
			d.OfferTimeoutSeconds, cooldown, next.SessionIdleCloseSeconds, next.HelpText)
		if err != nil {
			return fmt.Errorf("update tenant: %w", err)
		}
		for _, c := range chans {
			if _, err := tx.ExecContext(ctx, sqlUpsertTenantChannel, by.TenantID, c.channel, c.capacity); err != nil {
				return fmt.Errorf("update channel default %s: %w", c.channel, err)
			}
		}
		out, err = getSettings(ctx, tx, sqlSelectSettings, by.TenantID)
		return err
	})
	if err != nil {
		return Settings{}, fmt.Errorf("update settings of tenant %s: %w", by.TenantID, err)
	}
	return out, nil
}

type channelCapacity struct {
	channel  Channel
	capacity int
}

// checkChannelDefaults validates the channels part of an update, in a stable order so the
// first error is always the same one.
func checkChannelDefaults(in map[string]ChannelDefaultUpdate) ([]channelCapacity, error) {
	names := make([]string, 0, len(in))
	for name := range in {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []channelCapacity
	for _, name := range names {
		c, err := ParseChannel("channels."+name, name)
		if err != nil {
			return nil, err
		}
		if in[name].Capacity == nil {
			continue
		}
		n := *in[name].Capacity
		if err := checkCapacity("channels."+name+".capacity", n); err != nil {
			return nil, err
		}
		out = append(out, channelCapacity{channel: c, capacity: n})
	}
	return out, nil
}

// applySettings validates upd and returns cur with it applied.
func applySettings(cur Settings, upd SettingsUpdate) (Settings, error) {
	next := cur
	var err error
	if upd.Name != nil {
		if next.Name, err = cleanName("name", *upd.Name); err != nil {
			return Settings{}, err
		}
	}
	if upd.SMSEnabled != nil {
		next.SMSEnabled = *upd.SMSEnabled
	}
	if upd.Timezone != nil {
		if err := ValidateTimezone("timezone", *upd.Timezone); err != nil {
			return Settings{}, err
		}
		next.Timezone = *upd.Timezone
	}
	if upd.DefaultRegion != nil {
		region := strings.ToUpper(strings.TrimSpace(*upd.DefaultRegion))
		if err := ValidateRegion("default_region", region); err != nil {
			return Settings{}, err
		}
		next.DefaultRegion = region
	}
	if err := setBounded(&next.MaxDirectNumbersPerAgent, upd.MaxDirectNumbersPerAgent, "max_direct_numbers_per_agent", "invalid_max_direct_numbers", 1, 100); err != nil {
		return Settings{}, err
	}
	if err := setBounded(&next.SessionIdleCloseSeconds, upd.SessionIdleCloseSeconds, "session_idle_close_seconds", "invalid_idle_close", 60, 2592000); err != nil {
		return Settings{}, err
	}
	if upd.HelpText != nil {
		text := strings.TrimSpace(*upd.HelpText)
		if utf8.RuneCountInString(text) > MaxHelpTextLength {
			return Settings{}, apperr.Invalid("help_text", "invalid_help_text", fmt.Sprintf("help_text must be at most %d characters", MaxHelpTextLength))
		}
		next.HelpText = text
	}
	if d := upd.DirectInbound; d != nil {
		di := &next.DirectInbound
		if err := setBounded(&di.MissedChatThreshold, d.MissedChatThreshold, "direct_inbound.missed_chat_threshold", "invalid_threshold", 1, 100); err != nil {
			return Settings{}, err
		}
		if err := setBounded(&di.UnresponsiveThreshold, d.UnresponsiveThreshold, "direct_inbound.unresponsive_threshold", "invalid_threshold", 1, 100); err != nil {
			return Settings{}, err
		}
		if err := setBounded(&di.OfferTimeoutSeconds, d.OfferTimeoutSeconds, "direct_inbound.offer_timeout_seconds", "invalid_offer_timeout", 5, 86400); err != nil {
			return Settings{}, err
		}
		if d.CooldownSeconds.Set {
			di.CooldownSeconds = nil
			if v := d.CooldownSeconds.Value; v != nil {
				n := *v
				if err := setBounded(&n, v, "direct_inbound.cooldown_seconds", "invalid_cooldown", 1, 86400); err != nil {
					return Settings{}, err
				}
				di.CooldownSeconds = &n
			}
		}
	}
	return next, nil
}

// setBounded sets *dst to *v when v is set and within [lo, hi], else answers 422 code on field.
func setBounded(dst, v *int, field, code string, lo, hi int) error {
	if v == nil {
		return nil
	}
	if *v < lo || *v > hi {
		return apperr.Invalid(field, code, fmt.Sprintf("%s must be from %d to %d", field, lo, hi))
	}
	*dst = *v
	return nil
}
