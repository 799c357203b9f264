package directory

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"directsms/internal/apperr"
	"directsms/sql/pg"
)

// CapacitySource says where a user's capacity on a channel comes from.
type CapacitySource string

// The capacity sources: the user's own override, or the tenant-wide default.
const (
	CapacityFromUser   CapacitySource = "user"
	CapacityFromGlobal CapacitySource = "global"
)

// MinCapacity and MaxCapacity bound every capacity, tenant default or user override.
const (
	MinCapacity = 1
	MaxCapacity = 50
)

// UserChannel is a user's setting on one channel.
type UserChannel struct {
	Channel        Channel        `json:"channel"`
	Enabled        bool           `json:"enabled"`
	Capacity       int            `json:"capacity"`
	CapacitySource CapacitySource `json:"capacity_source"`
}

// ChannelUpdate changes a user's channel: Enabled when set; Capacity to an override from 1 to
// 50, or null to inherit the tenant default again.
type ChannelUpdate struct {
	Enabled  *bool         `json:"enabled"`
	Capacity Nullable[int] `json:"capacity"`
}

const (
	sqlSelectUserChannels = `SELECT tc.channel, COALESCE(uc.enabled, tc.channel = ANY($3)) AS enabled,
			COALESCE(uc.capacity, tc.capacity) AS capacity, uc.capacity IS NOT NULL AS overridden
		FROM tenant_channels tc
		LEFT JOIN user_channels uc ON uc.user_id = $2 AND uc.channel = tc.channel
		WHERE tc.tenant_id = $1`
	sqlSelectUserChannel = `SELECT enabled, capacity FROM user_channels WHERE user_id = $1 AND channel = $2`
	sqlUpsertUserChannel = `INSERT INTO user_channels (tenant_id, user_id, channel, enabled, capacity) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (user_id, channel) DO UPDATE SET enabled = EXCLUDED.enabled, capacity = EXCLUDED.capacity`
)

// ParseChannel checks a channel name from a caller.
func ParseChannel(field, name string) (Channel, error) {
	c := Channel(name)
	if !c.Valid() {
		return "", apperr.Invalid(field, "invalid_channel", fmt.Sprintf("%q is not a channel (sms, voice, whatsapp, messenger, instagram)", truncate(name, 40)))
	}
	return c, nil
}

// defaultOnChannels lists the channels a user has on when nothing was set for them.
func defaultOnChannels() []string {
	var out []string
	for _, c := range Channels {
		if c.DefaultEnabled() {
			out = append(out, string(c))
		}
	}
	return out
}

// checkCapacity refuses a capacity outside 1 to 50.
func checkCapacity(field string, n int) error {
	if n < MinCapacity || n > MaxCapacity {
		return apperr.Invalid(field, "invalid_capacity", fmt.Sprintf("capacity must be from %d to %d", MinCapacity, MaxCapacity))
	}
	return nil
}

// UserChannels returns a user's settings on every channel, in display order, with the
// capacity each one has now.
func (s *Store) UserChannels(ctx context.Context, tenantID, userID string) ([]UserChannel, error) {
	u, err := s.GetUser(ctx, tenantID, userID)
	if err != nil {
		return nil, err
	}
	chans, err := userChannels(ctx, s.db, tenantID, u.ID)
	if err != nil {
		return nil, fmt.Errorf("channels of user %s: %w", userID, err)
	}
	return chans, nil
}

func userChannels(ctx context.Context, q sqlx.QueryerContext, tenantID, userID string) ([]UserChannel, error) {
	var rows []struct {
		Channel    Channel `db:"channel"`
		Enabled    bool    `db:"enabled"`
		Capacity   int     `db:"capacity"`
		Overridden bool    `db:"overridden"`
	}
	if err := sqlx.SelectContext(ctx, q, &rows, sqlSelectUserChannels, tenantID, userID, pq.Array(defaultOnChannels())); err != nil {
		return nil, fmt.Errorf("select channels: %w", err)
	}
	byName := map[Channel]UserChannel{}
	for _, r := range rows {
		src := CapacityFromGlobal
		if r.Overridden {
			src = CapacityFromUser
		}
		byName[r.Channel] = UserChannel{Channel: r.Channel, Enabled: r.Enabled, Capacity: r.Capacity, CapacitySource: src}
	}
	out := make([]UserChannel, 0, len(Channels))
	for _, c := range Channels {
		if uc, ok := byName[c]; ok {
			out = append(out, uc)
		}
	}
	return out, nil
}

// UpdateUserChannel turns a user's channel on or off and sets or clears its capacity override.
// Admins may change anyone's; supervisors those of the users of their teams; agents none.
func (s *Store) UpdateUserChannel(ctx context.Context, by Principal, userID string, ch Channel, upd ChannelUpdate) (UserChannel, error) {
	if by.Role == RoleAgent {
		return UserChannel{}, apperr.Forbidden("agents may not change channels")
	}
	if !ch.Valid() {
		return UserChannel{}, apperr.Invalid("channel", "invalid_channel", fmt.Sprintf("%q is not a channel", truncate(string(ch), 40)))
	}
	if upd.Capacity.Set && upd.Capacity.Value != nil {
		if err := checkCapacity("capacity", *upd.Capacity.Value); err != nil {
			return UserChannel{}, err
		}
	}
	var out UserChannel
	err := pg.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		cur, err := lockUser(ctx, tx, by.TenantID, userID)
		if err != nil {
			return err
		}
		a, err := loadActor(ctx, tx, by)
		if err != nil {
			return err
		}
		if err := a.mayManageUser(cur.Role, cur.TeamIDs); err != nil {
			return err
		}
		if !cur.Active {
			return errUserInactive()
		}
		var row struct {
			Enabled  bool          `db:"enabled"`
			Capacity sql.NullInt64 `db:"capacity"`
		}
		err = tx.GetContext(ctx, &row, sqlSelectUserChannel, cur.ID, ch)
		if err == pg.ErrNoRows {
			row.Enabled = ch.DefaultEnabled()
		} else if err != nil {
			return fmt.Errorf("select channel: %w", err)
		}
		if upd.Enabled != nil {
			row.Enabled = *upd.Enabled
		}
		if upd.Capacity.Set {
			row.Capacity = sql.NullInt64{}
			if v := upd.Capacity.Value; v != nil {
				row.Capacity = sql.NullInt64{Int64: int64(*v), Valid: true}
			}
		}
		if _, err := tx.ExecContext(ctx, sqlUpsertUserChannel, by.TenantID, cur.ID, ch, row.Enabled, row.Capacity); err != nil {
			return fmt.Errorf("write channel: %w", err)
		}
		chans, err := userChannels(ctx, tx, by.TenantID, cur.ID)
		if err != nil {
			return err
		}
		for _, c := range chans {
			if c.Channel == ch {
				out = c
			}
		}
		return nil
	})
	if err != nil {
		return UserChannel{}, fmt.Errorf("update channel %s of user %s: %w", ch, userID, err)
	}
	return out, nil
}
