package directory

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"directsms/internal/apperr"
	"directsms/sql/pg"
)

// Backup is who takes an agent's work when the agent cannot: one user or one SMS queue.
type Backup struct {
	UserID  string `json:"user_id,omitempty"`
	QueueID string `json:"queue_id,omitempty"`
}

// User is a person in a tenant. Deactivated users are kept (Active false) so reports can still
// name them.
type User struct {
	ID                     string     `json:"id"`
	Name                   string     `json:"name"`
	Email                  string     `json:"email"`
	Role                   Role       `json:"role"`
	Extension              *string    `json:"extension"`
	PersonalNumber         *string    `json:"personal_number"`
	Timezone               *string    `json:"timezone"`
	Status                 Status     `json:"status"`
	StatusChangedAt        time.Time  `json:"status_changed_at"`
	TeamIDs                []string   `json:"team_ids"`
	PrimaryTeamID          string     `json:"primary_team_id"`
	Backup                 *Backup    `json:"backup"`
	CanConfigureDeflection bool       `json:"can_configure_deflection"`
	PersonalQueueID        *string    `json:"personal_queue_id"`
	Active                 bool       `json:"active"`
	DeactivatedAt          *time.Time `json:"deactivated_at"`
	CreatedAt              time.Time  `json:"created_at"`
}

// NewUser is what creating a user takes. Role defaults to agent, Status to offline, and the
// primary team to the first of TeamIDs.
type NewUser struct {
	Name                   string   `json:"name"`
	Email                  string   `json:"email"`
	Role                   Role     `json:"role"`
	TeamIDs                []string `json:"team_ids"`
	PrimaryTeamID          string   `json:"primary_team_id"`
	Extension              string   `json:"extension"`
	PersonalNumber         string   `json:"personal_number"`
	Timezone               string   `json:"timezone"`
	Status                 Status   `json:"status"`
	CanConfigureDeflection bool     `json:"can_configure_deflection"`
	Backup                 *Backup  `json:"backup"`
}

// UserUpdate changes the fields that are set. Extension, PersonalNumber, Timezone and Backup are
// cleared with null (or an empty string); a user without a time zone uses the tenant's. When
// TeamIDs drops the primary team and PrimaryTeamID is not set, the first remaining team becomes
// primary.
type UserUpdate struct {
	Name                   *string          `json:"name"`
	Email                  *string          `json:"email"`
	Role                   *Role            `json:"role"`
	TeamIDs                *[]string        `json:"team_ids"`
	PrimaryTeamID          *string          `json:"primary_team_id"`
	Extension              Nullable[string] `json:"extension"`
	PersonalNumber         Nullable[string] `json:"personal_number"`
	Timezone               Nullable[string] `json:"timezone"`
	Status                 *Status          `json:"status"`
	CanConfigureDeflection *bool            `json:"can_configure_deflection"`
	Backup                 Nullable[Backup] `json:"backup"`
}

// UserFilter narrows FindUsers; zero fields match everything. Deactivated users are left out
// unless IncludeInactive.
type UserFilter struct {
	TeamID          string
	Role            Role
	Status          Status
	IncludeInactive bool
	Page            Page
}

const userColumns = `u.id, u.name, u.email, u.role, u.extension, u.personal_number, u.timezone, u.status,
	u.status_changed_at, u.primary_team_id, u.can_configure_deflection, u.backup_user_id, u.backup_queue_id,
	u.active, u.deactivated_at, u.created_at,
	ARRAY(SELECT CAST(tm.team_id AS text) FROM team_members tm WHERE tm.user_id = u.id ORDER BY tm.team_id) AS team_ids,
	(SELECT q.id FROM queues q WHERE q.personal_user_id = u.id) AS personal_queue_id`

