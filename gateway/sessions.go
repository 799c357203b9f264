package gateway

import (
	"net/http"
	"time"

	"directsms/directory"
	"directsms/internal/apperr"
	"directsms/routing"
)

// listSessions answers the sessions the caller may see: agents theirs, their queues' and those
// offered to them; supervisors and admins all of the tenant's.
func (s *Server) listSessions(w http.ResponseWriter, r *http.Request) {
	pg, err := pageParams(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	rows, err := s.deps.Routing.FindSessions(r.Context(), principal(r), routing.SessionFilter{
		Status: q.Get("status"), Type: q.Get("type"), Assignee: q.Get("assignee"), QueueID: q.Get("queue_id"),
		Number: q.Get("number"), Contact: q.Get("contact"), Limit: pg.Limit, Cursor: pg.Cursor,
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, newList(rows, pg.Limit, func(x routing.Session) string { return x.ID }))
}

// getSession answers one session with its timeline.
func (s *Server) getSession(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "session")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	sess, err := s.deps.Routing.GetSession(r.Context(), principal(r), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sess)
}

// listSessionMessages answers a session's messages, oldest first.
func (s *Server) listSessionMessages(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "session")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	pg, err := pageParams(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rows, err := s.deps.Routing.SessionMessages(r.Context(), principal(r), id, pg.Limit, pg.Cursor)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, newList(rows, pg.Limit, func(m routing.Message) string { return m.ID }))
}

// acceptSession makes the caller the session's assignee; the first to accept wins.
func (s *Server) acceptSession(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "session")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	sess, err := s.deps.Routing.Accept(r.Context(), principal(r), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sess)
}

// closeSession closes a session: its assignee, a supervisor or an admin.
func (s *Server) closeSession(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "session")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	sess, err := s.deps.Routing.CloseSession(r.Context(), principal(r), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sess)
}

// explainRouting answers what would happen to a text from ?from= to ?to= at ?at= (RFC 3339,
// default now): admins and supervisors.
func (s *Server) explainRouting(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	if err := requireRole(p, directory.RoleAdmin, directory.RoleSupervisor); err != nil {
		s.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	if q.Get("to") == "" {
		s.writeError(w, r, apperr.Invalid("to", "invalid_number", "to is required: the tenant number a text would go to"))
		return
	}
	at := s.now()
	if v := q.Get("at"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			s.writeError(w, r, apperr.Invalid("at", "invalid_time", "at must be an RFC 3339 time, like 2026-03-08T09:30:00Z"))
			return
		}
		at = t
	}
	ex, err := s.deps.Routing.Explain(r.Context(), p.TenantID, q.Get("to"), q.Get("from"), at)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ex)
}
