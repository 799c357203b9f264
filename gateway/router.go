package gateway

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"directsms/deflection"
)

// routes builds the whole router. Every route is registered here, with its methods, so the
// route list and the OpenAPI document can be compared.
func (s *Server) routes() http.Handler {
	r := mux.NewRouter()
	r.NotFoundHandler = http.HandlerFunc(s.notFound)
	r.MethodNotAllowedHandler = http.HandlerFunc(s.methodNotAllowed)
	r.Use(s.routeMiddleware)

	r.HandleFunc("/healthz", s.healthz).Methods(http.MethodGet)
	r.HandleFunc("/readyz", s.readyz).Methods(http.MethodGet)
	r.Handle("/metrics", s.metricsHandler()).Methods(http.MethodGet)
	r.HandleFunc("/openapi.json", s.openapi).Methods(http.MethodGet)

	// Carrier webhooks: outside /v1, authenticated by the carrier's signature, not a bearer key.
	r.HandleFunc("/webhooks/twilio/messages", s.twilioMessages).Methods(http.MethodPost)
	r.HandleFunc(twilioStatusPath, s.twilioStatus).Methods(http.MethodPost)
	r.HandleFunc(telnyxWebhookPath, s.telnyxWebhook).Methods(http.MethodPost)

	v1 := apiRoutes{router: r, auth: s.authenticate}

	v1.HandleFunc("/users/{id}/api-keys", s.createAPIKey).Methods(http.MethodPost)
	v1.HandleFunc("/api-keys/{id}", s.deleteAPIKey).Methods(http.MethodDelete)

	// Directory: tenant settings, users with their channels and status, teams, queues.
	v1.HandleFunc("/settings", s.getSettings).Methods(http.MethodGet)
	v1.HandleFunc("/settings", s.updateSettings).Methods(http.MethodPatch)
	v1.HandleFunc("/users", s.createUser).Methods(http.MethodPost)
	v1.HandleFunc("/users", s.listUsers).Methods(http.MethodGet)
	v1.HandleFunc("/users/{id}", s.getUser).Methods(http.MethodGet)
	v1.HandleFunc("/users/{id}", s.updateUser).Methods(http.MethodPatch)
	v1.HandleFunc("/users/{id}", s.deactivateUser).Methods(http.MethodDelete)
	v1.HandleFunc("/users/{id}/channels", s.listUserChannels).Methods(http.MethodGet)
	v1.HandleFunc("/users/{id}/channels/{channel}", s.updateUserChannel).Methods(http.MethodPatch)
	v1.HandleFunc("/users/{id}/status", s.setUserStatus).Methods(http.MethodPut)
	v1.HandleFunc("/teams", s.createTeam).Methods(http.MethodPost)
	v1.HandleFunc("/teams", s.listTeams).Methods(http.MethodGet)
	v1.HandleFunc("/teams/{id}", s.getTeam).Methods(http.MethodGet)
	v1.HandleFunc("/teams/{id}", s.updateTeam).Methods(http.MethodPatch)
	v1.HandleFunc("/teams/{id}", s.deleteTeam).Methods(http.MethodDelete)
	v1.HandleFunc("/teams/{id}/members/{user_id}", s.putTeamMember).Methods(http.MethodPut)
	v1.HandleFunc("/teams/{id}/members/{user_id}", s.deleteTeamMember).Methods(http.MethodDelete)
	v1.HandleFunc("/queues", s.createQueue).Methods(http.MethodPost)
	v1.HandleFunc("/queues", s.listQueues).Methods(http.MethodGet)
	v1.HandleFunc("/queues/{id}", s.getQueue).Methods(http.MethodGet)
	v1.HandleFunc("/queues/{id}", s.updateQueue).Methods(http.MethodPatch)
	v1.HandleFunc("/queues/{id}", s.deleteQueue).Methods(http.MethodDelete)
	v1.HandleFunc("/queues/{id}/members", s.putQueueMembers).Methods(http.MethodPut)

	// The caller's real-time event stream (Server-Sent Events).
	v1.HandleFunc("/events", s.streamEvents).Methods(http.MethodGet)

	// Carrier accounts and the number inventory: verification, assignment, bulk assignment.
	v1.HandleFunc("/carrier-accounts", s.createCarrierAccount).Methods(http.MethodPost)
	v1.HandleFunc("/carrier-accounts", s.listCarrierAccounts).Methods(http.MethodGet)
	v1.HandleFunc("/carrier-accounts/{id}", s.getCarrierAccount).Methods(http.MethodGet)
	v1.HandleFunc("/carrier-accounts/{id}", s.updateCarrierAccount).Methods(http.MethodPatch)
	v1.HandleFunc("/carrier-accounts/{id}", s.deleteCarrierAccount).Methods(http.MethodDelete)
	v1.HandleFunc("/numbers", s.createNumber).Methods(http.MethodPost)
	v1.HandleFunc("/numbers", s.listNumbers).Methods(http.MethodGet)
	v1.HandleFunc("/numbers/{number}", s.getNumber).Methods(http.MethodGet)
	v1.HandleFunc("/numbers/{number}", s.updateNumber).Methods(http.MethodPatch)
	v1.HandleFunc("/numbers/{number}", s.deleteNumber).Methods(http.MethodDelete)
	v1.HandleFunc("/numbers/{number}/verify", s.verifyNumber).Methods(http.MethodPost)
	v1.HandleFunc("/numbers/{number}/outbound", s.setNumberOutbound).Methods(http.MethodPut)
	v1.HandleFunc("/users/{id}/direct-numbers/{number}", s.assignUserNumber).Methods(http.MethodPut)
	v1.HandleFunc("/users/{id}/direct-numbers/{number}", s.unassignUserNumber).Methods(http.MethodDelete)
	v1.HandleFunc("/queues/{id}/numbers/{number}", s.assignQueueNumber).Methods(http.MethodPut)
	v1.HandleFunc("/queues/{id}/numbers/{number}", s.unassignQueueNumber).Methods(http.MethodDelete)
	v1.HandleFunc("/bulk/direct-numbers", s.bulkAssignDirectNumbers).Methods(http.MethodPost)

	// Reporting and events: session reports and exports, event webhooks and their delivery logs.
	v1.HandleFunc("/reports/sessions", s.sessionReport).Methods(http.MethodGet)
	v1.HandleFunc("/exports/sessions", s.exportSessions).Methods(http.MethodGet)
	v1.HandleFunc("/event-subscriptions", s.createEventSubscription).Methods(http.MethodPost)
	v1.HandleFunc("/event-subscriptions", s.listEventSubscriptions).Methods(http.MethodGet)
	v1.HandleFunc("/event-subscriptions/{id}", s.getEventSubscription).Methods(http.MethodGet)
	v1.HandleFunc("/event-subscriptions/{id}", s.deleteEventSubscription).Methods(http.MethodDelete)
	v1.HandleFunc("/event-subscriptions/{id}/deliveries", s.listEventDeliveries).Methods(http.MethodGet)

	// Sessions and routing.
	v1.HandleFunc("/sessions", s.listSessions).Methods(http.MethodGet)
	v1.HandleFunc("/sessions/{id}", s.getSession).Methods(http.MethodGet)
	v1.HandleFunc("/sessions/{id}/messages", s.listSessionMessages).Methods(http.MethodGet)
	v1.HandleFunc("/sessions/{id}/accept", s.acceptSession).Methods(http.MethodPost)
	v1.HandleFunc("/sessions/{id}/close", s.closeSession).Methods(http.MethodPost)
	v1.HandleFunc("/routing/explain", s.explainRouting).Methods(http.MethodGet)

	// After-hours deflection: the global level and the team, user and queue overrides.
	v1.HandleFunc("/deflection", s.getDeflection(deflection.SourceGlobal)).Methods(http.MethodGet)
	v1.HandleFunc("/deflection", s.putDeflection(deflection.SourceGlobal)).Methods(http.MethodPut)
	v1.HandleFunc("/deflection", s.deleteDeflection(deflection.SourceGlobal)).Methods(http.MethodDelete)
	v1.HandleFunc("/teams/{id}/deflection", s.getDeflection(deflection.SourceTeam)).Methods(http.MethodGet)
	v1.HandleFunc("/teams/{id}/deflection", s.putDeflection(deflection.SourceTeam)).Methods(http.MethodPut)
	v1.HandleFunc("/teams/{id}/deflection", s.deleteDeflection(deflection.SourceTeam)).Methods(http.MethodDelete)
	v1.HandleFunc("/users/{id}/deflection", s.getDeflection(deflection.SourceUser)).Methods(http.MethodGet)
	v1.HandleFunc("/users/{id}/deflection", s.putDeflection(deflection.SourceUser)).Methods(http.MethodPut)
	v1.HandleFunc("/users/{id}/deflection", s.deleteDeflection(deflection.SourceUser)).Methods(http.MethodDelete)
	v1.HandleFunc("/queues/{id}/deflection", s.getDeflection(deflection.SourceQueue)).Methods(http.MethodGet)
	v1.HandleFunc("/queues/{id}/deflection", s.putDeflection(deflection.SourceQueue)).Methods(http.MethodPut)
	v1.HandleFunc("/queues/{id}/deflection", s.deleteDeflection(deflection.SourceQueue)).Methods(http.MethodDelete)

	// Outbound texts.
	v1.HandleFunc("/messages", s.createMessage).Methods(http.MethodPost)
	v1.HandleFunc("/messages/{id}", s.getMessage).Methods(http.MethodGet)

	s.router = r
	return s.outer(r)
}

