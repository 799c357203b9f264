package pg_test

import (
	"context"
	"slices"
	"testing"

	"directsms/sql/pg"
	"directsms/sql/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestAnalyzeGrown_AnalyzesTablesThatDoubledSinceTheirLastAnalyze(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := pg.Open(ctx, pgtest.NewEmptyDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// One connection writes and flushes its statistics, so the counts are there to read.
	write := func(sql string) {
		t.Helper()
		if _, err := conn.ExecContext(ctx, sql); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ExecContext(ctx, `SELECT pg_stat_force_next_flush()`); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ExecContext(ctx, `SELECT 1`); err != nil {
			t.Fatal(err)
		}
	}
	write(`CREATE TABLE small (id int); CREATE TABLE grown (id int)`)
	write(`INSERT INTO small SELECT generate_series(1, 10); INSERT INTO grown SELECT generate_series(1, 300)`)

	got, err := pg.AnalyzeGrown(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"public.grown"}) {
		t.Fatalf("analyzed %q, want only public.grown (small has fewer than %d changes)", got, pg.AnalyzeMinChanges)
	}

	// 280 more rows have not doubled the 300 analyzed; 40 more on top have.
	write(`INSERT INTO grown SELECT generate_series(1, 280)`)
	if got, err := pg.AnalyzeGrown(ctx, db); err != nil || len(got) != 0 {
		t.Fatalf("analyzed %q (%v), want nothing: grown has not doubled", got, err)
	}
	write(`INSERT INTO grown SELECT generate_series(1, 40)`)
	if got, err := pg.AnalyzeGrown(ctx, db); err != nil || !slices.Equal(got, []string{"public.grown"}) {
		t.Fatalf("analyzed %q (%v), want public.grown", got, err)
	}
}
