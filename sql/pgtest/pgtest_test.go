package pgtest_test

import (
	"context"
	"testing"

	"directsms/sql/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestNewDB_GivesEachTestItsOwnMigratedDatabase(t *testing.T) {
	t.Parallel()
	a := pgtest.NewDB(t)
	b := pgtest.NewDB(t)
	ctx := context.Background()
	if _, err := a.ExecContext(ctx, `INSERT INTO tenants (name) VALUES ('only in a')`); err != nil {
		t.Fatalf("insert: %v", err)
	}
	var n int
	if err := b.GetContext(ctx, &n, `SELECT count(*) FROM tenants`); err != nil {
		t.Fatalf("count: %v", err)
	}
	if n != 0 {
		t.Fatalf("got %d tenants in b, want 0: databases are not isolated", n)
	}
}
