package directory_test

import (
	"fmt"
	"testing"

	"github.com/jmoiron/sqlx"

	"directsms/directory"
	"directsms/internal/apperr"
	"directsms/sql/pg"
)

func TestQueueTree_ParentRules(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	root := f.queue("Root", directory.QueueMembers{})
	child, err := f.store.CreateQueue(f.ctx, f.admin, directory.NewQueue{Name: "Child", Kind: directory.QueueSMS, ParentID: root})
	if err != nil {
		t.Fatalf("create child: %v", err)
	}
	grandchild, err := f.store.CreateQueue(f.ctx, f.admin, directory.NewQueue{Name: "Grandchild", Kind: directory.QueueSMS, ParentID: child.ID})
	if err != nil {
		t.Fatalf("create grandchild: %v", err)
	}
	ivr, err := f.store.CreateQueue(f.ctx, f.admin, directory.NewQueue{Name: "Phones", Kind: directory.QueueIVR})
	if err != nil {
		t.Fatalf("create ivr: %v", err)
	}
	agent := f.user("ann", directory.StatusOffline, f.team("Support"))
	var personal string
	err = pg.InTx(f.ctx, f.db, func(tx *sqlx.Tx) error {
		personal, err = directory.EnsurePersonalQueue(f.ctx, tx, f.admin.TenantID, agent)
		return err
	})
	if err != nil {
		t.Fatalf("personal queue: %v", err)
	}
	other := newFixture(t)
	foreign := other.queue("Foreign", directory.QueueMembers{})

	cases := []struct {
		name, queue, parent, code string
	}{
		{"itself", root, root, "queue_cycle"},
		{"its grandchild", root, grandchild.ID, "queue_cycle"},
		{"a queue of another kind", child.ID, ivr.ID, "invalid_parent"},
		{"a personal queue", child.ID, personal, "invalid_parent"},
		{"another tenant's queue", child.ID, foreign, "unknown_queue"},
		{"not an id", child.ID, "root", "unknown_queue"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.store.UpdateQueue(f.ctx, f.admin, tc.queue, directory.QueueUpdate{ParentID: directory.NullableOf(tc.parent)})
			e, ok := apperr.As(err)
			if !ok || e.Code != tc.code || e.Field != "parent_id" {
				t.Fatalf("got %v, want %s on parent_id", err, tc.code)
			}
		})
	}

	moved, err := f.store.UpdateQueue(f.ctx, f.admin, grandchild.ID, directory.QueueUpdate{ParentID: directory.NullValue[string]()})
	if err != nil || moved.ParentID != nil {
		t.Fatalf("got %+v, %v; want grandchild made a root", moved.ParentID, err)
	}
	if _, err := f.store.UpdateQueue(f.ctx, f.admin, root, directory.QueueUpdate{ParentID: directory.NullableOf(grandchild.ID)}); err != nil {
		t.Fatalf("root under the former grandchild (no longer a descendant): %v", err)
	}
}

