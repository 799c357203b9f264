package migrations_test

import (
	"context"
	"sync"
	"testing"

	"github.com/jmoiron/sqlx"

	"directsms/sql/migrations"
	"directsms/sql/pg"
	"directsms/sql/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func open(t *testing.T) *sqlx.DB {
	t.Helper()
	db, err := pg.Open(context.Background(), pgtest.NewEmptyDSN(t))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// schemaShape is a fingerprint of the schema: tables, columns and constraints.
func schemaShape(t *testing.T, db *sqlx.DB) string {
	t.Helper()
	var shape string
	err := db.Get(&shape, `SELECT string_agg(x, ',' ORDER BY x) FROM (
		SELECT table_name || '.' || column_name || ':' || data_type AS x FROM information_schema.columns WHERE table_schema = 'public'
		UNION ALL SELECT conrelid::regclass || '#' || conname FROM pg_constraint WHERE connamespace = 'public'::regnamespace
		UNION ALL SELECT indexname FROM pg_indexes WHERE schemaname = 'public') s`)
	if err != nil {
		t.Fatalf("schema shape: %v", err)
	}
	return shape
}

func TestUp_AppliesEverythingOnceAndASecondRunChangesNothing(t *testing.T) {
	t.Parallel()
	db := open(t)
	ctx := context.Background()
	applied, err := migrations.Up(ctx, db.DB)
	if err != nil {
		t.Fatalf("first up: %v", err)
	}
	all, _ := migrations.All()
	if len(applied) != len(all) {
		t.Fatalf("got %d applied, want %d", len(applied), len(all))
	}
	before := schemaShape(t, db)
	again, err := migrations.Up(ctx, db.DB)
	if err != nil {
		t.Fatalf("second up: %v", err)
	}
	if len(again) != 0 {
		t.Fatalf("second up applied %v, want nothing", again)
	}
	if after := schemaShape(t, db); after != before {
		t.Fatalf("schema changed on the second run")
	}
	current, err := migrations.Current(ctx, db.DB)
	if err != nil || !current {
		t.Fatalf("got current=%v err=%v, want true", current, err)
	}
}

func TestUp_ConcurrentRunsDoNotCollide(t *testing.T) {
	t.Parallel()
	db := open(t)
	const runs = 4
	var wg sync.WaitGroup
	counts := make([]int, runs)
	errs := make([]error, runs)
	for i := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			applied, err := migrations.Up(context.Background(), db.DB)
			counts[i], errs[i] = len(applied), err
		}()
	}
	wg.Wait()
	total := 0
	for i := range runs {
		if errs[i] != nil {
			t.Fatalf("run %d: %v", i, errs[i])
		}
		total += counts[i]
	}
	all, _ := migrations.All()
	if total != len(all) {
		t.Fatalf("got %d migrations applied across runs, want %d (each exactly once)", total, len(all))
	}
}

func TestCurrent_FalseOnAnEmptyDatabase(t *testing.T) {
	t.Parallel()
	db := open(t)
	current, err := migrations.Current(context.Background(), db.DB)
	if err != nil || current {
		t.Fatalf("got current=%v err=%v, want false", current, err)
	}
}
