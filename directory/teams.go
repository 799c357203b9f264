package directory

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"directsms/internal/apperr"
	"directsms/sql/pg"
)

// Team is a group of users.
type Team struct {
	ID          string    `json:"id" db:"id"`
	Name        string    `json:"name" db:"name"`
	MemberCount int       `json:"member_count" db:"member_count"`
	CreatedAt   time.Time `json:"created_at" db:"created_at"`
}

// NewTeam is what creating a team takes.
type NewTeam struct {
	Name string `json:"name"`
}

// TeamUpdate changes the fields that are set.
type TeamUpdate struct {
	Name *string `json:"name"`
}

// TeamFilter narrows FindTeams: UserID keeps the teams that user is in.
type TeamFilter struct {
	UserID string
	Page   Page
}

const teamColumns = `t.id, t.name, t.created_at,
	(SELECT count(*) FROM team_members tm JOIN users u ON u.id = tm.user_id WHERE tm.team_id = t.id AND u.active) AS member_count`

const (
	sqlSelectTeam          = `SELECT ` + teamColumns + ` FROM teams t WHERE t.tenant_id = $1 AND t.id = $2`
	sqlSelectTeamForUpdate = sqlSelectTeam + ` FOR UPDATE OF t`
	sqlFindTeams           = `SELECT ` + teamColumns + ` FROM teams t
		WHERE t.tenant_id = $1
		  AND (CAST($2 AS uuid) IS NULL OR t.id > CAST($2 AS uuid))
		  AND (CAST($3 AS uuid) IS NULL OR EXISTS (SELECT 1 FROM team_members tm WHERE tm.team_id = t.id AND tm.user_id = CAST($3 AS uuid)))
		ORDER BY t.id
		LIMIT $4`
	sqlInsertTeamAt   = `INSERT INTO teams (tenant_id, name, created_at) VALUES ($1, $2, $3) RETURNING id`
	sqlUpdateTeam     = `UPDATE teams SET name = $3 WHERE tenant_id = $1 AND id = $2`
	sqlDeleteTeam     = `DELETE FROM teams WHERE tenant_id = $1 AND id = $2`
	sqlTeamIDByName   = `SELECT id FROM teams WHERE tenant_id = $1 AND name = $2`
	sqlDeleteTeamUser = `DELETE FROM team_members WHERE tenant_id = $1 AND team_id = $2 AND user_id = $3`
	sqlLockTeamUsers  = `SELECT u.id FROM users u JOIN team_members tm ON tm.user_id = u.id
		WHERE tm.tenant_id = $1 AND tm.team_id = $2 ORDER BY u.id FOR UPDATE OF u`
	// sqlOnlyTeamUsers finds the active members for whom the team is the last one. Deactivated
	// members may lose their last team: they are kept for reports, not for routing.
	sqlOnlyTeamUsers = `SELECT tm.user_id FROM team_members tm JOIN users u ON u.id = tm.user_id
		WHERE tm.tenant_id = $1 AND tm.team_id = $2 AND u.active
		  AND NOT EXISTS (SELECT 1 FROM team_members o WHERE o.user_id = tm.user_id AND o.team_id <> $2)`
	// sqlMovePrimary gives every user whose primary team is leaving another of its teams, the
	// first by name, so the choice is predictable (none for a deactivated user left with no team).
	sqlMovePrimary = `UPDATE users u SET primary_team_id = (
			SELECT o.team_id FROM team_members o JOIN teams t ON t.id = o.team_id
			WHERE o.user_id = u.id AND o.team_id <> $2 ORDER BY t.name, t.id LIMIT 1)
		WHERE u.tenant_id = $1 AND u.primary_team_id = $2 AND u.id = ANY($3)`
)

func getTeam(ctx context.Context, q sqlx.QueryerContext, query, tenantID, teamID string) (Team, error) {
	if !validUUID(teamID) {
		return Team{}, apperr.NotFound("team")
	}
	var t Team
	err := sqlx.GetContext(ctx, q, &t, query, tenantID, strings.ToLower(teamID))
	if err == pg.ErrNoRows {
		return Team{}, apperr.NotFound("team")
	}
	if err != nil {
		return Team{}, fmt.Errorf("get team %s: %w", teamID, err)
	}
	t.CreatedAt = t.CreatedAt.UTC()
	return t, nil
}

// GetTeam returns a team of the tenant.
func (s *Store) GetTeam(ctx context.Context, tenantID, teamID string) (Team, error) {
	return getTeam(ctx, s.db, sqlSelectTeam, tenantID, teamID)
}

