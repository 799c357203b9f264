package reporting

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/jmoiron/sqlx"

	"directsms/internal/apperr"
	"directsms/sql/pg"
)

// Store reads reports and exports and keeps event subscriptions, in PostgreSQL.
type Store struct {
	db       *sqlx.DB
	nowFunc  func() time.Time
	resolver resolver
}

// resolver looks a host name up; *net.Resolver is one, tests bring their own.
type resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// NewStore returns a store over db; nowFunc is the clock (time.Now when nil).
func NewStore(db *sqlx.DB, nowFunc func() time.Time) *Store {
	if nowFunc == nil {
		nowFunc = time.Now
	}
	return &Store{db: db, nowFunc: nowFunc, resolver: net.DefaultResolver}
}

func (s *Store) now() time.Time { return s.nowFunc().UTC() }

const sqlSelectTenantTimezone = `SELECT timezone FROM tenants WHERE id = $1`

// tenantLocation loads the tenant's time zone, in which days and hours are reported.
func (s *Store) tenantLocation(ctx context.Context, tenantID string) (*time.Location, error) {
	var zone string
	if err := s.db.GetContext(ctx, &zone, sqlSelectTenantTimezone, tenantID); err != nil {
		if errors.Is(err, pg.ErrNoRows) {
			return nil, apperr.NotFound("tenant")
		}
		return nil, fmt.Errorf("load time zone of tenant %s: %w", tenantID, err)
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return nil, fmt.Errorf("load time zone %q of tenant %s: %w", zone, tenantID, err)
	}
	return loc, nil
}
