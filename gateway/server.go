package gateway

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/gorilla/mux"
	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus"

	"directsms/deflection"
	"directsms/directory"
	"directsms/numbers"
	"directsms/reporting"
	"directsms/routing"
)

// Config is what the HTTP layer needs to know about its deployment.
type Config struct {
	// PublicURL is the scheme and host carriers use to reach this server; webhook signatures
	// are computed over it, not over what the request says behind a proxy.
	PublicURL string
	// MaxBodyBytes limits every request body but bulk files.
	MaxBodyBytes int64
	// MaxBulkBodyBytes limits the body of bulk requests (/v1/bulk/...).
	MaxBulkBodyBytes int64
	// AllowPrivateURLs lets tenants register callback URLs on private or loopback addresses,
	// for development only.
	AllowPrivateURLs bool
	// EventHeartbeat is how often an idle event stream sends a comment, so proxies keep it
	// open and a client can tell a quiet stream from a dead one; DefaultEventHeartbeat when zero.
	EventHeartbeat time.Duration
}

// Deps are the domain services the handlers call.
type Deps struct {
	DB        *sqlx.DB
	Directory *directory.Store
	Numbers   *numbers.Store
	Reporting *reporting.Store
	Routing   *routing.Service
	Outbound  *routing.Outbound
	Logger    *slog.Logger
	Registry  *prometheus.Registry
	NowFunc   func() time.Time
	// Deflection is the after-hours deflection settings store.
	Deflection *deflection.Store
	// Hub serves GET /v1/events; without one the stream answers 503.
	Hub *routing.Hub
}

// Server serves directsms's HTTP API.
type Server struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	metrics *metrics
	router  *mux.Router
	handler http.Handler
	// addresses caches how webhook numbers classify; see addressCache.
	addresses addressCache
}

// DefaultMaxBodyBytes is the body limit when Config leaves it zero, far below anything that could
// hurt the server.
const DefaultMaxBodyBytes = 2 << 20

// DefaultEventHeartbeat is the event stream's heartbeat when Config leaves it zero: well under
// the idle timeouts of common proxies and load balancers (60 s).
const DefaultEventHeartbeat = 15 * time.Second

// DefaultMaxBulkBodyBytes is the bulk body limit when Config leaves it zero: room for a 10,000-row
// file with several numbers per row, written with spaces and brackets.
const DefaultMaxBulkBodyBytes = 8 << 20

// New builds the server and its router.
func New(cfg Config, deps Deps) *Server {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.EventHeartbeat <= 0 {
		cfg.EventHeartbeat = DefaultEventHeartbeat
	}
	if cfg.MaxBulkBodyBytes <= 0 {
		cfg.MaxBulkBodyBytes = DefaultMaxBulkBodyBytes
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	if deps.NowFunc == nil {
		deps.NowFunc = time.Now
	}
	if deps.Registry == nil {
		deps.Registry = prometheus.NewRegistry()
	}
	s := &Server{cfg: cfg, deps: deps, log: deps.Logger.With("component", "gateway")}
	s.metrics = newMetrics(deps.Registry)
	s.handler = s.routes()
	return s
}

// ServeHTTP serves one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(w, r)
}

func (s *Server) now() time.Time { return s.deps.NowFunc().UTC() }
