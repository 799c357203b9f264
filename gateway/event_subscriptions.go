package gateway

import (
	"net/http"
	"strconv"

	"directsms/directory"
	"directsms/reporting"
)

// createEventSubscription registers a webhook: admins only. The secret is write-only.
func (s *Server) createEventSubscription(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	if err := requireRole(p, directory.RoleAdmin); err != nil {
		s.writeError(w, r, err)
		return
	}
	var in struct {
		URL    string   `json:"url"`
		Secret string   `json:"secret"`
		Events []string `json:"events"`
	}
	if err := decodeJSON(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	sub, err := s.deps.Reporting.CreateSubscription(r.Context(), p.TenantID, p.UserID,
		reporting.NewSubscription{URL: in.URL, Secret: in.Secret, Events: in.Events}, s.cfg.AllowPrivateURLs)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, sub)
}

// listEventSubscriptions lists the tenant's webhooks: admins and supervisors.
func (s *Server) listEventSubscriptions(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	if err := requireRole(p, directory.RoleAdmin, directory.RoleSupervisor); err != nil {
		s.writeError(w, r, err)
		return
	}
	pg, err := pageParams(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	subs, err := s.deps.Reporting.ListSubscriptions(r.Context(), p.TenantID, pg.Cursor, pg.Limit+1)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, newList(subs, pg.Limit, func(sub reporting.Subscription) string { return sub.ID }))
}

// getEventSubscription shows one webhook: admins and supervisors.
func (s *Server) getEventSubscription(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	if err := requireRole(p, directory.RoleAdmin, directory.RoleSupervisor); err != nil {
		s.writeError(w, r, err)
		return
	}
	id, err := pathID(r, "id", "event subscription")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	sub, err := s.deps.Reporting.GetSubscription(r.Context(), p.TenantID, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sub)
}

// deleteEventSubscription removes a webhook with its pending deliveries and log: admins only.
func (s *Server) deleteEventSubscription(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	if err := requireRole(p, directory.RoleAdmin); err != nil {
		s.writeError(w, r, err)
		return
	}
	id, err := pathID(r, "id", "event subscription")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.deps.Reporting.DeleteSubscription(r.Context(), p.TenantID, id); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// listEventDeliveries is a webhook's delivery log, newest try first: admins and supervisors.
func (s *Server) listEventDeliveries(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	if err := requireRole(p, directory.RoleAdmin, directory.RoleSupervisor); err != nil {
		s.writeError(w, r, err)
		return
	}
	id, err := pathID(r, "id", "event subscription")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	pg, err := pageParams(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	tries, err := s.deps.Reporting.ListAttempts(r.Context(), p.TenantID, id, pg.Cursor, pg.Limit+1)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, newList(tries, pg.Limit, func(a reporting.Attempt) string { return strconv.FormatInt(a.ID, 10) }))
}
