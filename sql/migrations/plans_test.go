package migrations_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"directsms/sql/migrations"
)

// genericPlans plans statements on a migrated, empty database as a connection does once it
// keeps a statement's plan: generically, without the parameters' values.
type genericPlans struct {
	t    *testing.T
	conn *sqlx.Conn
	n    int
}

func newGenericPlans(t *testing.T) *genericPlans {
	t.Helper()
	db := open(t)
	ctx := context.Background()
	if _, err := migrations.Up(ctx, db.DB); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	conn, err := db.Connx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := conn.ExecContext(ctx, `SET plan_cache_mode = force_generic_plan`); err != nil {
		t.Fatal(err)
	}
	return &genericPlans{t: t, conn: conn}
}

// indexCond plans query, whose parameters have the comma-separated types, and answers the
// condition of the plan's (last) index search, "" for none, and the whole plan.
func (g *genericPlans) indexCond(query, types string) (cond, plan string) {
	g.t.Helper()
	g.n++
	name := fmt.Sprintf("p%d", g.n)
	ctx := context.Background()
	if _, err := g.conn.ExecContext(ctx, fmt.Sprintf(`PREPARE %s (%s) AS %s`, name, types, query)); err != nil {
		g.t.Fatalf("prepare %s: %v", query, err)
	}
	nulls := strings.TrimSuffix(strings.Repeat("NULL,", strings.Count(types, ",")+1), ",")
	var lines []string
	if err := g.conn.SelectContext(ctx, &lines, fmt.Sprintf(`EXPLAIN EXECUTE %s (%s)`, name, nulls)); err != nil {
		g.t.Fatalf("explain %s: %v", query, err)
	}
	for _, l := range lines {
		if c, ok := strings.CutPrefix(strings.TrimSpace(l), "Index Cond: "); ok {
			cond = c
		}
	}
	return cond, strings.Join(lines, "\n")
}

// PostgreSQL checks a foreign key with `SELECT 1 FROM ONLY parent x WHERE col1 = $1 AND ... FOR
// KEY SHARE OF x`, planned once per connection and kept. Planned on a new database's empty
// tables, where every index costs the same, the check once went through an index on the
// tenant alone and read every session of the tenant for each message stored. Every foreign
// key's check, planned generically on the empty schema, must find its row through an index on
// all of its columns.
func TestForeignKeys_CheckThroughTheirKey(t *testing.T) {
	t.Parallel()
	g := newGenericPlans(t)
	var fks []struct {
		Name    string `db:"conname"`
		Parent  string `db:"parent"`
		Columns string `db:"columns"`
		Types   string `db:"types"`
	}
	err := g.conn.SelectContext(context.Background(), &fks, `SELECT c.conname, c.confrelid::regclass::text AS parent,
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
	for _, fk := range fks {
		cols := strings.Split(fk.Columns, ",")
		conds := make([]string, len(cols))
		for j, c := range cols {
			conds[j] = fmt.Sprintf("%s = $%d", c, j+1)
		}
		cond, plan := g.indexCond(fmt.Sprintf(`SELECT 1 FROM ONLY %s x WHERE %s FOR KEY SHARE OF x`, fk.Parent, strings.Join(conds, " AND ")), fk.Types)
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
	g := newGenericPlans(t)
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
	for _, tc := range tests {
		if cond, plan := g.indexCond(tc.query, tc.args); !strings.Contains(cond, "("+tc.column+" = ") {
			t.Errorf("%s: %s is not searched in an index:\n%s", tc.name, tc.column, plan)
		}
	}
}
