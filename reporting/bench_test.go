package reporting_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"directsms/reporting"
	"directsms/sql/pgtest"
)

// BenchmarkReportMonthByDayAndType times a month of a tenant with a year of sessions (a million,
// one every 31.5 s) grouped by day and type; the budget is 500 ms. It logs the query plan once.
func BenchmarkReportMonthByDayAndType(b *testing.B) {
	db := pgtest.NewDB(b)
	store := reporting.NewStore(db, nil)
	h := newTenant(b, db, "Big", "America/New_York")
	began := time.Now()
	generateSessions(b, db, h, 1_000_000, 31536*time.Millisecond, time.Date(2026, 1, 1, 5, 0, 0, 0, time.UTC))
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
