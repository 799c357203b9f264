package reporting_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"directsms/internal/apperr"
	"directsms/reporting"
	"directsms/sql/pgtest"
)

// world is two tenants with known histories in one database: New York (two daylight-saving
// changes in 2026) and Kolkata (a half-hour offset, no daylight saving).
type world struct {
	db     *sqlx.DB
	store  *reporting.Store
	ny, in *tenantHistory
}

func newWorld(t *testing.T) *world {
	t.Helper()
	db := pgtest.NewDB(t)
	w := &world{db: db, store: reporting.NewStore(db, nil)}
	w.ny = newTenant(t, db, "NewYork", "America/New_York")
	w.in = newTenant(t, db, "Kolkata", "Asia/Kolkata")
	buildHistory(t, db, w.ny, 1)
	buildHistory(t, db, w.in, 2)
	return w
}

// TestSessionReport_KnownHistory builds the history once and checks reports of it.
func TestSessionReport_KnownHistory(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	t.Run("every figure matches counts computed from the inserted rows", func(t *testing.T) { everyFigureMatches(t, w) })
	t.Run("CSV parses back to the same figures", func(t *testing.T) { csvParsesBack(t, w) })
	t.Run("the export has every session with its own figures", func(t *testing.T) { exportMatchesHistory(t, w) })
}