func TestIsLeafQueue_AndLockQueue(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	parent := f.queue("Parent", directory.QueueMembers{})
	leaf, err := f.store.IsLeafQueue(f.ctx, f.admin.TenantID, parent)
	if err != nil || !leaf {
		t.Fatalf("got leaf=%v, %v; want a childless queue to be a leaf", leaf, err)
	}
	if _, err := f.store.CreateQueue(f.ctx, f.admin, directory.NewQueue{Name: "Child", Kind: directory.QueueSMS, ParentID: parent}); err != nil {
		t.Fatalf("create child: %v", err)
	}
	leaf, err = f.store.IsLeafQueue(f.ctx, f.admin.TenantID, parent)
	if err != nil || leaf {
		t.Fatalf("got leaf=%v, %v; want a parent not to be a leaf", leaf, err)
	}
	err = pg.InTx(f.ctx, f.db, func(tx *sqlx.Tx) error {
		q, err := directory.LockQueue(f.ctx, tx, f.admin.TenantID, parent)
		if err != nil {
			return err
		}
		if q.Leaf {
			t.Errorf("got a locked parent reported as a leaf")
		}
		_, err = directory.LockQueue(f.ctx, tx, f.admin.TenantID, "6f1b6a62-3b8e-4b43-9d57-6a1c4bd5d9a1")
		if !apperr.IsNotFound(err) {
			t.Errorf("got %v locking an unknown queue, want not found", err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("lock: %v", err)
	}
	if err := f.store.DeleteQueue(f.ctx, f.admin, parent); !apperr.HasCode(err, "queue_has_children") {
		t.Fatalf("got %v deleting a parent, want queue_has_children", err)
	}
}

func TestPersonalQueue_ReadOnlyThroughTheStore(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	team := f.team("Support")
	agent := f.user("ann", directory.StatusOffline, team)
	var first, second string
	err := pg.InTx(f.ctx, f.db, func(tx *sqlx.Tx) error {
		var err error
		if first, err = directory.EnsurePersonalQueue(f.ctx, tx, f.admin.TenantID, agent); err != nil {
			return err
		}
		second, err = directory.EnsurePersonalQueue(f.ctx, tx, f.admin.TenantID, agent)
		return err
	})
	if err != nil || first != second {
		t.Fatalf("got %s and %s, %v; want the same queue twice", first, second, err)
	}
	u, err := f.store.GetUser(f.ctx, f.admin.TenantID, agent)
	if err != nil || u.PersonalQueueID == nil || *u.PersonalQueueID != first {
		t.Fatalf("got personal queue %v, %v; want %s on the user", u.PersonalQueueID, err, first)
	}
	if _, err := f.store.SetQueueMembers(f.ctx, f.admin, first, directory.QueueMembers{TeamIDs: []string{team}}); !apperr.HasCode(err, "personal_queue") {
		t.Fatalf("got %v setting members, want personal_queue", err)
	}
	if err := f.store.DeleteQueue(f.ctx, f.admin, first); !apperr.HasCode(err, "personal_queue") {
		t.Fatalf("got %v deleting, want personal_queue", err)
	}
	q, err := f.store.GetQueue(f.ctx, f.admin.TenantID, first)
	if err != nil || !q.Personal || len(q.UserIDs) != 1 || q.UserIDs[0] != agent {
		t.Fatalf("got %+v, %v; want a personal queue with the agent as its one member", q, err)
	}
}

func TestRemoveTeamMember_ConcurrentRemovalsKeepOneTeam(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	teams := []string{f.team("A"), f.team("B")}
	for round := range 5 {
		u := f.user(fmt.Sprintf("u%d", round), directory.StatusOffline, teams...)
		errs := make(chan error, len(teams))
		for _, team := range teams {
			go func() { errs <- f.store.RemoveTeamMember(f.ctx, f.admin, team, u) }()
		}
		var removed, refused int
		for range teams {
			switch err := <-errs; {
			case err == nil:
				removed++
			case apperr.HasCode(err, "last_team"):
				refused++
			default:
				t.Fatalf("round %d: got %v, want nil or last_team", round, err)
			}
		}
		got, err := f.store.GetUser(f.ctx, f.admin.TenantID, u)
		if err != nil || removed != 1 || refused != 1 || len(got.TeamIDs) != 1 || got.PrimaryTeamID != got.TeamIDs[0] {
			t.Fatalf("round %d: got %d removed, %d refused, user %+v, %v; want one of each and one team left as primary", round, removed, refused, got, err)
		}
	}
}

func TestDemotion_ConcurrentAdminsKeepOneAdmin(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	team := f.team("Ops")
	second, err := f.store.CreateUser(f.ctx, f.admin, directory.NewUser{Name: "Second", Email: "second@acme.example", Role: directory.RoleAdmin, TeamIDs: []string{team}})
	if err != nil {
		t.Fatalf("create admin: %v", err)
	}
	secondP := directory.Principal{TenantID: f.admin.TenantID, UserID: second.ID, Role: directory.RoleAdmin}
	errs := make(chan error, 2)
	go func() {
		_, err := f.store.UpdateUser(f.ctx, f.admin, second.ID, directory.UserUpdate{Role: ptr(directory.RoleAgent)})
		errs <- err
	}()
	go func() { errs <- f.store.DeactivateUser(f.ctx, secondP, f.admin.UserID) }()
	var refused int
	for range 2 {
		if err := <-errs; apperr.HasCode(err, "last_admin") {
			refused++
		} else if err != nil {
			t.Fatalf("got %v, want nil or last_admin", err)
		}
	}
	admins, err := f.store.FindUsers(f.ctx, f.admin.TenantID, directory.UserFilter{Role: directory.RoleAdmin, Page: directory.Page{Limit: 10}})
	if err != nil || len(admins) != 1 || refused != 1 {
		t.Fatalf("got %d active admins (%v), %d refused; want exactly one admin left", len(admins), err, refused)
	}
}

func TestSchema_ActiveUserKeepsATeam(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u := f.user("ann", directory.StatusOffline, f.team("A"))
	_, err := f.db.Exec(`UPDATE users SET primary_team_id = NULL WHERE id = $1`, u)
	if !pg.IsViolation(err, "users_primary_team_check") {
		t.Fatalf("got %v clearing an active user's primary team, want users_primary_team_check", err)
	}
	err = pg.InTx(f.ctx, f.db, func(tx *sqlx.Tx) error {
		_, err := tx.Exec(`DELETE FROM team_members WHERE user_id = $1`, u)
		return err
	})
	if !pg.IsViolation(err, "users_primary_team_fkey") {
		t.Fatalf("got %v deleting an active user's memberships, want users_primary_team_fkey at commit", err)
	}
}
