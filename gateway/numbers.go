package gateway

import (
	"net/http"
	"strconv"

	"github.com/gorilla/mux"

	"directsms/directory"
	"directsms/internal/apperr"
	"directsms/numbers"
)

// Numbers are managed by admins; supervisors may read the inventory.

// numberPath is the {number} path variable, read by the store like any number of the tenant.
func numberPath(r *http.Request) string { return mux.Vars(r)["number"] }

func (s *Server) createNumber(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	if err := requireRole(p, directory.RoleAdmin); err != nil {
		s.writeError(w, r, err)
		return
	}
	var in struct {
		Number           string `json:"number"`
		Label            string `json:"label"`
		Direct           bool   `json:"direct"`
		CarrierAccountID string `json:"carrier_account_id"`
	}
	if err := decodeJSON(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	n, err := s.deps.Numbers.CreateNumber(r.Context(), p.TenantID, numbers.NewNumber{
		Number: in.Number, Label: in.Label, Direct: in.Direct, CarrierAccountID: in.CarrierAccountID,
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, n)
}

func (s *Server) listNumbers(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	if err := requireRole(p, directory.RoleAdmin, directory.RoleSupervisor); err != nil {
		s.writeError(w, r, err)
		return
	}
	pager, err := pageParams(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	f := numbers.NumberFilter{Status: numbers.Status(q.Get("status")), Query: q.Get("q"), Limit: pager.Limit, Cursor: pager.Cursor}
	if v := q.Get("direct"); v != "" {
		direct, err := strconv.ParseBool(v)
		if err != nil {
			s.writeError(w, r, apperr.Invalid("direct", "invalid_direct", "direct must be true or false"))
			return
		}
		f.Direct = &direct
	}
	list, err := s.deps.Numbers.FindNumbers(r.Context(), p.TenantID, f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, newList(list, pager.Limit, func(n numbers.Number) string { return string(n.E164) }))
}

func (s *Server) getNumber(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	if err := requireRole(p, directory.RoleAdmin, directory.RoleSupervisor); err != nil {
		s.writeError(w, r, err)
		return
	}
	n, err := s.deps.Numbers.GetNumber(r.Context(), p.TenantID, numberPath(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, n)
}

// numberWithRemoved is a number after a PATCH, with the assignments the change took away.
type numberWithRemoved struct {
	numbers.Number
	RemovedAssignments []numbers.Removed `json:"removed_assignments"`
}

func (s *Server) updateNumber(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	if err := requireRole(p, directory.RoleAdmin); err != nil {
		s.writeError(w, r, err)
		return
	}
	var in struct {
		Label  *string `json:"label"`
		Direct *bool   `json:"direct"`
	}
	if err := decodeJSON(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	n, removed, err := s.deps.Numbers.UpdateNumber(r.Context(), p.TenantID, numberPath(r), numbers.NumberUpdate{Label: in.Label, Direct: in.Direct})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, numberWithRemoved{Number: n, RemovedAssignments: removed})
}

func (s *Server) deleteNumber(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	if err := requireRole(p, directory.RoleAdmin); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.deps.Numbers.DeleteNumber(r.Context(), p.TenantID, numberPath(r)); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) verifyNumber(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	if err := requireRole(p, directory.RoleAdmin); err != nil {
		s.writeError(w, r, err)
		return
	}
	n, err := s.deps.Numbers.Verify(r.Context(), p.TenantID, numberPath(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, n)
}

func (s *Server) setNumberOutbound(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	if err := requireRole(p, directory.RoleAdmin); err != nil {
		s.writeError(w, r, err)
		return
	}
	var in struct {
		UserIDs  []string `json:"user_ids"`
		QueueIDs []string `json:"queue_ids"`
	}
	if err := decodeJSON(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	n, err := s.deps.Numbers.SetOutbound(r.Context(), p.TenantID, numberPath(r), numbers.Senders{UserIDs: in.UserIDs, QueueIDs: in.QueueIDs})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, n)
}

func (s *Server) assignUserNumber(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	if err := requireRole(p, directory.RoleAdmin); err != nil {
		s.writeError(w, r, err)
		return
	}
	userID, err := pathID(r, "id", "user")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	n, err := s.deps.Numbers.AssignToUser(r.Context(), p.TenantID, userID, numberPath(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, n)
}

func (s *Server) unassignUserNumber(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	if err := requireRole(p, directory.RoleAdmin); err != nil {
		s.writeError(w, r, err)
		return
	}
	userID, err := pathID(r, "id", "user")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.deps.Numbers.UnassignFromUser(r.Context(), p.TenantID, userID, numberPath(r)); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) assignQueueNumber(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	if err := requireRole(p, directory.RoleAdmin); err != nil {
		s.writeError(w, r, err)
		return
	}
	queueID, err := pathID(r, "id", "queue")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	n, err := s.deps.Numbers.AssignToQueue(r.Context(), p.TenantID, queueID, numberPath(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, n)
}

func (s *Server) unassignQueueNumber(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	if err := requireRole(p, directory.RoleAdmin); err != nil {
		s.writeError(w, r, err)
		return
	}
	queueID, err := pathID(r, "id", "queue")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.deps.Numbers.UnassignFromQueue(r.Context(), p.TenantID, queueID, numberPath(r)); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
