package directory_test

import (
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"directsms/directory"
	"directsms/internal/apperr"
	"directsms/sql/pg"
)

func TestSetStatus_RecordsTimelineOnlyForChanges(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u := f.user("ann", directory.StatusAvailable, f.team("Support"))
	steps := []struct {
		name    string
		status  directory.Status
		reason  string
		by      string
		changed bool
	}{
		{"threshold sets missed_chat", directory.StatusMissedChat, "missed_chat_threshold", "", true},
		{"setting it again changes nothing", directory.StatusMissedChat, "missed_chat_threshold", "", false},
		{"admin sets available", directory.StatusAvailable, "manual", f.admin.UserID, true},
	}
	for _, st := range steps {
		changed, err := f.store.SetStatus(f.ctx, f.admin.TenantID, u, st.status, st.reason, st.by)
		if err != nil || changed != st.changed {
			t.Fatalf("%s: got changed=%v, %v; want %v", st.name, changed, err, st.changed)
		}
	}
	var timeline []struct {
		Status string  `db:"status"`
		Reason string  `db:"reason"`
		By     *string `db:"changed_by"`
	}
	db := f.db
	if err := db.Select(&timeline, `SELECT status, reason, CAST(changed_by AS text) AS changed_by FROM user_status_changes WHERE user_id = $1 ORDER BY id`, u); err != nil {
		t.Fatalf("read timeline: %v", err)
	}
	want := []string{"available/created", "missed_chat/missed_chat_threshold", "available/manual"}
	if len(timeline) != len(want) {
		t.Fatalf("got timeline %+v, want %v", timeline, want)
	}
	for i, row := range timeline {
		if got := row.Status + "/" + row.Reason; got != want[i] {
			t.Fatalf("got row %d %s, want %s", i, got, want[i])
		}
	}
	if timeline[1].By != nil || timeline[2].By == nil || *timeline[2].By != f.admin.UserID {
		t.Fatalf("got changed_by %v and %v, want the system (null) then the admin", timeline[1].By, timeline[2].By)
	}
	if _, err := f.store.SetStatus(f.ctx, f.admin.TenantID, "6f1b6a62-3b8e-4b43-9d57-6a1c4bd5d9a1", directory.StatusAway, "x", ""); !apperr.IsNotFound(err) {
		t.Fatalf("got %v for an unknown user, want not found", err)
	}
}

func TestSetStatusTx_AvailableClearsStreaksInCallersTransaction(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u := f.user("ann", directory.StatusAvailable, f.team("Support"))
	db := f.db
	if _, err := db.Exec(`UPDATE users SET missed_count = 2, unresponsive_count = 1, status = 'missed_chat' WHERE id = $1`, u); err != nil {
		t.Fatalf("seed counts: %v", err)
	}
	at := time.Date(2026, 3, 8, 7, 30, 0, 0, time.UTC)
	err := pg.InTx(f.ctx, db, func(tx *sqlx.Tx) error {
		_, err := directory.SetStatusTx(f.ctx, tx, f.admin.TenantID, u, directory.StatusAvailable, "cooldown", "", at)
		return err
	})
	if err != nil {
		t.Fatalf("set status: %v", err)
	}
	var row struct {
		Missed       int       `db:"missed_count"`
		Unresponsive int       `db:"unresponsive_count"`
		ChangedAt    time.Time `db:"status_changed_at"`
	}
	if err := db.Get(&row, `SELECT missed_count, unresponsive_count, status_changed_at FROM users WHERE id = $1`, u); err != nil {
		t.Fatalf("read user: %v", err)
	}
	if row.Missed != 0 || row.Unresponsive != 0 || !row.ChangedAt.Equal(at) {
		t.Fatalf("got %+v, want counts 0 and changed at %s", row, at)
	}
}

func TestChangeStatus_OnlyHandSettableStatuses(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u := f.user("ann", directory.StatusOffline, f.team("Support"))
	self := directory.Principal{TenantID: f.admin.TenantID, UserID: u, Role: directory.RoleAgent}
	for _, st := range []directory.Status{directory.StatusMissedChat, directory.StatusUnresponsive, "busy", ""} {
		if _, err := f.store.ChangeStatus(f.ctx, self, u, st, ""); !apperr.HasCode(err, "invalid_status") {
			t.Fatalf("status %q: got %v, want invalid_status", st, err)
		}
	}
	got, err := f.store.ChangeStatus(f.ctx, self, u, directory.StatusAvailable, "")
	if err != nil || got.Status != directory.StatusAvailable {
		t.Fatalf("got %+v, %v; want available", got.Status, err)
	}
}
