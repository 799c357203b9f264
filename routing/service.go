package routing

import (
	"log/slog"
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
	// inbound stores concurrent inbound texts together (Inbound).
	inbound *batcher[*inboundItem, Result]
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
	s := &Service{db: db, nowFunc: opts.NowFunc, log: log, notifier: newNotifier(db, log)}
	s.inbound = newBatcher(s.inboundBatch)
	return s
}

func (s *Service) now() time.Time { return s.nowFunc().UTC() }

// Close waits for a notification in flight; call it before closing the database.
func (s *Service) Close() error {
	s.notifier.close()
	return nil
}