func everyFigureMatches(t *testing.T, w *world) {
	ny := func(y int, m time.Month, d, h, min int) time.Time { return time.Date(y, m, d, h, min, 0, 0, w.ny.Loc) }
	year := [2]string{"2026-01-01", "2027-01-01"}
	cases := []struct {
		name     string
		h        *tenantHistory
		from, to string
		groupBy  string
		types    []string
	}{
		{"totals over the year", w.ny, year[0], year[1], "", nil},
		{"by type", w.ny, year[0], year[1], "type", nil},
		{"by agent, the deactivated one included", w.ny, year[0], year[1], "agent", nil},
		{"by queue", w.ny, year[0], year[1], "queue", nil},
		{"by team of the time", w.ny, year[0], year[1], "team", nil},
		{"by number", w.ny, year[0], year[1], "number", nil},
		{"by day across spring forward", w.ny, "2026-03-07", "2026-03-10", "day", nil},
		{"by hour on the 23-hour day", w.ny, "2026-03-08", "2026-03-09", "hour", nil},
		{"by hour on the 25-hour day", w.ny, "2026-11-01", "2026-11-02", "hour", nil},
		{"by day and type across fall back", w.ny, "2026-10-31", "2026-11-03", "day,type", nil},
		{"by agent and team", w.ny, year[0], year[1], "agent,team", nil},
		{"by everything", w.ny, "2026-10-31", "2026-11-03", "type,agent,queue,team,number,day,hour", nil},
		{"inbound types only by agent", w.ny, year[0], year[1], "agent", []string{reporting.TypeInboundDirect, reporting.TypeInbound}},
		{"by hour in a half-hour zone", w.in, "2026-03-08", "2026-03-10", "hour", nil},
		{"by day and number in a half-hour zone", w.in, year[0], year[1], "day,number", nil},
		{"an RFC 3339 range in another offset", w.ny, "2026-11-01T05:00:00Z", "2026-11-01T07:30:00+01:00", "hour,type", nil},
		{"an empty range has an all-zero totals row", w.ny, "2025-01-01", "2025-02-01", "", nil},
		{"an empty range has no grouped rows", w.ny, "2025-01-01", "2025-02-01", "agent", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rep, err := w.store.SessionReport(context.Background(), tc.h.ID, reporting.ReportQuery{
				From: tc.from, To: tc.to, GroupBy: []string{tc.groupBy}, Types: tc.types,
			})
			if err != nil {
				t.Fatalf("report: %v", err)
			}
			rng, err := reporting.ParseRange(tc.from, tc.to, tc.h.Loc)
			if err != nil {
				t.Fatal(err)
			}
			dims, _ := reporting.ParseDimensions([]string{tc.groupBy})
			checkRows(t, tc.h, dims, rep.Rows, expect(tc.h, dims, rng.From, rng.To, tc.types))
		})
	}

	t.Run("the fall-back day has 25 hour rows and two 01:00s", func(t *testing.T) {
		rep, err := w.store.SessionReport(context.Background(), w.ny.ID, reporting.ReportQuery{From: "2026-11-01", To: "2026-11-02", GroupBy: []string{"hour"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Rows) != 25 {
			t.Fatalf("got %d hour rows, want 25", len(rep.Rows))
		}
		if rep.Rows[1].Hour != "2026-11-01T01:00:00-04:00" || rep.Rows[2].Hour != "2026-11-01T01:00:00-05:00" {
			t.Errorf("got hours %s, %s, want the two 01:00s in order", rep.Rows[1].Hour, rep.Rows[2].Hour)
		}
	})
	t.Run("the spring-forward day has 23 hour rows and no 02:00", func(t *testing.T) {
		rep, err := w.store.SessionReport(context.Background(), w.ny.ID, reporting.ReportQuery{From: "2026-03-08", To: "2026-03-09", GroupBy: []string{"hour"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Rows) != 23 {
			t.Fatalf("got %d hour rows, want 23", len(rep.Rows))
		}
		for i, row := range rep.Rows {
			if strings.HasPrefix(row.Hour, "2026-03-08T02:") {
				t.Errorf("got an hour %s that the clocks skipped", row.Hour)
			}
			if i > 0 && !mustRFC3339(t, row.Hour).After(mustRFC3339(t, rep.Rows[i-1].Hour)) {
				t.Errorf("rows out of order: %s after %s", row.Hour, rep.Rows[i-1].Hour)
			}
		}
	})
	t.Run("a date range starts at local midnight", func(t *testing.T) {
		rep, err := w.store.SessionReport(context.Background(), w.ny.ID, reporting.ReportQuery{From: "2026-03-08", To: "2026-03-09"})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.From.Equal(ny(2026, 3, 8, 0, 0)) || !rep.To.Equal(ny(2026, 3, 9, 0, 0)) || rep.To.Sub(rep.From) != 23*time.Hour {
			t.Errorf("got [%s, %s), want the 23 hours of 2026-03-08 in New York", rep.From, rep.To)
		}
	})
	t.Run("the other tenant's sessions never show", func(t *testing.T) {
		rep, err := w.store.SessionReport(context.Background(), w.ny.ID, reporting.ReportQuery{From: year[0], To: year[1]})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := rep.Rows[0].Sessions, int64(len(w.ny.Sessions)); got != want {
			t.Errorf("got %d sessions, want %d (New York's only)", got, want)
		}
	})
	t.Run("the deactivated agent keeps its name", func(t *testing.T) {
		rep, err := w.store.SessionReport(context.Background(), w.ny.ID, reporting.ReportQuery{From: year[0], To: year[1], GroupBy: []string{"agent"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range rep.Rows {
			if row.AgentID != nil && *row.AgentID == w.ny.Gone.ID {
				if *row.AgentName != w.ny.Gone.Name || row.Sessions == 0 {
					t.Errorf("got %q with %d sessions, want %q with its sessions", *row.AgentName, row.Sessions, w.ny.Gone.Name)
				}
				return
			}
		}
		t.Errorf("got no row for deactivated agent %s", w.ny.Gone.Name)
	})
}

func csvParsesBack(t *testing.T, w *world) {
	for _, groupBy := range []string{"", "agent,team", "type,agent,queue,team,number,day,hour"} {
		t.Run("group_by="+groupBy, func(t *testing.T) {
			t.Parallel()
			rep, err := w.store.SessionReport(context.Background(), w.ny.ID, reporting.ReportQuery{From: "2026-01-01", To: "2027-01-01", GroupBy: []string{groupBy}})
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := rep.WriteCSV(&buf); err != nil {
				t.Fatal(err)
			}
			records, err := csv.NewReader(&buf).ReadAll()
			if err != nil {
				t.Fatalf("parse CSV: %v", err)
			}
			var js struct {
				Rows []map[string]any `json:"rows"`
			}
			b, _ := json.Marshal(rep)
			if err := json.Unmarshal(b, &js); err != nil {
				t.Fatal(err)
			}
			header := records[0]
			if strings.Join(header, ",") != strings.Join(rep.Columns(), ",") {
				t.Fatalf("got header %v, want %v", header, rep.Columns())
			}
			if len(records)-1 != len(js.Rows) {
				t.Fatalf("got %d CSV records, want %d", len(records)-1, len(js.Rows))
			}
			for i, rec := range records[1:] {
				for j, col := range header {
					if got, want := rec[j], jsonCell(js.Rows[i][col]); got != want && got != "'"+want {
						t.Errorf("row %d %s: got CSV %q, want %q as in JSON", i, col, got, want)
					}
				}
			}
		})
	}
}

func mustRFC3339(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return v
}

// jsonCell is a decoded JSON value as the CSV writes it.
func jsonCell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return ""
}

func TestSessionReport_InvalidQueriesAre422NamingTheField(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	h := newTenant(t, db, "Acme", "America/New_York")
	store := reporting.NewStore(db, nil)
	cases := []struct {
		name        string
		q           reporting.ReportQuery
		field, code string
	}{
		{"unknown group_by", reporting.ReportQuery{From: "2026-01-01", To: "2026-02-01", GroupBy: []string{"type,colour"}}, "group_by", "invalid_group_by"},
		{"to before from", reporting.ReportQuery{From: "2026-02-01", To: "2026-01-01"}, "to", "invalid_range"},
		{"to equal to from", reporting.ReportQuery{From: "2026-02-01", To: "2026-02-01"}, "to", "invalid_range"},
		{"over 366 days", reporting.ReportQuery{From: "2026-01-01", To: "2027-01-03"}, "to", "range_too_long"},
		{"missing from", reporting.ReportQuery{To: "2026-01-01"}, "from", "required"},
		{"a date that does not exist", reporting.ReportQuery{From: "2026-02-30", To: "2026-03-02"}, "from", "invalid_time"},
		{"not a time", reporting.ReportQuery{From: "2026-01-01", To: "yesterday"}, "to", "invalid_time"},
		{"unknown type", reporting.ReportQuery{From: "2026-01-01", To: "2026-02-01", Types: []string{"Voice Inbound"}}, "type", "invalid_type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := store.SessionReport(context.Background(), h.ID, tc.q)
			e, ok := apperr.As(err)
			if !ok || e.Field != tc.field || e.Code != tc.code {
				t.Fatalf("got %v, want %s on %s", err, tc.code, tc.field)
			}
		})
	}
}

func TestMessageCounters_BulkAndSingleInsertsCountTheSame(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	h := newTenant(t, db, "Count", "UTC")
	team := addTeam(t, db, h, "T")
	agent := addUser(t, db, h, "Ann", "agent", team)
	contact := insertID(t, db, `INSERT INTO contacts (tenant_id, address, kind, created_at) VALUES ($1, '+16175550111', 'number', now()) RETURNING id`, h.ID)
	newSession := func(at time.Time) string {
		return insertID(t, db, `INSERT INTO sessions (tenant_id, contact_id, number, type, status, closed_at, last_message_at, created_at)
			VALUES ($1, $2, '+14155550100', 'Messaging Inbound', 'closed', $3, $3, $3) RETURNING id`, h.ID, contact, at)
	}
	base := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	one, two := newSession(base), newSession(base.Add(time.Hour))
	const insert = `INSERT INTO messages (tenant_id, session_id, direction, kind, from_address, to_address, body, sender_user_id, status, created_at, status_changed_at)
		VALUES ($1, $2, $3, $4, 'a', 'b', 'x', $5, 'received', $6, $6)`
	// Session one gets its messages one statement at a time, out of order.
	exec(t, db, insert, h.ID, one, "out", "text", agent.ID, base.Add(3*time.Minute))
	exec(t, db, insert, h.ID, one, "in", "text", nil, base.Add(time.Minute))
	exec(t, db, insert, h.ID, one, "out", "deflection", nil, base.Add(90*time.Second))
	exec(t, db, insert, h.ID, one, "in", "text", nil, base)
	exec(t, db, insert, h.ID, one, "out", "text", agent.ID, base.Add(2*time.Minute))
	// Session two gets the same shape in one statement, together with more for session one.
	exec(t, db, `INSERT INTO messages (tenant_id, session_id, direction, kind, from_address, to_address, body, sender_user_id, status, created_at, status_changed_at)
		SELECT $1, sid, dir, kind, 'a', 'b', 'x', sender, 'received', at, at
		FROM (VALUES ($2::uuid, 'out', 'text', $4::uuid, $5::timestamptz + interval '3 minutes'),
		             ($2::uuid, 'in', 'text', NULL, $5::timestamptz + interval '1 minute'),
		             ($2::uuid, 'out', 'deflection', NULL, $5::timestamptz + interval '90 seconds'),
		             ($2::uuid, 'in', 'text', NULL, $5::timestamptz),
		             ($2::uuid, 'out', 'text', $4::uuid, $5::timestamptz + interval '2 minutes'),
		             ($3::uuid, 'in', 'text', NULL, $6::timestamptz + interval '1 hour')) AS v(sid, dir, kind, sender, at)`,
		h.ID, two, one, agent.ID, base.Add(time.Hour), base)
	var got []struct {
		In, Out          int
		FirstIn, FirstAg time.Time
	}
	if err := db.Select(&got, `SELECT messages_in AS "in", messages_out AS "out", first_message_in_at AS firstin, first_agent_text_at AS firstag
		FROM sessions WHERE id = ANY($1) ORDER BY created_at`, pq.Array([]string{one, two})); err != nil {
		t.Fatal(err)
	}
	want := []string{
		fmt.Sprint(3, 3, base, base.Add(2*time.Minute)),
		fmt.Sprint(2, 3, base.Add(time.Hour), base.Add(time.Hour+2*time.Minute)),
	}
	for i, g := range got {
		if s := fmt.Sprint(g.In, g.Out, g.FirstIn.UTC(), g.FirstAg.UTC()); s != want[i] {
			t.Errorf("session %d: got in, out, first in, first agent text = %s, want %s", i+1, s, want[i])
		}
	}
}
