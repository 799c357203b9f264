package directory_test

import (
	"context"
	"testing"

	"github.com/jmoiron/sqlx"

	"directsms/directory"
	"directsms/sql/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// fixture is one test's store and tenant, acting as the tenant's first admin.
type fixture struct {
	t     *testing.T
	ctx   context.Context
	db    *sqlx.DB
	store *directory.Store
	admin directory.Principal
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db := pgtest.NewDB(t)
	store := directory.NewStore(db, nil)
	ctx := context.Background()
	c, err := store.CreateTenant(ctx, directory.NewTenant{Name: "Acme", AdminEmail: "admin@acme.example"})
	if err != nil {
		t.Fatalf("create tenant: %v", err)
	}
	return &fixture{t: t, ctx: ctx, db: db, store: store, admin: directory.Principal{TenantID: c.TenantID, UserID: c.AdminUserID, Role: directory.RoleAdmin}}
}

func (f *fixture) team(name string) string {
	f.t.Helper()
	team, err := f.store.CreateTeam(f.ctx, f.admin, directory.NewTeam{Name: name})
	if err != nil {
		f.t.Fatalf("create team %s: %v", name, err)
	}
	return team.ID
}

func (f *fixture) user(name string, status directory.Status, teams ...string) string {
	f.t.Helper()
	u, err := f.store.CreateUser(f.ctx, f.admin, directory.NewUser{Name: name, Email: name + "@acme.example", TeamIDs: teams, Status: status})
	if err != nil {
		f.t.Fatalf("create user %s: %v", name, err)
	}
	return u.ID
}

func (f *fixture) queue(name string, m directory.QueueMembers) string {
	f.t.Helper()
	q, err := f.store.CreateQueue(f.ctx, f.admin, directory.NewQueue{Name: name, Kind: directory.QueueSMS, UserIDs: m.UserIDs, TeamIDs: m.TeamIDs})
	if err != nil {
		f.t.Fatalf("create queue %s: %v", name, err)
	}
	return q.ID
}

func (f *fixture) setChannel(userID string, ch directory.Channel, upd directory.ChannelUpdate) directory.UserChannel {
	f.t.Helper()
	c, err := f.store.UpdateUserChannel(f.ctx, f.admin, userID, ch, upd)
	if err != nil {
		f.t.Fatalf("update channel %s of %s: %v", ch, userID, err)
	}
	return c
}

func ptr[T any](v T) *T { return &v }