const (
	sqlSelectUser = `SELECT ` + userColumns + ` FROM users u WHERE u.tenant_id = $1 AND u.id = $2`
	sqlLockUser   = `SELECT id FROM users WHERE tenant_id = $1 AND id = $2 FOR UPDATE`
	sqlFindUsers  = `SELECT ` + userColumns + ` FROM users u
		WHERE u.tenant_id = $1
		  AND (CAST($2 AS uuid) IS NULL OR u.id > CAST($2 AS uuid))
		  AND (CAST($3 AS uuid) IS NULL OR EXISTS (SELECT 1 FROM team_members tm WHERE tm.user_id = u.id AND tm.team_id = CAST($3 AS uuid)))
		  AND ($4 = '' OR u.role = $4)
		  AND ($5 = '' OR u.status = $5)
		  AND ($6 OR u.active)
		ORDER BY u.id
		LIMIT $7`
	sqlInsertFullUser = `INSERT INTO users (tenant_id, name, email, role, extension, personal_number, timezone, status,
			status_changed_at, primary_team_id, can_configure_deflection, backup_user_id, backup_queue_id, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $9) RETURNING id`
	sqlUpdateUser = `UPDATE users SET name = $3, email = $4, role = $5, extension = $6, personal_number = $7,
			timezone = $8, primary_team_id = $9, can_configure_deflection = $10, backup_user_id = $11, backup_queue_id = $12
		WHERE tenant_id = $1 AND id = $2`
	sqlDeactivateUser        = `UPDATE users SET active = false, deactivated_at = $3 WHERE tenant_id = $1 AND id = $2`
	sqlDeleteTeamMemberships = `DELETE FROM team_members WHERE tenant_id = $1 AND user_id = $2 AND team_id = ANY($3)`
	sqlTenantRegion          = `SELECT default_region FROM tenants WHERE id = $1`
	sqlSelectBackupUser      = `SELECT active FROM users WHERE tenant_id = $1 AND id = $2`
	sqlSelectBackupQueue     = `SELECT kind FROM queues WHERE tenant_id = $1 AND id = $2`
	sqlCountOtherAdmins      = `SELECT count(*) FROM users WHERE tenant_id = $1 AND role = 'admin' AND active AND id <> $2`
	sqlLockTenantAdmins      = `SELECT pg_advisory_xact_lock($1, hashtext(CAST($2 AS text)))`
)

// lockClassAdmins serializes changes that could leave a tenant without an active admin.
const lockClassAdmins int32 = 0x64697201

type userRow struct {
	ID                     string         `db:"id"`
	Name                   string         `db:"name"`
	Email                  string         `db:"email"`
	Role                   Role           `db:"role"`
	Extension              sql.NullString `db:"extension"`
	PersonalNumber         sql.NullString `db:"personal_number"`
	Timezone               sql.NullString `db:"timezone"`
	Status                 Status         `db:"status"`
	StatusChangedAt        time.Time      `db:"status_changed_at"`
	PrimaryTeamID          sql.NullString `db:"primary_team_id"`
	CanConfigureDeflection bool           `db:"can_configure_deflection"`
	BackupUserID           sql.NullString `db:"backup_user_id"`
	BackupQueueID          sql.NullString `db:"backup_queue_id"`
	Active                 bool           `db:"active"`
	DeactivatedAt          sql.NullTime   `db:"deactivated_at"`
	CreatedAt              time.Time      `db:"created_at"`
	TeamIDs                pq.StringArray `db:"team_ids"`
	PersonalQueueID        sql.NullString `db:"personal_queue_id"`
}

