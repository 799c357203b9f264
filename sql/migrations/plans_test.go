package migrations_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"directsms/sql/migrations"
)

// PostgreSQL checks a foreign key with `SELECT 1 FROM ONLY parent x WHERE col1 = $1 AND ... FOR
// KEY SHARE OF x`, planned once per connection and kept. Planned on a new database's empty
// tables, where every index costs the same, the check once went through an index on the
// tenant alone and read every session of the tenant for each message stored. Every foreign
// key's check, planned generically on the empty schema, must find its row through an index on
// all of its columns.
func TestForeignKeys_CheckThroughTheirKey(t *testing.T) {
	t.Parallel()
	db := open(t)
	ctx := context.Background()
	if _, err := migrations.Up(ctx, db.DB); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	var fks []struct {
		Name    string `db:"conname"`
		Parent  string `db:"parent"`
		Columns string `db:"columns"`
		Types   string `db:"types"`
	}
	err := db.SelectContext(ctx, &fks, `SELECT c.conname, c.confrelid::regclass::text AS parent,
			string_agg(quote_ident(a.attname), ',' ORDER BY k.n) AS columns,
			string_agg(format_type(a.atttypid, a.atttypmod), ',' ORDER BY k.n) AS types
		FROM pg_constraint c
		CROSS JOIN LATERAL unnest(c.confkey) WITH ORDINALITY AS k(attnum, n)
		JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum
		WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace
		GROUP BY c.conname, c.confrelid
		ORDER BY c.conname`)
	if err != nil {
		t.Fatalf("list foreign keys: %v", err)
	}
	if len(fks) < 20 {
		t.Fatalf("found %d foreign keys; the query must be wrong", len(fks))
	}
	conn, err := db.Connx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SET plan_cache_mode = force_generic_plan`); err != nil {
		t.Fatal(err)
	}
	for i, fk := range fks {
		cols := strings.Split(fk.Columns, ",")
		conds := make([]string, len(cols))
		nulls := make([]string, len(cols))
		for j, c := range cols {
			conds[j] = fmt.Sprintf("%s = $%d", c, j+1)
			nulls[j] = "NULL"
		}
		name := fmt.Sprintf("fk%d", i)
		prepare := fmt.Sprintf(`PREPARE %s (%s) AS SELECT 1 FROM ONLY %s x WHERE %s FOR KEY SHARE OF x`,
			name, fk.Types, fk.Parent, strings.Join(conds, " AND "))
		if _, err := conn.ExecContext(ctx, prepare); err != nil {
			t.Fatalf("%s: %v", fk.Name, err)
		}
		var lines []string
		if err := conn.SelectContext(ctx, &lines, fmt.Sprintf(`EXPLAIN EXECUTE %s (%s)`, name, strings.Join(nulls, ","))); err != nil {
			t.Fatalf("%s: explain: %v", fk.Name, err)
		}
		plan := strings.Join(lines, "\n")
		var cond string
		for _, l := range lines {
			if c, ok := strings.CutPrefix(strings.TrimSpace(l), "Index Cond: "); ok {
				cond = c
			}
		}
		for _, c := range cols {
			if !strings.Contains(cond, strings.Trim(c, `"`)+" = ") {
				t.Errorf("%s: the check of %s (%s) does not look up %s through an index:\n%s", fk.Name, fk.Parent, fk.Columns, c, plan)
			}
		}
	}
}
