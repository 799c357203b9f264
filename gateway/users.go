package gateway

import (
	"net/http"
	"strconv"

	"github.com/gorilla/mux"

	"directsms/directory"
	"directsms/internal/apperr"
)

// createUser adds a user: admins anyone, supervisors agents and supervisors in their teams.
func (s *Server) createUser(w http.ResponseWriter, r *http.Request) {
	var in directory.NewUser
	if err := decodeJSON(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	u, err := s.deps.Directory.CreateUser(r.Context(), principal(r), in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, u)
}

// listUsers lists the tenant's users; every role may read the directory.
func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	pg, err := pageParams(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	inactive, err := boolParam(r, "include_inactive")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	f := directory.UserFilter{
		TeamID: q.Get("team_id"), Role: directory.Role(q.Get("role")), Status: directory.Status(q.Get("status")),
		IncludeInactive: inactive != nil && *inactive, Page: directory.Page{Cursor: pg.Cursor, Limit: pg.Limit},
	}
	users, err := s.deps.Directory.FindUsers(r.Context(), principal(r).TenantID, f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, newList(users, pg.Limit, func(u directory.User) string { return u.ID }))
}

// getUser answers one user, deactivated ones included.
func (s *Server) getUser(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "user")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	u, err := s.deps.Directory.GetUser(r.Context(), principal(r).TenantID, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

// updateUser changes the fields the body sets.
func (s *Server) updateUser(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "user")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var upd directory.UserUpdate
	if err := decodeJSON(r, &upd); err != nil {
		s.writeError(w, r, err)
		return
	}
	u, err := s.deps.Directory.UpdateUser(r.Context(), principal(r), id, upd)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

// deactivateUser is DELETE: the user stops working and stays for reports.
func (s *Server) deactivateUser(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "user")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.deps.Directory.DeactivateUser(r.Context(), principal(r), id); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// listUserChannels answers a user's settings on every channel. There are five channels, so
// the list is always one page.
func (s *Server) listUserChannels(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "user")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	chans, err := s.deps.Directory.UserChannels(r.Context(), principal(r).TenantID, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, newList(chans, len(chans), func(c directory.UserChannel) string { return string(c.Channel) }))
}

// updateUserChannel turns a user's channel on or off and sets or clears its capacity.
func (s *Server) updateUserChannel(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "user")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ch, err := directory.ParseChannel("channel", mux.Vars(r)["channel"])
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var upd directory.ChannelUpdate
	if err := decodeJSON(r, &upd); err != nil {
		s.writeError(w, r, err)
		return
	}
	c, err := s.deps.Directory.UpdateUserChannel(r.Context(), principal(r), id, ch, upd)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if ch == directory.ChannelSMS && upd.Enabled != nil && *upd.Enabled {
		s.offerWaiting(r, id)
	}
	writeJSON(w, http.StatusOK, c)
}

// setUserStatus sets a status: the user itself, admins, or a supervisor of the user's teams.
func (s *Server) setUserStatus(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "user")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var in struct {
		Status directory.Status `json:"status"`
		Reason string           `json:"reason"`
	}
	if err := decodeJSON(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	u, err := s.deps.Directory.ChangeStatus(r.Context(), principal(r), id, in.Status, in.Reason)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if u.Status == directory.StatusAvailable {
		s.offerWaiting(r, id)
	}
	writeJSON(w, http.StatusOK, u)
}

// offerWaiting offers a user who may just have become eligible the sessions waiting in its
// queues. The change that made it eligible is committed whatever happens here, so a failure is
// logged, not answered: the sessions stay waiting for the next change.
func (s *Server) offerWaiting(r *http.Request, userID string) {
	if s.deps.Routing == nil {
		return
	}
	if _, err := s.deps.Routing.OfferWaiting(r.Context(), principal(r).TenantID, userID); err != nil {
		s.log.ErrorContext(r.Context(), "offer waiting sessions", "user_id", userID, "err", err)
	}
}

// boolParam reads an optional true/false query parameter; nil when absent.
func boolParam(r *http.Request, name string) (*bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return nil, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return nil, apperr.Invalid(name, "invalid_boolean", name+" must be true or false")
	}
	return &b, nil
}
