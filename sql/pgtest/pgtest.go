// Package pgtest gives each test its own freshly migrated PostgreSQL database on a real server.
//
// The server is, in order: TEST_DATABASE_URL or DATABASE_URL when set; else a local server it can
// reach (127.0.0.1:5432 or the Debian socket, as "postgres" or the current user); else a throwaway
// cluster started from the installed binaries for this test binary only (as the postgres user
// when running as root). DIRECTSMS_PGTEST_LOCAL=off skips the local server. The schema is migrated once into a template database named after the
// migrations' hash, and every test gets `CREATE DATABASE … TEMPLATE` of it, dropped when the test
// ends. Packages whose tests use it call Main from TestMain so a throwaway server is stopped.
// It must not be imported by non-test code.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/user"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq" // the PostgreSQL driver

	"directsms/internal/pgcluster"
	"directsms/sql/migrations"
	"directsms/sql/pg"
)

var (
	once     sync.Once
	admin    *sqlx.DB
	adminURL *url.URL
	template string
	cluster  *pgcluster.Cluster
	tmpDir   string
	setupErr error
)

// Main runs the package's tests, then stops the throwaway server if this binary started one.
func Main(m *testing.M) {
	code := m.Run()
	if admin != nil {
		admin.Close()
	}
	if cluster != nil {
		cluster.Stop() //nolint:errcheck // the directory is removed next anyway
		os.RemoveAll(tmpDir)
	}
	os.Exit(code)
}

// NewDB returns a connection pool to a new migrated database that is dropped when t ends.
func NewDB(t testing.TB) *sqlx.DB {
	t.Helper()
	db, err := pg.Open(context.Background(), NewDSN(t))
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// NewDSN creates a new migrated database and returns its connection string; the database is
// dropped when t ends. Tests that start the whole program use it.
func NewDSN(t testing.TB) string {
	t.Helper()
	once.Do(func() { setupErr = setup() })
	if setupErr != nil {
		t.Fatalf("test PostgreSQL: %v", setupErr)
	}
	return createDatabase(t, template)
}

func createDatabase(t testing.TB, from string) string {
	t.Helper()
	name := "directsms_t_" + randomHex(8)
	ctx := context.Background()
	if _, err := admin.ExecContext(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE %s`, name, from)); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, name)); err != nil {
			t.Logf("drop test database %s: %v", name, err)
		}
	})
	u := *adminURL
	u.Path = "/" + name
	return u.String()
}

// NewEmptyDSN creates a new database with no schema at all, dropped when t ends: for tests of
// the migrations themselves.
func NewEmptyDSN(t testing.TB) string {
	t.Helper()
	once.Do(func() { setupErr = setup() })
	if setupErr != nil {
		t.Fatalf("test PostgreSQL: %v", setupErr)
	}
	return createDatabase(t, "template0")
}

// AdminDSN returns the connection string of the server's maintenance database, for tests that
// must act on a test database from outside (making it unreachable, for one).
func AdminDSN(t testing.TB) string {
	t.Helper()
	once.Do(func() { setupErr = setup() })
	if setupErr != nil {
		t.Fatalf("test PostgreSQL: %v", setupErr)
	}
	return adminURL.String()
}

func setup() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dsn, err := findServer(ctx)
	if err != nil {
		return err
	}
	u, err := url.Parse(pg.WithDefaults(dsn))
	if err != nil {
		return fmt.Errorf("parse %s: %w", pg.Redact(dsn), err)
	}
	adminURL = u
	admin, err = pg.Open(ctx, u.String())
	if err != nil {
		return err
	}
	admin.SetMaxOpenConns(4)
	return ensureTemplate(ctx)
}

func findServer(ctx context.Context) (string, error) {
	for _, key := range []string{"TEST_DATABASE_URL", "DATABASE_URL"} {
		if v := os.Getenv(key); v != "" {
			return v, nil
		}
	}
	candidates := []string{
		"postgres://postgres@127.0.0.1:5432/postgres",
		"host=/var/run/postgresql user=postgres dbname=postgres",
	}
	if u, err := user.Current(); err == nil && u.Username != "postgres" {
		candidates = append(candidates, "postgres://"+url.PathEscape(u.Username)+"@127.0.0.1:5432/postgres")
	}
	if os.Getenv("DIRECTSMS_PGTEST_LOCAL") == "off" {
		candidates = nil
	}
	for _, c := range candidates {
		if canCreateDatabases(ctx, c) {
			if strings.HasPrefix(c, "host=") {
				// Keep one URL form so per-test DSNs can be built by replacing the path.
				return "postgres://postgres@/postgres?host=/var/run/postgresql", nil
			}
			return c, nil
		}
	}
	dir, err := os.MkdirTemp(tempParent(), "directsms-pgtest-")
	if err != nil {
		return "", fmt.Errorf("make a directory for a throwaway PostgreSQL: %w", err)
	}
	tmpDir = dir
	c, err := pgcluster.Start(ctx, dir, true)
	if err != nil {
		return "", fmt.Errorf("no reachable PostgreSQL and none could be started: %w", err)
	}
	cluster = c
	return c.DSN("postgres"), nil
}

func tempParent() string {
	if os.Geteuid() == 0 {
		return pgcluster.ParentForRoot()
	}
	return os.TempDir()
}

func canCreateDatabases(ctx context.Context, dsn string) bool {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	db, err := sqlx.Open("postgres", pg.WithDefaults(dsn))
	if err != nil {
		return false
	}
	defer db.Close()
	var ok bool
	err = db.QueryRowContext(ctx, `SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&ok)
	return err == nil && ok
}

// ensureTemplate migrates a template database once per schema version. It is built under a
// temporary name and renamed when complete, so a crash never leaves a half-migrated template
// for the next run, and several test binaries starting at once share one.
func ensureTemplate(ctx context.Context) error {
	all, err := migrations.All()
	if err != nil {
		return err
	}
	h := sha256.New()
	for _, m := range all {
		h.Write([]byte(m.Name))
		h.Write([]byte(m.SQL))
	}
	template = "directsms_tpl_" + hex.EncodeToString(h.Sum(nil))[:16]

	conn, err := admin.Connx(ctx)
	if err != nil {
		return fmt.Errorf("template: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(hashtext($1))`, template); err != nil {
		return fmt.Errorf("template lock: %w", err)
	}
	defer conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock(hashtext($1))`, template) //nolint:errcheck // released with the connection anyway

	var exists bool
	if err := conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, template).Scan(&exists); err != nil {
		return fmt.Errorf("template lookup: %w", err)
	}
	if exists {
		return nil
	}
	building := template + "_" + randomHex(4)
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`CREATE DATABASE %s`, building)); err != nil {
		return fmt.Errorf("create template: %w", err)
	}
	u := *adminURL
	u.Path = "/" + building
	tdb, err := pg.Open(ctx, u.String())
	if err != nil {
		return err
	}
	_, err = migrations.Up(ctx, tdb.DB)
	tdb.Close()
	if err != nil {
		return fmt.Errorf("migrate template: %w", err)
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`ALTER DATABASE %s RENAME TO %s`, building, template)); err != nil {
		return fmt.Errorf("rename template: %w", err)
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
