package gateway

import (
	"mime"
	"net/http"

	"directsms/directory"
	"directsms/reporting"
)

// sessionReport answers GET /v1/reports/sessions: grouped session figures as JSON, or as CSV
// when the client asks for text/csv (Accept) or format=csv. Admins and supervisors only.
func (s *Server) sessionReport(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	if err := requireRole(p, directory.RoleAdmin, directory.RoleSupervisor); err != nil {
		s.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	rep, err := s.deps.Reporting.SessionReport(r.Context(), p.TenantID, reporting.ReportQuery{
		From: q.Get("from"), To: q.Get("to"), GroupBy: q["group_by"], Types: q["type"],
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	format := q.Get("format")
	if format == "json" || (format != "csv" && !wantsCSV(r)) {
		writeJSON(w, http.StatusOK, rep)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="sessions-report.csv"`)
	w.WriteHeader(http.StatusOK)
	rep.WriteCSV(w) //nolint:errcheck // the client may have gone; nothing to do about it
}

// exportSessions answers GET /v1/exports/sessions: one CSV record per session, streamed as the
// rows are read. Admins and supervisors only.
func (s *Server) exportSessions(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	if err := requireRole(p, directory.RoleAdmin, directory.RoleSupervisor); err != nil {
		s.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	exp, err := s.deps.Reporting.Export(r.Context(), p.TenantID, reporting.ExportQuery{
		From: q.Get("from"), To: q.Get("to"), Types: q["type"],
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	name := "sessions-" + exp.Range.From.Format("20060102T150405Z") + "-" + exp.Range.To.Format("20060102T150405Z") + ".csv"
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	flush := func() {
		// A flush fails only when the client has gone, and the next write says so.
		_ = rc.Flush()
	}
	if err := exp.WriteCSV(r.Context(), w, flush); err != nil {
		if r.Context().Err() == nil {
			s.log.ErrorContext(r.Context(), "export sessions", "tenant_id", p.TenantID, "err", err)
		}
		// The status is sent: abort the response so the client sees a broken transfer, never a
		// file that looks complete.
		panic(http.ErrAbortHandler)
	}
}
