package deflection

import (
	"context"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"

	"directsms/directory"
	"directsms/internal/apperr"
	"directsms/sql/pg"
)

const (
	// sqlSelectTeamAccess finds a team and whether the caller ($3) is one of its members.
	sqlSelectTeamAccess = `SELECT EXISTS (SELECT 1 FROM team_members m WHERE m.team_id = t.id AND m.user_id = $3)
		FROM teams t WHERE t.tenant_id = $1 AND t.id = $2`
	// sqlSelectUserAccess finds a user, its role and permission, and whether it shares a team
	// with the caller ($3).
	sqlSelectUserAccess = `SELECT u.role, u.can_configure_deflection,
			EXISTS (SELECT 1 FROM team_members a JOIN team_members b ON b.team_id = a.team_id
				WHERE a.user_id = u.id AND b.user_id = $3) AS shares_team
		FROM users u WHERE u.tenant_id = $1 AND u.id = $2`
	// sqlSelectQueueAccess finds a queue, what it is, and whether one of its member teams is a
	// team of the caller ($3).
	sqlSelectQueueAccess = `SELECT q.kind, q.personal_user_id IS NOT NULL AS personal,
			EXISTS (SELECT 1 FROM queue_members m JOIN team_members tm ON tm.team_id = m.team_id
				WHERE m.queue_id = q.id AND tm.user_id = $3) AS has_team
		FROM queues q WHERE q.tenant_id = $1 AND q.id = $2`
)

// Conflict codes of writes to a queue level.
const (
	// CodeNotSMSQueue: only SMS queues own numbers that texts arrive on.
	CodeNotSMSQueue = "not_sms_queue"
	// CodePersonalQueue: a personal queue's texts follow its agent's settings.
	CodePersonalQueue = "personal_queue"
)

// authorize checks that the level exists in by's tenant (404 otherwise, as for any other
// tenant's id) and that by may read it, or change it when write is set (403 otherwise):
//
//   - global: everyone reads; admins change.
//   - team: admins; supervisors the teams they are a member of.
//   - user: admins; supervisors the non-admin users who share one of their teams, and
//     themselves; an agent reads its own and changes it only with can_configure_deflection.
//   - queue: admins; supervisors the queues one of their teams is a member of. Only a shared
//     SMS queue's level can be set: an IVR queue takes no texts (409 not_sms_queue) and a
//     personal queue's texts follow its agent's level (409 personal_queue).
func authorize(ctx context.Context, q sqlx.QueryerContext, by directory.Principal, sc Scope, write bool) error {
	admin := by.Role == directory.RoleAdmin
	supervisor := by.Role == directory.RoleSupervisor
	switch sc.Level {
	case SourceGlobal:
		if write && !admin {
			return apperr.Forbidden("only admins may change global deflection")
		}
		return nil

	case SourceTeam:
		var member bool
		if err := get(ctx, q, &member, sqlSelectTeamAccess, "team", by.TenantID, sc.ID, by.UserID); err != nil {
			return err
		}
		if admin || (supervisor && member) {
			return nil
		}
		return apperr.Forbidden("only admins and the team's supervisors may see or change its deflection")

	case SourceUser:
		var u struct {
			Role       directory.Role `db:"role"`
			CanConfig  bool           `db:"can_configure_deflection"`
			SharesTeam bool           `db:"shares_team"`
		}
		if err := get(ctx, q, &u, sqlSelectUserAccess, "user", by.TenantID, sc.ID, by.UserID); err != nil {
			return err
		}
		self := sc.ID == by.UserID
		switch {
		case admin:
			return nil
		case supervisor && (self || (u.SharesTeam && u.Role != directory.RoleAdmin)):
			return nil
		case self && (!write || u.CanConfig):
			return nil
		case self:
			return apperr.Forbidden("an admin has not allowed you to configure your own deflection")
		}
		return apperr.Forbidden("you may not see or change this user's deflection")

	case SourceQueue:
		var qu struct {
			Kind     string `db:"kind"`
			Personal bool   `db:"personal"`
			HasTeam  bool   `db:"has_team"`
		}
		if err := get(ctx, q, &qu, sqlSelectQueueAccess, "queue", by.TenantID, sc.ID, by.UserID); err != nil {
			return err
		}
		if !admin && !(supervisor && qu.HasTeam) {
			return apperr.Forbidden("only admins and supervisors of the queue's teams may see or change its deflection")
		}
		switch {
		case write && qu.Kind != "sms":
			return apperr.Conflict(CodeNotSMSQueue, "only SMS queues take texts: an IVR queue has no deflection")
		case write && qu.Personal:
			return apperr.Conflict(CodePersonalQueue, "a personal queue's texts follow its agent's deflection: set the user's instead")
		}
		return nil
	}
	return apperr.NotFound("deflection level")
}

// get reads one row of an access query, a missing row being the level's 404.
func get(ctx context.Context, q sqlx.QueryerContext, dest any, query, what string, args ...any) error {
	err := sqlx.GetContext(ctx, q, dest, query, args...)
	if errors.Is(err, pg.ErrNoRows) {
		return apperr.NotFound(what)
	}
	if err != nil {
		return fmt.Errorf("find %s: %w", what, err)
	}
	return nil
}
