// Package pg opens directsms's PostgreSQL connections and holds what every store shares: running
// a function in a transaction, classifying driver errors by SQLSTATE and constraint name, and
// transaction-scoped advisory locks. Driver types do not leave this package and the stores. It
// must not import any other directsms package.
package pg

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Open connects to dsn, fills in sslmode and connect_timeout when the DSN leaves them out (lib/pq
// would otherwise demand TLS and wait forever), and checks the server answers.
func Open(ctx context.Context, dsn string) (*sqlx.DB, error) {
	dsn = WithDefaults(dsn)
	db, err := sqlx.Open("postgres", dsn)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(32)
	db.SetConnMaxIdleTime(5 * time.Minute)
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to database %s: %w", Redact(dsn), err)
	}
	return db, nil
}

// WithDefaults adds sslmode=disable and connect_timeout=5 to a URL-form DSN that does not set
// them. Key=value DSNs get the same settings appended.
func WithDefaults(dsn string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return dsn
		}
		q := u.Query()
		if q.Get("sslmode") == "" {
			q.Set("sslmode", "disable")
		}
		if q.Get("connect_timeout") == "" {
			q.Set("connect_timeout", "5")
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	if !strings.Contains(dsn, "sslmode=") {
		dsn += " sslmode=disable"
	}
	if !strings.Contains(dsn, "connect_timeout=") {
		dsn += " connect_timeout=5"
	}
	return strings.TrimSpace(dsn)
}

// Redact hides the password of a URL-form DSN so it can be logged or shown in an error.
func Redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// InTx runs fn in a transaction, committing when it returns nil and rolling back otherwise.
func InTx(ctx context.Context, db *sqlx.DB, fn func(tx *sqlx.Tx) error) error {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback() //nolint:errcheck // the error from fn is the one that matters
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// SQLSTATE codes directsms branches on.
const (
	CodeUniqueViolation     = "23505"
	CodeForeignKeyViolation = "23503"
	CodeCheckViolation      = "23514"
	CodeExclusionViolation  = "23P01"
	CodeSerialization       = "40001"
	CodeDeadlock            = "40P01"
	CodeQueryCanceled       = "57014"
	CodeInvalidText         = "22P02"
	CodeRaiseException      = "P0001"
)

// Code returns the SQLSTATE of err, or "" when err is not a PostgreSQL error.
func Code(err error) string {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		return string(pqErr.Code)
	}
	return ""
}

// Constraint returns the name of the constraint err violated, or "".
func Constraint(err error) string {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		return pqErr.Constraint
	}
	return ""
}

// Message returns the server's message for err (for RAISE EXCEPTION errors from triggers), or "".
func Message(err error) string {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		return pqErr.Message
	}
	return ""
}

// IsViolation reports whether err violates the named constraint.
func IsViolation(err error, constraint string) bool {
	return Constraint(err) == constraint && constraint != ""
}

// IsRetryable reports whether a transaction that failed with err may succeed if run again.
func IsRetryable(err error) bool {
	c := Code(err)
	return c == CodeSerialization || c == CodeDeadlock
}

// IsConnectionLost reports whether err says the connection itself is gone (the server shut it
// down or it broke), rather than anything about the statement: the same statement on another
// connection may succeed.
func IsConnectionLost(err error) bool {
	if errors.Is(err, driver.ErrBadConn) {
		return true
	}
	c := Code(err)
	return strings.HasPrefix(c, "08") || c == "57P01" || c == "57P02" || c == "57P03"
}

// IsCanceled reports whether err comes from a cancelled context, whichever way lib/pq reported
// it (SQLSTATE 57014 or the context's own error).
func IsCanceled(ctx context.Context, err error) bool {
	return ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// ErrNoRows is sql.ErrNoRows, re-exported so stores need not import database/sql for it.
var ErrNoRows = sql.ErrNoRows

// TryXactLock takes a transaction-scoped advisory lock on (class, key) without waiting and
// reports whether it got it. Scheduled jobs use it to run once per cluster.
func TryXactLock(ctx context.Context, tx *sqlx.Tx, class int32, key string) (bool, error) {
	var got bool
	err := tx.QueryRowContext(ctx, `SELECT pg_try_advisory_xact_lock($1, hashtext($2))`, class, key).Scan(&got)
	if err != nil {
		return false, fmt.Errorf("advisory lock %d/%s: %w", class, key, err)
	}
	return got, nil
}