func (r userRow) user() User {
	u := User{
		ID: r.ID, Name: r.Name, Email: r.Email, Role: r.Role,
		Extension: nullString(r.Extension), PersonalNumber: nullString(r.PersonalNumber), Timezone: nullString(r.Timezone),
		Status: r.Status, StatusChangedAt: r.StatusChangedAt.UTC(), TeamIDs: []string(r.TeamIDs),
		PrimaryTeamID: r.PrimaryTeamID.String, CanConfigureDeflection: r.CanConfigureDeflection,
		PersonalQueueID: nullString(r.PersonalQueueID), Active: r.Active, CreatedAt: r.CreatedAt.UTC(),
	}
	if u.TeamIDs == nil {
		u.TeamIDs = []string{}
	}
	if r.BackupUserID.Valid || r.BackupQueueID.Valid {
		u.Backup = &Backup{UserID: r.BackupUserID.String, QueueID: r.BackupQueueID.String}
	}
	if r.DeactivatedAt.Valid {
		t := r.DeactivatedAt.Time.UTC()
		u.DeactivatedAt = &t
	}
	return u
}

func nullString(s sql.NullString) *string {
	if !s.Valid {
		return nil
	}
	return &s.String
}

func strOrNil(s *string) any {
	if s == nil || *s == "" {
		return nil
	}
	return *s
}

func getUser(ctx context.Context, q sqlx.QueryerContext, tenantID, userID string) (User, error) {
	if !validUUID(userID) {
		return User{}, apperr.NotFound("user")
	}
	var row userRow
	err := sqlx.GetContext(ctx, q, &row, sqlSelectUser, tenantID, strings.ToLower(userID))
	if err == pg.ErrNoRows {
		return User{}, apperr.NotFound("user")
	}
	if err != nil {
		return User{}, fmt.Errorf("get user %s: %w", userID, err)
	}
	return row.user(), nil
}

// lockUser locks a user's row for the rest of tx and then reads the user. The read is its own
// statement so it sees what committed while the lock was awaited: a single SELECT … FOR UPDATE
// would re-check the row but answer its teams from the snapshot taken before the wait, and two
// removals of a user's last two teams would each see the other team still there.
func lockUser(ctx context.Context, tx *sqlx.Tx, tenantID, userID string) (User, error) {
	if !validUUID(userID) {
		return User{}, apperr.NotFound("user")
	}
	var id string
	err := tx.GetContext(ctx, &id, sqlLockUser, tenantID, strings.ToLower(userID))
	if err == pg.ErrNoRows {
		return User{}, apperr.NotFound("user")
	}
	if err != nil {
		return User{}, fmt.Errorf("lock user %s: %w", userID, err)
	}
	return getUser(ctx, tx, tenantID, id)
}

// GetUser returns a user of the tenant, active or not, with its teams, primary team, backup and
// personal queue.
func (s *Store) GetUser(ctx context.Context, tenantID, userID string) (User, error) {
	return getUser(ctx, s.db, tenantID, userID)
}

// FindUsers lists the tenant's users matching f, ordered by id, one page (Limit+1 rows, so the
// caller can tell a next page exists).
func (s *Store) FindUsers(ctx context.Context, tenantID string, f UserFilter) ([]User, error) {
	if err := f.Page.check(); err != nil {
		return nil, err
	}
	if f.TeamID != "" && !validUUID(f.TeamID) {
		return nil, apperr.Invalid("team_id", "unknown_team", "team_id is not a team id")
	}
	if f.Role != "" && !f.Role.Valid() {
		return nil, apperr.Invalid("role", "invalid_role", "role must be admin, supervisor or agent")
	}
	if f.Status != "" && !f.Status.Valid() {
		return nil, apperr.Invalid("status", "invalid_status", "status must be one of available, away, offline, missed_chat, unresponsive")
	}
	var rows []userRow
	err := s.db.SelectContext(ctx, &rows, sqlFindUsers, tenantID, nullUUID(f.Page.Cursor), nullUUID(f.TeamID),
		string(f.Role), string(f.Status), f.IncludeInactive, f.Page.fetch())
	if err != nil {
		return nil, fmt.Errorf("find users: %w", err)
	}
	out := make([]User, len(rows))
	for i, r := range rows {
		out[i] = r.user()
	}
	return out, nil
}