// FindTeams lists the tenant's teams matching f, ordered by id, one page (Limit+1 rows).
func (s *Store) FindTeams(ctx context.Context, tenantID string, f TeamFilter) ([]Team, error) {
	if err := f.Page.check(); err != nil {
		return nil, err
	}
	if f.UserID != "" && !validUUID(f.UserID) {
		return nil, apperr.Invalid("user_id", "unknown_user", "user_id is not a user id")
	}
	var teams []Team
	err := s.db.SelectContext(ctx, &teams, sqlFindTeams, tenantID, nullUUID(f.Page.Cursor), nullUUID(f.UserID), f.Page.fetch())
	if err != nil {
		return nil, fmt.Errorf("find teams: %w", err)
	}
	for i := range teams {
		teams[i].CreatedAt = teams[i].CreatedAt.UTC()
	}
	return teams, nil
}

// TeamIDByName finds a team by its exact name; for operators' tools such as the demo seed.
func (s *Store) TeamIDByName(ctx context.Context, tenantID, name string) (string, error) {
	var id string
	err := s.db.GetContext(ctx, &id, sqlTeamIDByName, tenantID, name)
	if err == pg.ErrNoRows {
		return "", apperr.NotFound("team")
	}
	if err != nil {
		return "", fmt.Errorf("find team %q: %w", name, err)
	}
	return id, nil
}

// CreateTeam creates an empty team; admins only.
func (s *Store) CreateTeam(ctx context.Context, by Principal, in NewTeam) (Team, error) {
	if by.Role != RoleAdmin {
		return Team{}, apperr.Forbidden("only admins may create teams")
	}
	name, err := cleanName("name", in.Name)
	if err != nil {
		return Team{}, err
	}
	var out Team
	err = pg.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		var id string
		if err := tx.GetContext(ctx, &id, sqlInsertTeamAt, by.TenantID, name, s.now()); err != nil {
			return teamWriteError(err)
		}
		out, err = getTeam(ctx, tx, sqlSelectTeam, by.TenantID, id)
		return err
	})
	if err != nil {
		return Team{}, fmt.Errorf("create team %q: %w", name, err)
	}
	return out, nil
}

// UpdateTeam renames a team: admins any, supervisors their own.
func (s *Store) UpdateTeam(ctx context.Context, by Principal, teamID string, upd TeamUpdate) (Team, error) {
	var out Team
	err := pg.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		cur, err := getTeam(ctx, tx, sqlSelectTeamForUpdate, by.TenantID, teamID)
		if err != nil {
			return err
		}
		if err := mayManageTeam(ctx, tx, by, cur.ID); err != nil {
			return err
		}
		if upd.Name != nil {
			name, err := cleanName("name", *upd.Name)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, sqlUpdateTeam, by.TenantID, cur.ID, name); err != nil {
				return teamWriteError(err)
			}
		}
		out, err = getTeam(ctx, tx, sqlSelectTeam, by.TenantID, cur.ID)
		return err
	})
	if err != nil {
		return Team{}, fmt.Errorf("update team %s: %w", teamID, err)
	}
	return out, nil
}

// DeleteTeam deletes a team; admins only. It is refused with 409 last_team while it is the only
// team of one of its members; members whose primary team it was get another of their teams.
// The team also leaves every queue it was a member of.
func (s *Store) DeleteTeam(ctx context.Context, by Principal, teamID string) error {
	if by.Role != RoleAdmin {
		return apperr.Forbidden("only admins may delete teams")
	}
	err := pg.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		cur, err := getTeam(ctx, tx, sqlSelectTeamForUpdate, by.TenantID, teamID)
		if err != nil {
			return err
		}
		var members []string
		if err := tx.SelectContext(ctx, &members, sqlLockTeamUsers, by.TenantID, cur.ID); err != nil {
			return fmt.Errorf("lock members: %w", err)
		}
		var stranded []string
		if err := tx.SelectContext(ctx, &stranded, sqlOnlyTeamUsers, by.TenantID, cur.ID); err != nil {
			return fmt.Errorf("find members with no other team: %w", err)
		}
		if len(stranded) > 0 {
			return apperr.Conflict("last_team", fmt.Sprintf("the team is the only team of %d of its members (user %s); give them another team first", len(stranded), stranded[0]))
		}
		if _, err := tx.ExecContext(ctx, sqlMovePrimary, by.TenantID, cur.ID, pq.Array(members)); err != nil {
			return primaryError(err)
		}
		if _, err := tx.ExecContext(ctx, sqlDeleteTeam, by.TenantID, cur.ID); err != nil {
			if pg.Code(err) == pg.CodeForeignKeyViolation {
				return apperr.Conflict("team_in_use", "the team is still referenced; remove what uses it first")
			}
			return fmt.Errorf("delete: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete team %s: %w", teamID, err)
	}
	return nil
}

