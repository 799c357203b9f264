// Package migrations holds directsms's schema as embedded, numbered, forward-only SQL files and
// applies them. Each file runs in its own transaction, under a cluster-wide advisory lock, and is
// recorded in schema_migrations, so concurrent starts of several processes are harmless and an
// applied file is never run twice. It must not import any directsms package.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

//go:embed *.sql
var files embed.FS

// lockKey is the advisory lock every migrating process takes; its value is arbitrary but fixed.
const lockKey = 0x6469726563746d // "directm"

const (
	sqlCreateTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`
	sqlLock          = `SELECT pg_advisory_lock($1)`
	sqlUnlock        = `SELECT pg_advisory_unlock($1)`
	sqlApplied       = `SELECT version FROM schema_migrations`
	sqlRecord        = `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`
	sqlLatestApplied = `SELECT COALESCE(max(version), 0) FROM schema_migrations`
	sqlTableExists   = `SELECT to_regclass('schema_migrations') IS NOT NULL`
)

// Migration is one embedded schema file.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// All returns the embedded migrations in version order.
func All() ([]Migration, error) {
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var out []Migration
	seen := map[int]string{}
	for _, e := range entries {
		name := e.Name()
		num, rest, ok := strings.Cut(name, "_")
		if !ok || !strings.HasSuffix(rest, ".sql") {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.sql", name)
		}
		v, err := strconv.Atoi(num)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: bad version", name)
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("migration %s: version %d already used by %s", name, v, other)
		}
		seen[v] = name
		body, err := files.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		out = append(out, Migration{Version: v, Name: name, SQL: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// Latest returns the highest embedded version: the version a current schema has.
func Latest() int {
	all, err := All()
	if err != nil || len(all) == 0 {
		return 0
	}
	return all[len(all)-1].Version
}

// Up applies every migration not yet applied and returns the names it applied.
func Up(ctx context.Context, db *sql.DB) ([]string, error) {
	all, err := All()
	if err != nil {
		return nil, err
	}
	// A session-level advisory lock needs one connection for the whole run.
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: connect: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, sqlLock, lockKey); err != nil {
		return nil, fmt.Errorf("migrate: lock: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), sqlUnlock, lockKey) //nolint:errcheck // the lock also ends with the connection

	if _, err := conn.ExecContext(ctx, sqlCreateTable); err != nil {
		return nil, fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	applied := map[int]bool{}
	rows, err := conn.QueryContext(ctx, sqlApplied)
	if err != nil {
		return nil, fmt.Errorf("migrate: read applied: %w", err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return nil, fmt.Errorf("migrate: read applied: %w", err)
		}
		applied[v] = true
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("migrate: read applied: %w", err)
	}

	var done []string
	for _, m := range all {
		if applied[m.Version] {
			continue
		}
		if err := apply(ctx, conn, m); err != nil {
			return done, err
		}
		done = append(done, m.Name)
	}
	return done, nil
}

func apply(ctx context.Context, conn *sql.Conn, m Migration) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate %s: begin: %w", m.Name, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return fmt.Errorf("migrate %s: %w", m.Name, err)
	}
	if _, err := tx.ExecContext(ctx, sqlRecord, m.Version, m.Name); err != nil {
		return fmt.Errorf("migrate %s: record: %w", m.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate %s: commit: %w", m.Name, err)
	}
	return nil
}

// Current reports whether the database has every embedded migration applied.
func Current(ctx context.Context, db *sql.DB) (bool, error) {
	var exists bool
	if err := db.QueryRowContext(ctx, sqlTableExists).Scan(&exists); err != nil {
		return false, fmt.Errorf("check schema: %w", err)
	}
	if !exists {
		return false, nil
	}
	var v int
	if err := db.QueryRowContext(ctx, sqlLatestApplied).Scan(&v); err != nil {
		return false, fmt.Errorf("check schema: %w", err)
	}
	return v >= Latest(), nil
}
