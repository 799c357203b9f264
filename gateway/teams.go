package gateway

import (
	"net/http"

	"directsms/directory"
)

// createTeam creates a team; admins only.
func (s *Server) createTeam(w http.ResponseWriter, r *http.Request) {
	var in directory.NewTeam
	if err := decodeJSON(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	t, err := s.deps.Directory.CreateTeam(r.Context(), principal(r), in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, t)
}

// listTeams lists the tenant's teams, optionally those of one user.
func (s *Server) listTeams(w http.ResponseWriter, r *http.Request) {
	pg, err := pageParams(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	f := directory.TeamFilter{UserID: r.URL.Query().Get("user_id"), Page: directory.Page{Cursor: pg.Cursor, Limit: pg.Limit}}
	teams, err := s.deps.Directory.FindTeams(r.Context(), principal(r).TenantID, f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, newList(teams, pg.Limit, func(t directory.Team) string { return t.ID }))
}

// getTeam answers one team.
func (s *Server) getTeam(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "team")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	t, err := s.deps.Directory.GetTeam(r.Context(), principal(r).TenantID, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

// updateTeam renames a team: admins any, supervisors their own.
func (s *Server) updateTeam(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "team")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var upd directory.TeamUpdate
	if err := decodeJSON(r, &upd); err != nil {
		s.writeError(w, r, err)
		return
	}
	t, err := s.deps.Directory.UpdateTeam(r.Context(), principal(r), id, upd)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

// deleteTeam deletes a team; admins only.
func (s *Server) deleteTeam(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "team")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.deps.Directory.DeleteTeam(r.Context(), principal(r), id); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// putTeamMember adds a user to a team and answers the user.
func (s *Server) putTeamMember(w http.ResponseWriter, r *http.Request) {
	teamID, userID, err := teamMemberIDs(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	u, err := s.deps.Directory.AddTeamMember(r.Context(), principal(r), teamID, userID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

// deleteTeamMember takes a user out of a team; never their last one.
func (s *Server) deleteTeamMember(w http.ResponseWriter, r *http.Request) {
	teamID, userID, err := teamMemberIDs(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.deps.Directory.RemoveTeamMember(r.Context(), principal(r), teamID, userID); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func teamMemberIDs(r *http.Request) (teamID, userID string, err error) {
	if teamID, err = pathID(r, "id", "team"); err != nil {
		return "", "", err
	}
	if userID, err = pathID(r, "user_id", "user"); err != nil {
		return "", "", err
	}
	return teamID, userID, nil
}
