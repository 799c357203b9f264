package deflection

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"directsms/directory"
	"directsms/internal/apperr"
	"directsms/sql/pg"
)

// Target is what an inbound text was sent to: a number an agent owns (UserID) or one an SMS
// queue owns (QueueID). Exactly one is set.
type Target struct {
	UserID  string
	QueueID string
}

// Effective is the deflection settings that apply to a target or level, and the level they come
// from: the API's GET answer.
type Effective struct {
	Settings
	Source Source `json:"source"`
}

// Scope is one settings level of a tenant: the global level (ID empty), or one team's, user's or
// queue's override (ID is that team, user or queue).
type Scope struct {
	Level Source
	ID    string
}

// GlobalScope is the tenant-wide level.
var GlobalScope = Scope{Level: SourceGlobal}

// DirectNumbers answers whether a tenant has at least one verified direct number assigned to an
// agent or an SMS queue: global deflection is about such numbers and can't be turned on before
// one exists. The numbers package implements it; deflection does not read the inventory itself.
type DirectNumbers interface {
	HasAssignedDirectNumber(ctx context.Context, tenantID string) (bool, error)
}

// CodeNoDirectNumber is the 409 answer to turning global deflection on before a verified direct
// number is assigned.
const CodeNoDirectNumber = "no_direct_number"

// Store is deflection's PostgreSQL store: the settings of every level and their inheritance.
type Store struct {
	db      *sqlx.DB
	nowFunc func() time.Time
	numbers DirectNumbers
}

// NewStore returns a store over db; nowFunc is the clock (time.Now when nil), numbers answers the
// no_direct_number rule.
func NewStore(db *sqlx.DB, nowFunc func() time.Time, numbers DirectNumbers) *Store {
	if nowFunc == nil {
		nowFunc = time.Now
	}
	return &Store{db: db, nowFunc: nowFunc, numbers: numbers}
}

func (s *Store) now() time.Time { return s.nowFunc().UTC() }

const (
	// sqlSelectEffective finds the nearest level that overrides (see deflection_effective): $2 a
	// user, $3 a team, $4 a queue, all nullable.
	sqlSelectEffective = `SELECT level, enabled, hours, message, timezone FROM deflection_effective($1, $2, $3, $4)`
	sqlUpsertSettings  = `INSERT INTO deflection_settings
			(tenant_id, level, team_id, user_id, queue_id, enabled, hours, message, updated_at, updated_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (tenant_id, target_id) DO UPDATE SET enabled = EXCLUDED.enabled, hours = EXCLUDED.hours,
			message = EXCLUDED.message, updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by`
	sqlDeleteSettings = `DELETE FROM deflection_settings WHERE tenant_id = $1 AND target_id = $2`
)

type effectiveRow struct {
	Level    string `db:"level"`
	Enabled  bool   `db:"enabled"`
	Hours    []byte `db:"hours"`
	Message  string `db:"message"`
	Timezone string `db:"timezone"`
}

// Effective returns the settings that apply to a text sent to target: for an agent's number the
// user's override, else the user's primary team's, else the global settings; for a queue's
// number the queue's, else the global settings. It runs one query and checks no permission:
// routing calls it for every inbound text.
func (s *Store) Effective(ctx context.Context, tenantID string, target Target) (Effective, error) {
	return Lookup(ctx, s.db, tenantID, target)
}

// Lookup is Store.Effective over any connection or transaction.
func Lookup(ctx context.Context, q sqlx.QueryerContext, tenantID string, target Target) (Effective, error) {
	eff, err := effective(ctx, q, tenantID, target.UserID, "", target.QueueID)
	if err != nil {
		return Effective{}, fmt.Errorf("effective deflection of %+v: %w", target, err)
	}
	return eff, nil
}

func effective(ctx context.Context, q sqlx.QueryerContext, tenantID, userID, teamID, queueID string) (Effective, error) {
	var row effectiveRow
	err := sqlx.GetContext(ctx, q, &row, sqlSelectEffective, tenantID, nullID(userID), nullID(teamID), nullID(queueID))
	if errors.Is(err, pg.ErrNoRows) {
		return Effective{}, apperr.NotFound("tenant")
	}
	if err != nil {
		return Effective{}, err
	}
	return Decode(row.Level, row.Enabled, row.Hours, row.Message, row.Timezone)
}

// Decode builds effective settings from the columns of the SQL function deflection_effective
// (level, enabled, hours, message, timezone), for callers that fold it into a query of their
// own: hours null means none were set, and hours without a zone are read in the tenant's.
func Decode(level string, enabled bool, hours []byte, message, timezone string) (Effective, error) {
	eff := Effective{Settings: Settings{Enabled: enabled, Message: message}, Source: Source(level)}
	if hours != nil {
		if err := json.Unmarshal(hours, &eff.Hours); err != nil {
			return Effective{}, fmt.Errorf("decode hours: %w", err)
		}
	}
	if eff.Hours.Timezone == "" {
		eff.Hours.Timezone = timezone
	}
	eff.Settings = normalize(eff.Settings)
	return eff, nil
}