// CreateUser adds a user to the tenant with its teams. Admins may create anyone; supervisors
// agents and supervisors in their own teams only; agents no one.
func (s *Store) CreateUser(ctx context.Context, by Principal, in NewUser) (User, error) {
	if by.Role == RoleAgent {
		return User{}, apperr.Forbidden("agents may not create users")
	}
	var err error
	if in.Name, err = cleanName("name", in.Name); err != nil {
		return User{}, err
	}
	if in.Email, err = NormalizeEmail("email", in.Email); err != nil {
		return User{}, err
	}
	if in.Role == "" {
		in.Role = RoleAgent
	}
	if !in.Role.Valid() {
		return User{}, apperr.Invalid("role", "invalid_role", "role must be admin, supervisor or agent")
	}
	if in.Status == "" {
		in.Status = StatusOffline
	}
	if err := checkSettableStatus(in.Status); err != nil {
		return User{}, err
	}
	teamIDs, primary, err := checkTeamChoice(in.TeamIDs, in.PrimaryTeamID)
	if err != nil {
		return User{}, err
	}
	if in.Extension = strings.TrimSpace(in.Extension); in.Extension != "" {
		if err := checkExtension(in.Extension); err != nil {
			return User{}, err
		}
	}
	if in.Timezone != "" {
		if err := ValidateTimezone("timezone", in.Timezone); err != nil {
			return User{}, err
		}
	}
	var out User
	err = pg.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		a, err := loadActor(ctx, tx, by)
		if err != nil {
			return err
		}
		if err := a.mayGrantRole(in.Role); err != nil {
			return err
		}
		if err := a.mayChangeTeams(teamIDs); err != nil {
			return err
		}
		if err := checkTeamsExist(ctx, tx, by.TenantID, "team_ids", teamIDs); err != nil {
			return err
		}
		var number string
		if strings.TrimSpace(in.PersonalNumber) != "" {
			if number, err = personalNumber(ctx, tx, by.TenantID, in.PersonalNumber); err != nil {
				return err
			}
		}
		if in.Backup != nil {
			if err := checkBackup(ctx, tx, by.TenantID, "", *in.Backup); err != nil {
				return err
			}
		} else {
			in.Backup = &Backup{}
		}
		now := s.now()
		var id string
		err = tx.GetContext(ctx, &id, sqlInsertFullUser, by.TenantID, in.Name, in.Email, in.Role,
			strOrNil(&in.Extension), strOrNil(&number), strOrNil(&in.Timezone), in.Status, now, primary,
			in.CanConfigureDeflection, strOrNil(&in.Backup.UserID), strOrNil(&in.Backup.QueueID))
		if err != nil {
			return userWriteError(err)
		}
		for _, team := range teamIDs {
			if _, err := tx.ExecContext(ctx, sqlInsertTeamMember, by.TenantID, team, id); err != nil {
				return goneError(err, "team_ids", "unknown_team", "team", "add to team "+team)
			}
		}
		if err := recordStatus(ctx, tx, by.TenantID, id, in.Status, "created", by.UserID, now); err != nil {
			return err
		}
		out, err = getUser(ctx, tx, by.TenantID, id)
		return err
	})
	if err != nil {
		return User{}, fmt.Errorf("create user %s: %w", in.Email, err)
	}
	return out, nil
}

