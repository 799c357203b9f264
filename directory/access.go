package directory

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"

	"directsms/internal/apperr"
)

const sqlSelectUserTeams = `SELECT team_id FROM team_members WHERE tenant_id = $1 AND user_id = $2`

// actor is the caller of a directory change and the teams its role lets it manage, loaded
// inside the change's transaction.
type actor struct {
	Principal
	teams map[string]bool
}

func loadActor(ctx context.Context, q sqlx.QueryerContext, p Principal) (actor, error) {
	a := actor{Principal: p, teams: map[string]bool{}}
	if p.Role != RoleSupervisor {
		return a, nil
	}
	var ids []string
	if err := sqlx.SelectContext(ctx, q, &ids, sqlSelectUserTeams, p.TenantID, p.UserID); err != nil {
		return actor{}, fmt.Errorf("find teams of %s: %w", p.UserID, err)
	}
	for _, id := range ids {
		a.teams[id] = true
	}
	return a, nil
}

func (a actor) admin() bool { return a.Role == RoleAdmin }

// requireAdmin refuses everyone but admins.
func (a actor) requireAdmin() error {
	if a.admin() {
		return nil
	}
	return apperr.Forbidden("only admins may do this")
}

// requireManager refuses agents, who change nothing in the directory but their own status.
func (a actor) requireManager() error {
	if a.Role == RoleAdmin || a.Role == RoleSupervisor {
		return nil
	}
	return apperr.Forbidden("agents may not change the directory")
}

// inAny reports whether one of ids is a team the actor manages; admins manage every team.
func (a actor) inAny(ids []string) bool {
	if a.admin() {
		return true
	}
	for _, id := range ids {
		if a.teams[id] {
			return true
		}
	}
	return false
}

// inAll reports whether every one of ids is a team the actor manages.
func (a actor) inAll(ids []string) bool {
	if a.admin() {
		return true
	}
	for _, id := range ids {
		if !a.teams[id] {
			return false
		}
	}
	return true
}

// mayManageUser says whether the actor may change a user with this role and these teams:
// admins anyone, supervisors the non-admin users who share one of their teams.
func (a actor) mayManageUser(role Role, teamIDs []string) error {
	switch a.Role {
	case RoleAdmin:
		return nil
	case RoleSupervisor:
		if role == RoleAdmin {
			return apperr.Forbidden("supervisors may not change admins")
		}
		if a.inAny(teamIDs) {
			return nil
		}
		return apperr.Forbidden("supervisors manage only the users of their own teams")
	}
	return apperr.Forbidden("agents may not change users")
}

// mayGrantRole refuses a supervisor making anyone an admin.
func (a actor) mayGrantRole(role Role) error {
	if role == RoleAdmin && !a.admin() {
		return apperr.Forbidden("only admins may make a user an admin")
	}
	return nil
}

// mayChangeTeams says whether the actor may add or remove these teams: supervisors only their
// own, so they cannot move people into or out of teams they do not run.
func (a actor) mayChangeTeams(ids []string) error {
	if a.inAll(ids) {
		return nil
	}
	return apperr.Forbidden("supervisors may add or remove only their own teams")
}

// diff returns what is in a and not in b.
func diff(a, b []string) []string {
	in := make(map[string]bool, len(b))
	for _, id := range b {
		in[id] = true
	}
	var out []string
	for _, id := range a {
		if !in[id] {
			out = append(out, id)
		}
	}
	return out
}
