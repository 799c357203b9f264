package gateway

import (
	"net/http"

	"directsms/directory"
)

// createQueue creates a queue: admins any, supervisors queues of their own teams.
func (s *Server) createQueue(w http.ResponseWriter, r *http.Request) {
	var in directory.NewQueue
	if err := decodeJSON(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	q, err := s.deps.Directory.CreateQueue(r.Context(), principal(r), in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, q)
}

// listQueues lists the tenant's queues, personal ones included unless ?personal=false.
func (s *Server) listQueues(w http.ResponseWriter, r *http.Request) {
	pg, err := pageParams(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	personal, err := boolParam(r, "personal")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	f := directory.QueueFilter{
		Kind: directory.QueueKind(q.Get("kind")), TeamID: q.Get("team_id"), UserID: q.Get("user_id"),
		ParentID: q.Get("parent_id"), Personal: personal, Page: directory.Page{Cursor: pg.Cursor, Limit: pg.Limit},
	}
	queues, err := s.deps.Directory.FindQueues(r.Context(), principal(r).TenantID, f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, newList(queues, pg.Limit, func(q directory.Queue) string { return q.ID }))
}

// getQueue answers one queue with its direct members.
func (s *Server) getQueue(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "queue")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	q, err := s.deps.Directory.GetQueue(r.Context(), principal(r).TenantID, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, q)
}

// updateQueue renames a queue or moves it in the tree.
func (s *Server) updateQueue(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "queue")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var upd directory.QueueUpdate
	if err := decodeJSON(r, &upd); err != nil {
		s.writeError(w, r, err)
		return
	}
	q, err := s.deps.Directory.UpdateQueue(r.Context(), principal(r), id, upd)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, q)
}

// deleteQueue deletes a leaf queue nothing uses.
func (s *Server) deleteQueue(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "queue")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.deps.Directory.DeleteQueue(r.Context(), principal(r), id); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// putQueueMembers replaces a queue's direct members and answers the queue.
func (s *Server) putQueueMembers(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "queue")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var in directory.QueueMembers
	if err := decodeJSON(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	q, err := s.deps.Directory.SetQueueMembers(r.Context(), principal(r), id, in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, q)
}