// UpdateUser changes the set fields of a user. Admins may change anyone; supervisors the
// non-admin users of their teams, adding or removing only their own teams and never making an
// admin; agents no one (they change their status with ChangeStatus).
func (s *Store) UpdateUser(ctx context.Context, by Principal, userID string, upd UserUpdate) (User, error) {
	if by.Role == RoleAgent {
		return User{}, apperr.Forbidden("agents may not change users; set your status with PUT /v1/users/{id}/status")
	}
	var out User
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
		next, err := s.applyUserUpdate(ctx, tx, a, cur, upd)
		if err != nil {
			return err
		}
		if cur.Role == RoleAdmin && next.Role != RoleAdmin {
			if err := keepAnAdmin(ctx, tx, by.TenantID, cur.ID); err != nil {
				return err
			}
		}
		backup := Backup{}
		if next.Backup != nil {
			backup = *next.Backup
		}
		_, err = tx.ExecContext(ctx, sqlUpdateUser, by.TenantID, cur.ID, next.Name, next.Email, next.Role,
			strOrNil(next.Extension), strOrNil(next.PersonalNumber), strOrNil(next.Timezone), next.PrimaryTeamID,
			next.CanConfigureDeflection, strOrNil(&backup.UserID), strOrNil(&backup.QueueID))
		if err != nil {
			return userWriteError(err)
		}
		if err := writeMemberships(ctx, tx, by.TenantID, cur.ID, cur.TeamIDs, next.TeamIDs); err != nil {
			return err
		}
		if upd.Status != nil {
			if _, err := setStatus(ctx, tx, by.TenantID, cur.ID, *upd.Status, "set by "+string(by.Role), by.UserID, s.now()); err != nil {
				return err
			}
		}
		out, err = getUser(ctx, tx, by.TenantID, cur.ID)
		return err
	})
	if err != nil {
		return User{}, fmt.Errorf("update user %s: %w", userID, err)
	}
	return out, nil
}

// applyUserUpdate validates upd against the current user and the actor's reach and returns the
// user as it will be.
func (s *Store) applyUserUpdate(ctx context.Context, tx *sqlx.Tx, a actor, cur User, upd UserUpdate) (User, error) {
	next := cur
	var err error
	if upd.Name != nil {
		if next.Name, err = cleanName("name", *upd.Name); err != nil {
			return User{}, err
		}
	}
	if upd.Email != nil {
		if next.Email, err = NormalizeEmail("email", *upd.Email); err != nil {
			return User{}, err
		}
	}
	if upd.Role != nil {
		if !upd.Role.Valid() {
			return User{}, apperr.Invalid("role", "invalid_role", "role must be admin, supervisor or agent")
		}
		if err := a.mayGrantRole(*upd.Role); err != nil {
			return User{}, err
		}
		next.Role = *upd.Role
	}
	if upd.Status != nil {
		if err := checkSettableStatus(*upd.Status); err != nil {
			return User{}, err
		}
	}
	if upd.Extension.Set {
		next.Extension = nil
		if v := upd.Extension.Value; v != nil && strings.TrimSpace(*v) != "" {
			ext := strings.TrimSpace(*v)
			if err := checkExtension(ext); err != nil {
				return User{}, err
			}
			next.Extension = &ext
		}
	}
	if upd.Timezone.Set {
		next.Timezone = nil
		if v := upd.Timezone.Value; v != nil && *v != "" {
			if err := ValidateTimezone("timezone", *v); err != nil {
				return User{}, err
			}
			next.Timezone = v
		}
	}
	if upd.PersonalNumber.Set {
		next.PersonalNumber = nil
		if v := upd.PersonalNumber.Value; v != nil && strings.TrimSpace(*v) != "" {
			number, err := personalNumber(ctx, tx, a.TenantID, *v)
			if err != nil {
				return User{}, err
			}
			next.PersonalNumber = &number
		}
	}
	if upd.CanConfigureDeflection != nil {
		next.CanConfigureDeflection = *upd.CanConfigureDeflection
	}
	if upd.Backup.Set {
		next.Backup = nil
		if b := upd.Backup.Value; b != nil {
			if err := checkBackup(ctx, tx, a.TenantID, cur.ID, *b); err != nil {
				return User{}, err
			}
			next.Backup = b
		}
	}
	if upd.TeamIDs != nil {
		primary := ""
		if upd.PrimaryTeamID != nil {
			primary = *upd.PrimaryTeamID
		}
		teams, chosen, err := checkTeamChoice(*upd.TeamIDs, primary)
		if err != nil {
			return User{}, err
		}
		if err := a.mayChangeTeams(append(diff(teams, cur.TeamIDs), diff(cur.TeamIDs, teams)...)); err != nil {
			return User{}, err
		}
		if err := checkTeamsExist(ctx, tx, a.TenantID, "team_ids", teams); err != nil {
			return User{}, err
		}
		next.TeamIDs = teams
		next.PrimaryTeamID = chosen
		if primary == "" && contains(teams, cur.PrimaryTeamID) {
			next.PrimaryTeamID = cur.PrimaryTeamID
		}
	} else if upd.PrimaryTeamID != nil {
		if !contains(cur.TeamIDs, strings.ToLower(*upd.PrimaryTeamID)) {
			return User{}, apperr.Invalid("primary_team_id", "invalid_primary_team", "primary_team_id must be one of the user's teams")
		}
		next.PrimaryTeamID = strings.ToLower(*upd.PrimaryTeamID)
	}
	return next, nil
}

