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

// The lookups every inbound text makes must go through the index made for them even when
// planned generically on empty tables, where indexes sharing a leading tenant_id cost the same:
// a tie lost here once read every contact of the tenant for each text.
func TestHotLookups_UseTheirIndexOnAnEmptyDatabase(t *testing.T) {
	t.Parallel()
	db := open(t)
	ctx := context.Background()
	if _, err := migrations.Up(ctx, db.DB); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	// column is the one that makes each lookup selective: it must be searched in the index.
	tests := []struct {
		name, query, args, column string
	}{
		{"contact by address", `SELECT id FROM contacts WHERE tenant_id = $1 AND address = $2`, "uuid, text", "address"},
		{"open session of a contact on a number",
			`SELECT id FROM sessions WHERE tenant_id = $1 AND contact_id = $2 AND number = $3 AND status = 'open'`, "uuid, uuid, text", "contact_id"},
		{"message by carrier id", `SELECT 1 FROM messages WHERE provider = $1 AND carrier_message_id = $2`, "text, text", "carrier_message_id"},
		{"number texted", `SELECT id FROM numbers WHERE e164 = $1 AND carrier_account_id = $2 AND tenant_id = $3`, "text, uuid, uuid", "e164"},
		{"user by id", `SELECT status FROM users WHERE tenant_id = $1 AND id = $2`, "uuid, uuid", "id"},
		{"session by id", `SELECT status FROM sessions WHERE tenant_id = $1 AND id = $2`, "uuid, uuid", "id"},
	}
	conn, err := db.Connx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SET plan_cache_mode = force_generic_plan`); err != nil {
		t.Fatal(err)
	}
	for i, tc := range tests {
		name := fmt.Sprintf("hot%d", i)
		if _, err := conn.ExecContext(ctx, fmt.Sprintf(`PREPARE %s (%s) AS %s`, name, tc.args, tc.query)); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		nulls := strings.TrimSuffix(strings.Repeat("NULL,", strings.Count(tc.args, ",")+1), ",")
		var lines []string
		if err := conn.SelectContext(ctx, &lines, fmt.Sprintf(`EXPLAIN EXECUTE %s (%s)`, name, nulls)); err != nil {
			t.Fatalf("%s: explain: %v", tc.name, err)
		}
		var cond string
		for _, l := range lines {
			if c, ok := strings.CutPrefix(strings.TrimSpace(l), "Index Cond: "); ok {
				cond = c
			}
		}
		if !strings.Contains(cond, "("+tc.column+" = ") {
			t.Errorf("%s: %s is not searched in an index:\n%s", tc.name, tc.column, strings.Join(lines, "\n"))
		}
	}
}