// apiRoutes registers the /v1 routes on the root router, each behind authentication. A mux
// subrouter would be simpler, but mux 1.8.1 answers 404 instead of 405 for a wrong method on a
// subrouter path whenever another route follows it (the subrouter's prefix matcher, copied into
// every route, clears the method mismatch).
type apiRoutes struct {
	router *mux.Router
	auth   func(http.Handler) http.Handler
}

// HandleFunc registers h at "/v1" + path; add .Methods() as on a mux route.
func (a apiRoutes) HandleFunc(path string, h http.HandlerFunc) *mux.Route {
	return a.router.Handle("/v1"+path, a.auth(h))
}

// Route is one method and path template the router serves.
type Route struct {
	Method string
	Path   string
}

// Routes lists every method and path template the router serves, sorted, so tests can compare
// them with the OpenAPI document.
func (s *Server) Routes() []Route {
	var out []Route
	s.router.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error { //nolint:errcheck // the walk function never fails
		tpl, err := route.GetPathTemplate()
		if err != nil {
			return nil
		}
		methods, err := route.GetMethods()
		if err != nil {
			return nil // a path prefix, not an endpoint
		}
		for _, m := range methods {
			out = append(out, Route{Method: m, Path: tpl})
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].Method < out[j].Method
	})
	return out
}