// DeactivateUser removes a user from service: their keys stop working, they leave every
// routing decision, and their rows stay for reports. Deactivating an inactive user does
// nothing. The last active admin cannot be deactivated.
func (s *Store) DeactivateUser(ctx context.Context, by Principal, userID string) error {
	if by.Role == RoleAgent {
		return apperr.Forbidden("agents may not remove users")
	}
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
			return nil
		}
		if cur.Role == RoleAdmin {
			if err := keepAnAdmin(ctx, tx, by.TenantID, cur.ID); err != nil {
				return err
			}
		}
		now := s.now()
		if _, err := setStatus(ctx, tx, by.TenantID, cur.ID, StatusOffline, "deactivated", by.UserID, now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, sqlDeactivateUser, by.TenantID, cur.ID, now); err != nil {
			return fmt.Errorf("deactivate: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("deactivate user %s: %w", userID, err)
	}
	return nil
}

// checkTeamChoice validates a user's team list and primary team, returning the cleaned list
// and the primary (the first team when none is named).
func checkTeamChoice(teamIDs []string, primary string) ([]string, string, error) {
	if len(teamIDs) == 0 {
		return nil, "", apperr.Invalid("team_ids", "team_required", "a user belongs to at least one team")
	}
	teams, err := cleanIDs("team_ids", "unknown_team", "team", teamIDs)
	if err != nil {
		return nil, "", err
	}
	if primary == "" {
		return teams, teams[0], nil
	}
	primary = strings.ToLower(primary)
	if !contains(teams, primary) {
		return nil, "", apperr.Invalid("primary_team_id", "invalid_primary_team", "primary_team_id must be one of team_ids")
	}
	return teams, primary, nil
}

// checkSettableStatus refuses what the system alone sets: missed_chat and unresponsive come
// from the thresholds, and people clear them by setting available.
func checkSettableStatus(st Status) error {
	switch st {
	case StatusAvailable, StatusAway, StatusOffline:
		return nil
	case StatusMissedChat, StatusUnresponsive:
		return apperr.Invalid("status", "invalid_status", string(st)+" is set by the missed-chat and unresponsive thresholds, not by hand")
	}
	return apperr.Invalid("status", "invalid_status", "status must be available, away or offline")
}

// personalNumber normalizes a personal number with the tenant's default region.
func personalNumber(ctx context.Context, tx *sqlx.Tx, tenantID, input string) (string, error) {
	var region string
	if err := tx.GetContext(ctx, &region, sqlTenantRegion, tenantID); err != nil {
		return "", fmt.Errorf("find tenant region: %w", err)
	}
	return normalizePersonalNumber(input, region)
}

