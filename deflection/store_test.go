package deflection_test

import (
	"context"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"directsms/deflection"
	"directsms/directory"
	"directsms/sql/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func mustExec(t *testing.T, db *sqlx.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func mustTime(t *testing.T, v string) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339, v)
	if err != nil {
		t.Fatalf("parse %q: %v", v, err)
	}
	return at
}

// directSession is a tenant with one agent in one team and one open direct session to the
// agent, the way routing leaves them.
type directSession struct {
	db        *sqlx.DB
	store     *deflection.Store
	admin     directory.Principal
	agentID   string
	teamID    string
	sessionID string
}

func newDirectSession(t *testing.T) directSession {
	t.Helper()
	ctx := context.Background()
	db := pgtest.NewDB(t)
	created, err := directory.NewStore(db, nil).CreateTenant(ctx, directory.NewTenant{Name: "Acme", AdminEmail: "admin@acme.example"})
	if err != nil {
		t.Fatalf("create tenant: %v", err)
	}
	s := directSession{
		db:    db,
		store: deflection.NewStore(db, nil, nil),
		admin: directory.Principal{TenantID: created.TenantID, UserID: created.AdminUserID, Role: directory.RoleAdmin},
	}
	tenant := created.TenantID
	if err := db.Get(&s.teamID, `INSERT INTO teams (tenant_id, name) VALUES ($1, 'Night') RETURNING id`, tenant); err != nil {
		t.Fatalf("insert team: %v", err)
	}
	if err := db.Get(&s.agentID, `WITH u AS (INSERT INTO users (tenant_id, name, email, role, primary_team_id)
			VALUES ($1, 'Ann', 'ann@acme.example', 'agent', $2) RETURNING id, tenant_id),
		m AS (INSERT INTO team_members (tenant_id, team_id, user_id) SELECT tenant_id, $2, id FROM u)
		SELECT id FROM u`, tenant, s.teamID); err != nil {
		t.Fatalf("insert agent: %v", err)
	}
	var contactID string
	if err := db.Get(&contactID, `INSERT INTO contacts (tenant_id, address, kind, created_at) VALUES ($1, '+14155550199', 'number', now()) RETURNING id`, tenant); err != nil {
		t.Fatalf("insert contact: %v", err)
	}
	if err := db.Get(&s.sessionID, `INSERT INTO sessions (tenant_id, contact_id, number, type, owner_user_id, last_message_at, created_at)
		VALUES ($1, $2, '+14155550100', 'Messaging Inbound (SMS Direct)', $3, now(), now()) RETURNING id`, tenant, contactID, s.agentID); err != nil {
		t.Fatalf("insert session: %v", err)
	}
	return s
}

// inbound does what routing does with a text arriving at now: decide with the session's
// deflection state and, when deflecting, queue the message and record the period. It reports
// whether it deflected.
func (s directSession) inbound(t *testing.T, now time.Time) bool {
	t.Helper()
	ctx := context.Background()
	eff, err := s.store.Effective(ctx, s.admin.TenantID, deflection.Target{UserID: s.agentID})
	if err != nil {
		t.Fatalf("effective: %v", err)
	}
	var state struct {
		Period    *time.Time `db:"deflected_period"`
		LastReply *time.Time `db:"last_agent_reply_at"`
	}
	if err := s.db.Get(&state, `SELECT deflected_period, last_agent_reply_at FROM sessions WHERE id = $1`, s.sessionID); err != nil {
		t.Fatalf("read session: %v", err)
	}
	d := deflection.Decide(eff, now, state.Period, state.LastReply)
	if !d.Deflect {
		return false
	}
	mustExec(t, s.db, `UPDATE sessions SET deflected = true, deflected_at = $2, deflected_period = $3 WHERE id = $1`, s.sessionID, now, d.Period)
	mustExec(t, s.db, `INSERT INTO messages (tenant_id, session_id, direction, kind, from_address, to_address, body, status, created_at, status_changed_at)
		VALUES ($1, $2, 'out', 'deflection', '+14155550100', '+14155550199', $3, 'queued', $4, $4)`, s.admin.TenantID, s.sessionID, d.Message, now)
	return true
}

func TestEffectiveDecide_OneDeflectionPerSessionAndClosedPeriod(t *testing.T) {
	t.Parallel()
	s := newDirectSession(t)
	ctx := context.Background()
	hours := deflection.Schedule{Timezone: "America/New_York", Weekly: map[string][]deflection.Interval{
		"mon": {{Start: "09:00", End: "17:00"}}, "tue": {{Start: "09:00", End: "17:00"}},
	}}
	_, err := s.store.Put(ctx, s.admin, deflection.Scope{Level: deflection.SourceTeam, ID: s.teamID},
		deflection.Settings{Enabled: true, Hours: hours, Message: "We open {next_open}."})
	if err != nil {
		t.Fatalf("put team deflection: %v", err)
	}

	// Five texts from Monday 17:00 to Tuesday 09:00 EST: one closed period, one deflection.
	for i, at := range []string{"2026-03-02T17:00:00-05:00", "2026-03-02T17:01:00-05:00", "2026-03-02T20:00:00-05:00",
		"2026-03-03T00:30:00-05:00", "2026-03-03T08:59:59-05:00"} {
		if got, want := s.inbound(t, mustTime(t, at)), i == 0; got != want {
			t.Errorf("text %d at %s deflected: got %v, want %v", i+1, at, got, want)
		}
	}
	// Open on Tuesday: nothing.
	if s.inbound(t, mustTime(t, "2026-03-03T12:00:00-05:00")) {
		t.Errorf("text during open hours deflected: got true, want false")
	}
	// Tuesday evening, the next closed period, just after an agent replied: nothing.
	mustExec(t, s.db, `UPDATE sessions SET last_agent_reply_at = $2 WHERE id = $1`, s.sessionID, mustTime(t, "2026-03-03T17:02:00-05:00"))
	if s.inbound(t, mustTime(t, "2026-03-03T17:05:00-05:00")) {
		t.Errorf("text 3 minutes after an agent's reply deflected: got true, want false")
	}
	// Later in that closed period: the second deflection of the session.
	if !s.inbound(t, mustTime(t, "2026-03-03T17:30:00-05:00")) {
		t.Errorf("first text of the next closed period deflected: got false, want true")
	}

	var bodies []string
	if err := s.db.Select(&bodies, `SELECT body FROM messages WHERE session_id = $1 AND kind = 'deflection' ORDER BY created_at`, s.sessionID); err != nil {
		t.Fatalf("read deflections: %v", err)
	}
	want := []string{"We open Tue 09:00 EST.", "We open Mon 09:00 EDT."}
	if len(bodies) != len(want) || bodies[0] != want[0] || bodies[1] != want[1] {
		t.Errorf("deflection messages: got %q, want %q", bodies, want)
	}
}

func TestEffective_UnknownTenantIsNotFound(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	_, err := deflection.NewStore(db, nil, nil).Effective(context.Background(), "3f1b6a62-3b8e-4b43-9d57-6a1c4bd5d9a1", deflection.Target{UserID: "4f1b6a62-3b8e-4b43-9d57-6a1c4bd5d9a1"})
	if err == nil {
		t.Fatalf("effective of an unknown tenant: got nil error, want not found")
	}
}
