package pg

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// AnalyzeMinChanges is how many rows of a table must have changed since it was last analyzed
// before AnalyzeGrown looks at it.
const AnalyzeMinChanges = 200

// sqlGrownTables lists the tables of the current schema, that the connection's role may
// analyze, whose changed rows since their last ANALYZE outnumber the rows that ANALYZE counted
// (none, if never analyzed).
const sqlGrownTables = `SELECT quote_ident(s.schemaname) || '.' || quote_ident(s.relname)
	FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
	WHERE s.schemaname = current_schema() AND s.n_mod_since_analyze >= $1
	  AND s.n_mod_since_analyze > GREATEST(c.reltuples, 0)
	  AND pg_has_role(c.relowner, 'USAGE')
	ORDER BY s.relname`

// AnalyzeGrown analyzes the tables that have grown past twice their size at their last ANALYZE
// (or have never been analyzed and hold AnalyzeMinChanges rows), and answers their names.
//
// PostgreSQL plans a statement a connection runs again and again once, and keeps the plan until
// the tables' statistics change. On a new database the plans are made on empty tables, where
// every index costs the same: a lookup by (tenant_id, address) may be planned through
// (tenant_id, id) and later read every row of the tenant. Autovacuum analyzes a table once a
// tenth of it has changed, but looks only once a minute: long enough, on a new database taking
// thousands of texts a second, for those plans to cost most of the database's time. Analyzing
// on a doubling schedule costs a few ANALYZEs per table over its life, and each one makes every
// connection plan again with the table as it is.
func AnalyzeGrown(ctx context.Context, db *sqlx.DB) ([]string, error) {
	var tables []string
	if err := db.SelectContext(ctx, &tables, sqlGrownTables, AnalyzeMinChanges); err != nil {
		return nil, fmt.Errorf("find grown tables: %w", err)
	}
	for _, t := range tables {
		if _, err := db.ExecContext(ctx, "ANALYZE "+t); err != nil {
			return nil, fmt.Errorf("analyze %s: %w", t, err)
		}
	}
	return tables, nil
}