// checkBackup validates a backup: exactly one of an active user (not the user itself) or an
// SMS queue of the tenant.
func checkBackup(ctx context.Context, tx *sqlx.Tx, tenantID, self string, b Backup) error {
	if (b.UserID == "") == (b.QueueID == "") {
		return apperr.Invalid("backup", "invalid_backup", `backup is {"user_id": ...} or {"queue_id": ...}`)
	}
	if b.UserID != "" {
		if !validUUID(b.UserID) {
			return apperr.Invalid("backup.user_id", "unknown_user", "no such user in this tenant")
		}
		if strings.EqualFold(b.UserID, self) {
			return apperr.Invalid("backup.user_id", "invalid_backup", "a user cannot be their own backup")
		}
		var active bool
		err := tx.GetContext(ctx, &active, sqlSelectBackupUser, tenantID, strings.ToLower(b.UserID))
		if err == pg.ErrNoRows {
			return apperr.Invalid("backup.user_id", "unknown_user", "no such user in this tenant")
		}
		if err != nil {
			return fmt.Errorf("find backup user: %w", err)
		}
		if !active {
			return apperr.Invalid("backup.user_id", "user_inactive", "the backup user is deactivated")
		}
		return nil
	}
	if !validUUID(b.QueueID) {
		return apperr.Invalid("backup.queue_id", "unknown_queue", "no such queue in this tenant")
	}
	var kind QueueKind
	err := tx.GetContext(ctx, &kind, sqlSelectBackupQueue, tenantID, strings.ToLower(b.QueueID))
	if err == pg.ErrNoRows {
		return apperr.Invalid("backup.queue_id", "unknown_queue", "no such queue in this tenant")
	}
	if err != nil {
		return fmt.Errorf("find backup queue: %w", err)
	}
	if kind != QueueSMS {
		return apperr.Invalid("backup.queue_id", "invalid_backup", "a backup queue must be an sms queue")
	}
	return nil
}

// keepAnAdmin refuses a change that would leave the tenant without an active admin. The lock
// makes two admins demoting each other at once see each other's change.
func keepAnAdmin(ctx context.Context, tx *sqlx.Tx, tenantID, leaving string) error {
	if _, err := tx.ExecContext(ctx, sqlLockTenantAdmins, lockClassAdmins, tenantID); err != nil {
		return fmt.Errorf("lock admins: %w", err)
	}
	var others int
	if err := tx.GetContext(ctx, &others, sqlCountOtherAdmins, tenantID, leaving); err != nil {
		return fmt.Errorf("count admins: %w", err)
	}
	if others == 0 {
		return apperr.Conflict("last_admin", "the tenant's last active admin cannot be removed or demoted")
	}
	return nil
}

// writeMemberships turns the user's team memberships from old into next.
func writeMemberships(ctx context.Context, tx *sqlx.Tx, tenantID, userID string, old, next []string) error {
	if gone := diff(old, next); len(gone) > 0 {
		if _, err := tx.ExecContext(ctx, sqlDeleteTeamMemberships, tenantID, userID, pq.Array(gone)); err != nil {
			return fmt.Errorf("leave teams: %w", err)
		}
	}
	for _, team := range diff(next, old) {
		if _, err := tx.ExecContext(ctx, sqlInsertTeamMember, tenantID, team, userID); err != nil {
			return goneError(err, "team_ids", "unknown_team", "team", "join team "+team)
		}
	}
	return nil
}

// userWriteError turns the user table's unique indexes into the conflicts callers see.
func userWriteError(err error) error {
	switch {
	case pg.IsViolation(err, "users_email_key"):
		e := apperr.Conflict("email_exists", "another active user of this tenant has this email")
		e.Field = "email"
		return e
	case pg.IsViolation(err, "users_extension_key"):
		e := apperr.Conflict("extension_exists", "another active user of this tenant has this extension")
		e.Field = "extension"
		return e
	case pg.IsViolation(err, "users_backup_queue_fkey"):
		return apperr.Invalid("backup.queue_id", "unknown_queue", "no such queue in this tenant")
	}
	return fmt.Errorf("write user: %w", err)
}

func errUserInactive() error {
	return apperr.Conflict("user_inactive", "the user is deactivated")
}

func contains(ids []string, id string) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}
