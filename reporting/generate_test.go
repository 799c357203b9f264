package reporting_test

import (
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
)

// sqlGenerateSessions writes $2 closed sessions for tenant $1 in one statement, one every $7
// seconds from $6, of every type in turn, with the message counters the trigger on messages
// would have left (two texts in, one agent text out answered after 95 to 154 s). Reports and
// exports read sessions alone, so writing the messages themselves would add nothing to what is
// measured but minutes of setup; the trigger has its own test.
const sqlGenerateSessions = `INSERT INTO sessions (tenant_id, contact_id, number, type, status, assignee_id, team_id, deflected,
		missed_count, rerouted_count, last_message_at, created_at, assigned_at, closed_at,
		messages_in, messages_out, first_message_in_at, first_agent_text_at)
	SELECT $1, $3, '+14155550100',
	       (ARRAY['Messaging Inbound (SMS Direct)', 'Messaging Outbound (SMS Direct)', 'Messaging Inbound', 'Messaging Outbound'])[1 + i % 4],
	       'closed', $4, $5, i % 7 = 0, i % 3, i % 5 % 2, ts + interval '4 minutes', ts, ts + interval '10 seconds', ts + interval '20 minutes',
	       2, 1, ts, ts + make_interval(secs => 95 + i % 60)
	FROM generate_series(1, $2) AS i,
	     LATERAL (SELECT CAST($6 AS timestamptz) + make_interval(secs => i * CAST($7 AS double precision)) AS ts) t`

// generateSessions fills h with n sessions from start, one every every, assigned to a new agent
// of a new team and opened by one contact; then it refreshes the planner's statistics.
func generateSessions(t testing.TB, db *sqlx.DB, h *tenantHistory, n int, every time.Duration, start time.Time) {
	t.Helper()
	team := addTeam(t, db, h, "Bulk")
	agent := addUser(t, db, h, "Bulk Agent", "agent", team)
	contact := insertID(t, db, `INSERT INTO contacts (tenant_id, address, kind, created_at) VALUES ($1, '+16175550111', 'number', now()) RETURNING id`, h.ID)
	exec(t, db, sqlGenerateSessions, h.ID, n, contact, agent.ID, team, start, every.Seconds())
	exec(t, db, `VACUUM ANALYZE sessions`)
}
