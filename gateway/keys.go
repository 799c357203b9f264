package gateway

import (
	"net/http"

	"directsms/directory"
	"directsms/internal/apperr"
)

// createAPIKey issues a key: admins for any user of the tenant, anyone for themselves.
func (s *Server) createAPIKey(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	userID, err := pathID(r, "id", "user")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if userID != p.UserID {
		if err := requireRole(p, directory.RoleAdmin); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	var in struct {
		Label string `json:"label"`
	}
	if err := decodeOptionalJSON(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	key, err := s.deps.Directory.CreateAPIKey(r.Context(), p.TenantID, userID, in.Label)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, key)
}

// deleteAPIKey revokes a key: admins any key of the tenant, anyone their own.
func (s *Server) deleteAPIKey(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	keyID, err := pathID(r, "id", "api key")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	owner, err := s.deps.Directory.KeyOwner(r.Context(), p.TenantID, keyID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if owner != p.UserID && p.Role != directory.RoleAdmin {
		s.writeError(w, r, apperr.NotFound("api key"))
		return
	}
	if err := s.deps.Directory.RevokeAPIKey(r.Context(), p.TenantID, keyID); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