// normalize gives absent weekdays and exceptions their empty JSON forms, so the API always
// answers objects and arrays, never null.
func normalize(set Settings) Settings {
	if set.Hours.Weekly == nil {
		set.Hours.Weekly = map[string][]Interval{}
	}
	for day, ivs := range set.Hours.Weekly {
		if ivs == nil {
			set.Hours.Weekly[day] = []Interval{}
		}
	}
	if set.Hours.Exceptions == nil {
		set.Hours.Exceptions = []Exception{}
	}
	for i := range set.Hours.Exceptions {
		if set.Hours.Exceptions[i].Intervals == nil {
			set.Hours.Exceptions[i].Intervals = []Interval{}
		}
	}
	return set
}

// nullID passes an empty id as SQL NULL.
func nullID(id string) any {
	if id == "" {
		return nil
	}
	return id
}

// Get returns the effective settings of a level as the API shows them: the level's own override
// or what it inherits, with the level they come from. by must be allowed to read the level
// (see authorize).
func (s *Store) Get(ctx context.Context, by directory.Principal, sc Scope) (Effective, error) {
	var eff Effective
	err := pg.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		if err := authorize(ctx, tx, by, sc, false); err != nil {
			return err
		}
		var err error
		eff, err = scopeEffective(ctx, tx, by.TenantID, sc)
		return err
	})
	if err != nil {
		return Effective{}, fmt.Errorf("get %s deflection %s: %w", sc.Level, sc.ID, err)
	}
	return eff, nil
}

// Put makes set the level's override, replacing any it had, and returns the level's effective
// settings (now set itself). Global deflection can only be enabled once a verified direct number
// is assigned (409 no_direct_number).
func (s *Store) Put(ctx context.Context, by directory.Principal, sc Scope, set Settings) (Effective, error) {
	var eff Effective
	err := pg.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		if err := authorize(ctx, tx, by, sc, true); err != nil {
			return err
		}
		if err := set.Validate(); err != nil {
			var verr *ValidationError
			if errors.As(err, &verr) {
				return apperr.Invalid(verr.Field, verr.Code, verr.Message)
			}
			return err
		}
		if sc.Level == SourceGlobal && set.Enabled {
			if err := s.requireDirectNumber(ctx, by.TenantID); err != nil {
				return err
			}
		}
		if err := upsert(ctx, tx, by, sc, normalize(set), s.now()); err != nil {
			return err
		}
		var err error
		eff, err = scopeEffective(ctx, tx, by.TenantID, sc)
		return err
	})
	if err != nil {
		return Effective{}, fmt.Errorf("put %s deflection %s: %w", sc.Level, sc.ID, err)
	}
	return eff, nil
}

// Reset removes the level's override, so that it inherits again; a level without one is left
// as it is. Resetting the global level turns global deflection off.
func (s *Store) Reset(ctx context.Context, by directory.Principal, sc Scope) error {
	err := pg.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		if err := authorize(ctx, tx, by, sc, true); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, sqlDeleteSettings, by.TenantID, targetID(by.TenantID, sc)); err != nil {
			return fmt.Errorf("delete override: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reset %s deflection %s: %w", sc.Level, sc.ID, err)
	}
	return nil
}

func (s *Store) requireDirectNumber(ctx context.Context, tenantID string) error {
	if s.numbers == nil {
		return errors.New("check direct numbers: no DirectNumbers configured")
	}
	ok, err := s.numbers.HasAssignedDirectNumber(ctx, tenantID)
	if err != nil {
		return fmt.Errorf("check direct numbers: %w", err)
	}
	if !ok {
		return apperr.Conflict(CodeNoDirectNumber, "global deflection can be turned on once a verified direct number is assigned to an agent or an SMS queue")
	}
	return nil
}

func scopeEffective(ctx context.Context, q sqlx.QueryerContext, tenantID string, sc Scope) (Effective, error) {
	switch sc.Level {
	case SourceTeam:
		return effective(ctx, q, tenantID, "", sc.ID, "")
	case SourceUser:
		return effective(ctx, q, tenantID, sc.ID, "", "")
	case SourceQueue:
		return effective(ctx, q, tenantID, "", "", sc.ID)
	}
	return effective(ctx, q, tenantID, "", "", "")
}

// targetID is the deflection_settings.target_id of a scope's row.
func targetID(tenantID string, sc Scope) string {
	if sc.Level == SourceGlobal {
		return tenantID
	}
	return sc.ID
}

func upsert(ctx context.Context, tx *sqlx.Tx, by directory.Principal, sc Scope, set Settings, now time.Time) error {
	hours, err := json.Marshal(set.Hours)
	if err != nil {
		return fmt.Errorf("encode hours: %w", err)
	}
	var teamID, userID, queueID any
	switch sc.Level {
	case SourceTeam:
		teamID = sc.ID
	case SourceUser:
		userID = sc.ID
	case SourceQueue:
		queueID = sc.ID
	}
	_, err = tx.ExecContext(ctx, sqlUpsertSettings, by.TenantID, string(sc.Level), teamID, userID, queueID,
		set.Enabled, hours, set.Message, now, nullID(by.UserID))
	switch {
	case pg.IsViolation(err, "deflection_settings_team_fkey"):
		return apperr.NotFound("team")
	case pg.IsViolation(err, "deflection_settings_user_fkey"):
		return apperr.NotFound("user")
	case pg.IsViolation(err, "deflection_settings_queue_fkey"):
		return apperr.NotFound("queue")
	case err != nil:
		return fmt.Errorf("save override: %w", err)
	}
	return nil
}
