package gateway

import (
	"net/http"

	"directsms/routing"
)

// createMessage queues an agent's text: POST /v1/messages. A retry with the same
// Idempotency-Key answers the first answer again, marked with Idempotent-Replayed: true.
func (s *Server) createMessage(w http.ResponseWriter, r *http.Request) {
	var in struct {
		To        string `json:"to"`
		Body      string `json:"body"`
		From      string `json:"from"`
		SessionID string `json:"session_id"`
	}
	if err := decodeJSON(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	q, err := s.deps.Outbound.Send(r.Context(), principal(r), routing.SendRequest{
		To: in.To, Body: in.Body, From: in.From, SessionID: in.SessionID,
		IdempotencyKey: r.Header.Get("Idempotency-Key"),
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if q.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	writeJSON(w, http.StatusAccepted, q)
}

// getMessage answers one message the caller may see: GET /v1/messages/{id}.
func (s *Server) getMessage(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", "message")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	m, err := s.deps.Outbound.GetMessage(r.Context(), principal(r), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}
