package routing

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
)

// Service routes inbound texts and manages sessions: offers, accepts, reroutes and closes. Its
// rules run inside PostgreSQL functions (sql/migrations/0005_routing.sql) so each operation is
// one transaction and, for an inbound text, one round trip. It is safe for concurrent use, and
// several processes may share one database.
type Service struct {
	db       *sqlx.DB
	nowFunc  func() time.Time
	log      *slog.Logger
	notifier *notifier
	accounts accountCache

	// inbound is the prepared routing_inbound call, prepared on first use: a prepared statement
	// saves a round trip per text over lib/pq's parse-then-execute.
	inbound   atomic.Pointer[sql.Stmt]
	prepareMu sync.Mutex
}

// Options are a Service's optional collaborators.
type Options struct {
	// NowFunc is the clock; time.Now when nil.
	NowFunc func() time.Time
	// Logger receives the few things worth logging outside a request; slog.Default when nil.
	Logger *slog.Logger
}

// NewService returns a Service over db, which must be migrated.
func NewService(db *sqlx.DB, opts Options) *Service {
	if opts.NowFunc == nil {
		opts.NowFunc = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	log := opts.Logger.With("component", "routing")
	return &Service{db: db, nowFunc: opts.NowFunc, log: log, notifier: newNotifier(db, log)}
}

func (s *Service) now() time.Time { return s.nowFunc().UTC() }

// Close waits for a notification in flight and releases the prepared statement; call it before
// closing the database.
func (s *Service) Close() error {
	s.notifier.close()
	if st := s.inbound.Swap(nil); st != nil {
		return st.Close()
	}
	return nil
}

func (s *Service) inboundStmt(ctx context.Context) (*sql.Stmt, error) {
	if st := s.inbound.Load(); st != nil {
		return st, nil
	}
	s.prepareMu.Lock()
	defer s.prepareMu.Unlock()
	if st := s.inbound.Load(); st != nil {
		return st, nil
	}
	st, err := s.db.PrepareContext(ctx, sqlRouteInbound)
	if err != nil {
		return nil, fmt.Errorf("prepare inbound routing: %w", err)
	}
	s.inbound.Store(st)
	return st, nil
}
