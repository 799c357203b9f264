package gateway

import (
	"net/http"

	"directsms/deflection"
	"directsms/internal/apperr"
)

// deflectionInput is the body of PUT …/deflection: a whole settings object. source is accepted
// and ignored, so that a GET answer can be edited and sent back as it is.
type deflectionInput struct {
	Enabled *bool                `json:"enabled"`
	Hours   *deflection.Schedule `json:"hours"`
	Message string               `json:"message"`
	Source  *string              `json:"source"`
}

// deflectionScope reads the level a deflection route addresses from its path.
func deflectionScope(r *http.Request, level deflection.Source) (deflection.Scope, error) {
	if level == deflection.SourceGlobal {
		return deflection.GlobalScope, nil
	}
	id, err := pathID(r, "id", string(level))
	if err != nil {
		return deflection.Scope{}, err
	}
	return deflection.Scope{Level: level, ID: id}, nil
}

// getDeflection answers a level's effective settings and the level they come from.
func (s *Server) getDeflection(level deflection.Source) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sc, err := deflectionScope(r, level)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		eff, err := s.deps.Deflection.Get(r.Context(), principal(r), sc)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, eff)
	}
}

// putDeflection overrides a level with the whole settings object of the body.
func (s *Server) putDeflection(level deflection.Source) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sc, err := deflectionScope(r, level)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		var in deflectionInput
		if err := decodeJSON(r, &in); err != nil {
			s.writeError(w, r, err)
			return
		}
		if in.Enabled == nil {
			s.writeError(w, r, apperr.Invalid("enabled", "required", "enabled is required: a level's settings are replaced whole"))
			return
		}
		set := deflection.Settings{Enabled: *in.Enabled, Message: in.Message}
		if in.Hours != nil {
			set.Hours = *in.Hours
		}
		eff, err := s.deps.Deflection.Put(r.Context(), principal(r), sc, set)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, eff)
	}
}

// deleteDeflection resets a level to inherit.
func (s *Server) deleteDeflection(level deflection.Source) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sc, err := deflectionScope(r, level)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if err := s.deps.Deflection.Reset(r.Context(), principal(r), sc); err != nil {
			s.writeError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}
