package reporting_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"directsms/reporting"
	"directsms/sql/pgtest"
)

// sqlGenerateYear writes a year of sessions for tenant $1 in one statement: $2 sessions, one
// every 31.5 s from 2026-01-01, of every type, with the message counters the trigger on messages
// would have left (two in, one agent text out, answered after 95 s). Reports read sessions
// alone, so the messages themselves would add nothing to the timing but minutes of setup.
const sqlGenerateYear = `INSERT INTO sessions (tenant_id, contact_id, number, type, status, assignee_id, team_id, deflected,
		missed_count, rerouted_count, last_message_at, created_at, assigned_at, closed_at,
		messages_in, messages_out, first_message_in_at, first_agent_text_at)
	SELECT $1, $3, '+14155550100',
	       (ARRAY['Messaging Inbound (SMS Direct)', 'Messaging Outbound (SMS Direct)', 'Messaging Inbound', 'Messaging Outbound'])[1 + i % 4],
	       'closed', $4, $5, i % 7 = 0, i % 3, i % 5 % 2, ts + interval '4 minutes', ts, ts + interval '10 seconds', ts + interval '20 minutes',
	       2, 1, ts, ts + make_interval(secs => 95 + i % 60)
	FROM generate_series(1, $2) AS i,
	     LATERAL (SELECT timestamptz '2026-01-01 05:00:00Z' + make_interval(secs => i * 31.536) AS ts) t`

// BenchmarkReportMonthByDayAndType times a month of a tenant with a year of sessions (a million,
// one every 31.5 s) grouped by day and type; the budget is 500 ms. It logs the query plan once.
func BenchmarkReportMonthByDayAndType(b *testing.B) {
	db := pgtest.NewDB(b)
	store := reporting.NewStore(db, nil)
	h := newTenant(b, db, "Big", "America/New_York")
	team := addTeam(b, db, h, "Bulk")
	agent := addUser(b, db, h, "Bulk Agent", "agent", team)
	contact := insertID(b, db, `INSERT INTO contacts (tenant_id, address, kind, created_at) VALUES ($1, '+16175550111', 'number', now()) RETURNING id`, h.ID)
	began := time.Now()
	exec(b, db, sqlGenerateYear, h.ID, 1_000_000, contact, agent.ID, team)
	exec(b, db, `VACUUM ANALYZE sessions`)
	b.Logf("generated 1,000,000 sessions in %s", time.Since(began).Round(time.Second))

	q := reporting.ReportQuery{From: "2026-06-01", To: "2026-07-01", GroupBy: []string{"day,type"}}
	rng, err := reporting.ParseRange(q.From, q.To, h.Loc)
	if err != nil {
		b.Fatal(err)
	}
	query, _ := reporting.ReportSQL([]reporting.Dimension{reporting.DimDay, reporting.DimType}, false)
	tx := db.MustBegin()
	exec(b, tx, reporting.ReportSettings)
	var plan []string
	if err := tx.Select(&plan, `EXPLAIN (ANALYZE, BUFFERS) `+query, h.ID, rng.From, rng.To, h.Loc.String()); err != nil {
		b.Fatal(err)
	}
	tx.Rollback() //nolint:errcheck // read only
	b.Logf("plan:\n%s", strings.Join(plan, "\n"))

	b.Run("month", func(b *testing.B) {
		for b.Loop() {
			rep, err := store.SessionReport(context.Background(), h.ID, q)
			if err != nil {
				b.Fatal(err)
			}
			if len(rep.Rows) != 30*4 {
				b.Fatalf("got %d rows, want 120", len(rep.Rows))
			}
		}
	})
}