// AddTeamMember puts a user in a team (nothing changes when it already is) and answers the
// user. Admins may add anyone; supervisors non-admin users to their own teams.
func (s *Store) AddTeamMember(ctx context.Context, by Principal, teamID, userID string) (User, error) {
	var out User
	err := pg.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		team, err := getTeam(ctx, tx, sqlSelectTeam, by.TenantID, teamID)
		if err != nil {
			return err
		}
		u, err := lockUser(ctx, tx, by.TenantID, userID)
		if err != nil {
			return err
		}
		if err := mayManageTeam(ctx, tx, by, team.ID); err != nil {
			return err
		}
		if by.Role != RoleAdmin && u.Role == RoleAdmin {
			return apperr.Forbidden("supervisors may not change admins")
		}
		if !u.Active {
			return errUserInactive()
		}
		if !contains(u.TeamIDs, team.ID) {
			if _, err := tx.ExecContext(ctx, sqlInsertTeamMember, by.TenantID, team.ID, u.ID); err != nil {
				return fmt.Errorf("insert member: %w", err)
			}
		}
		out, err = getUser(ctx, tx, by.TenantID, u.ID)
		return err
	})
	if err != nil {
		return User{}, fmt.Errorf("add user %s to team %s: %w", userID, teamID, err)
	}
	return out, nil
}

// RemoveTeamMember takes a user out of a team. A user's last team cannot be removed (409
// last_team); when it was the primary team, another of the user's teams (the first by name)
// becomes primary. Admins may remove anyone; supervisors non-admin users from their own teams.
func (s *Store) RemoveTeamMember(ctx context.Context, by Principal, teamID, userID string) error {
	err := pg.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		team, err := getTeam(ctx, tx, sqlSelectTeam, by.TenantID, teamID)
		if err != nil {
			return err
		}
		u, err := lockUser(ctx, tx, by.TenantID, userID)
		if err != nil {
			return err
		}
		if err := mayManageTeam(ctx, tx, by, team.ID); err != nil {
			return err
		}
		if by.Role != RoleAdmin && u.Role == RoleAdmin {
			return apperr.Forbidden("supervisors may not change admins")
		}
		if !contains(u.TeamIDs, team.ID) {
			return apperr.NotFound("team member")
		}
		if len(u.TeamIDs) == 1 {
			return apperr.Conflict("last_team", "this is the user's only team; a user belongs to at least one team")
		}
		if _, err := tx.ExecContext(ctx, sqlMovePrimary, by.TenantID, team.ID, pq.Array([]string{u.ID})); err != nil {
			return primaryError(err)
		}
		if _, err := tx.ExecContext(ctx, sqlDeleteTeamUser, by.TenantID, team.ID, u.ID); err != nil {
			return fmt.Errorf("delete member: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove user %s from team %s: %w", userID, teamID, err)
	}
	return nil
}

// mayManageTeam allows admins any team and supervisors the teams they are in.
func mayManageTeam(ctx context.Context, tx *sqlx.Tx, by Principal, teamID string) error {
	a, err := loadActor(ctx, tx, by)
	if err != nil {
		return err
	}
	if err := a.requireManager(); err != nil {
		return err
	}
	if !a.inAll([]string{teamID}) {
		return apperr.Forbidden("supervisors manage only their own teams")
	}
	return nil
}

// primaryError reports the database refusing an active user with no team left as last_team.
func primaryError(err error) error {
	if pg.IsViolation(err, "users_primary_team_check") {
		return apperr.Conflict("last_team", "a user belongs to at least one team")
	}
	return fmt.Errorf("move primary teams: %w", err)
}

func teamWriteError(err error) error {
	if pg.IsViolation(err, "teams_name_key") {
		e := apperr.Conflict("team_name_exists", "the tenant already has a team with this name")
		e.Field = "name"
		return e
	}
	if pg.IsViolation(err, "teams_name_check") {
		return apperr.Invalid("name", "invalid_name", "name must be 1 to 200 characters")
	}
	return fmt.Errorf("write team: %w", err)
}
