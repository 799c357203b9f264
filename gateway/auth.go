package gateway

import (
	"context"
	"net/http"
	"strings"

	"directsms/directory"
	"directsms/internal/apperr"
)

type principalKey struct{}

// authenticate resolves the bearer key of every /v1 request to its principal.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		key, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok || key == "" {
			s.writeError(w, r, directory.ErrUnauthenticated)
			return
		}
		p, err := s.deps.Directory.Authenticate(r.Context(), strings.TrimSpace(key))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		infoFrom(r.Context()).tenantID = p.TenantID
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

// principal is the authenticated caller; authenticate guarantees one on /v1 routes.
func principal(r *http.Request) directory.Principal {
	p, _ := r.Context().Value(principalKey{}).(directory.Principal)
	return p
}

// requireRole answers 403 unless the caller has one of roles.
func requireRole(p directory.Principal, roles ...directory.Role) error {
	for _, role := range roles {
		if p.Role == role {
			return nil
		}
	}
	return apperr.Forbidden("your role (" + string(p.Role) + ") may not do this")
}
