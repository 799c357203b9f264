package gateway

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"directsms/sql/migrations"
	"directsms/sql/pg"
)

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz is 200 only when the database answers and has every migration this binary knows.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	current, err := migrations.Current(ctx, s.deps.DB.DB)
	// Pooled connections the server closed while it was away fail once each before the pool
	// drops them; they say nothing about the database now, so try again on another.
	for tries := 1; err != nil && pg.IsConnectionLost(err) && ctx.Err() == nil && tries < 10; tries++ {
		current, err = migrations.Current(ctx, s.deps.DB.DB)
	}
	switch {
	case err != nil:
		s.log.WarnContext(r.Context(), "not ready: database unreachable", "err", err)
		writeErrorBody(w, http.StatusServiceUnavailable, "database_unavailable", "the database does not answer", "")
	case !current:
		writeErrorBody(w, http.StatusServiceUnavailable, "schema_outdated", "the database schema is not current; run directsms migrate", "")
	default:
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	}
}

type metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "directsms_http_requests_total",
			Help: "HTTP requests by route template, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "directsms_http_request_duration_seconds",
			Help:    "HTTP request latency by route template.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method"}),
	}
	reg.MustRegister(m.requests, m.duration)
	// A registry shared between servers in one process (tests) registers these once.
	_ = reg.Register(collectors.NewGoCollector())
	_ = reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observe(route, method string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route, method).Observe(d.Seconds())
}

func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{})
}