// outer wraps the whole router: recovery, request logging, metrics and the body limit apply to
// every request, matched or not (mux's own middleware skips unmatched ones).
func (s *Server) outer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &requestInfo{route: "unmatched"}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info))
		if r.Body != nil {
			r.Body = http.MaxBytesReader(rec, r.Body, s.bodyLimit(r))
		}
		if err := checkQuery(r); err != nil {
			s.writeError(rec, r, err)
			s.metrics.observe(info.route, r.Method, rec.status, time.Since(start))
			return
		}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.ErrorContext(r.Context(), "panic serving request", "route", info.route, "method", r.Method, "panic", p)
				if !rec.wrote {
					writeErrorBody(rec, http.StatusInternalServerError, "internal", "internal error", "")
				}
			}
			elapsed := time.Since(start)
			s.metrics.observe(info.route, r.Method, rec.status, elapsed)
			if info.route == "/metrics" || info.route == "/healthz" {
				return
			}
			s.log.InfoContext(r.Context(), "request",
				"method", r.Method, "route", info.route, "status", rec.status,
				"duration_ms", float64(elapsed.Microseconds())/1000, "tenant_id", info.tenantID)
		}()
		next.ServeHTTP(rec, r)
	})
}

// bodyLimit is the body limit for r: bulk files get their own, larger one.
func (s *Server) bodyLimit(r *http.Request) int64 {
	if strings.HasPrefix(r.URL.Path, "/v1/bulk/") {
		return s.cfg.MaxBulkBodyBytes
	}
	return s.cfg.MaxBodyBytes
}

// routeMiddleware records the matched route template for logs and metrics.
func (s *Server) routeMiddleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if route := mux.CurrentRoute(r); route != nil {
			if tpl, err := route.GetPathTemplate(); err == nil {
				infoFrom(r.Context()).route = tpl
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	writeErrorBody(w, http.StatusNotFound, "not_found", "no such route: "+r.Method+" "+r.URL.Path, "")
}

func (s *Server) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	writeErrorBody(w, http.StatusMethodNotAllowed, "method_not_allowed", "method "+r.Method+" is not allowed on "+r.URL.Path, "")
}

type requestInfoKey struct{}

// requestInfo is filled in as a request goes through the router, for the outer log line.
type requestInfo struct {
	route    string
	tenantID string
}

func infoFrom(ctx context.Context) *requestInfo {
	if info, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		return info
	}
	return &requestInfo{}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status = code
		r.wrote = true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

// Flush lets streaming handlers (server-sent events, CSV exports) flush through the recorder.
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// FlushError is Flush that reports a failed write, so a stream knows whether what it sent left
// the server (http.ResponseController prefers it to Flush).
func (r *statusRecorder) FlushError() error {
	return http.NewResponseController(r.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the real writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
