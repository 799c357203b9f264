package gateway

import (
	"net/http"

	"directsms/directory"
)

// getSettings answers the tenant's settings; every role may read them (they hold no secret and
// agents' clients show the time zone and channel capacities).
func (s *Server) getSettings(w http.ResponseWriter, r *http.Request) {
	st, err := s.deps.Directory.GetSettings(r.Context(), principal(r).TenantID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// updateSettings changes the fields the body sets; admins only.
func (s *Server) updateSettings(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	if err := requireRole(p, directory.RoleAdmin); err != nil {
		s.writeError(w, r, err)
		return
	}
	var upd directory.SettingsUpdate
	if err := decodeJSON(r, &upd); err != nil {
		s.writeError(w, r, err)
		return
	}
	st, err := s.deps.Directory.UpdateSettings(r.Context(), p, upd)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}
