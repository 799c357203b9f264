package gateway

import (
	"mime"
	"net/http"
	"strconv"
	"strings"

	"directsms/directory"
	"directsms/internal/apperr"
	"directsms/numbers"
)

// bulkAssignDirectNumbers applies a CSV of email,direct_number[,direct_number...] (admin). The
// answer is the summary with the error log, or with Accept: text/csv the error log alone as CSV,
// the summary then in X-Bulk-* headers.
func (s *Server) bulkAssignDirectNumbers(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	if err := requireRole(p, directory.RoleAdmin); err != nil {
		s.writeError(w, r, err)
		return
	}
	dryRun := false
	if v := r.URL.Query().Get("dry_run"); v != "" {
		var err error
		if dryRun, err = strconv.ParseBool(v); err != nil {
			s.writeError(w, r, apperr.Invalid("dry_run", "invalid_dry_run", "dry_run must be true or false"))
			return
		}
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || (mt != "text/csv" && mt != "application/csv" && mt != "text/plain") {
		s.writeError(w, r, apperr.BadRequest("", "the body must be a CSV file sent with Content-Type: text/csv"))
		return
	}
	file, err := numbers.ParseBulkCSV(r.Body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.deps.Numbers.BulkAssign(r.Context(), p.TenantID, file, dryRun)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !wantsCSV(r) {
		writeJSON(w, http.StatusOK, res)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="direct-numbers-errors.csv"`)
	h.Set("X-Bulk-Rows", strconv.Itoa(res.Rows))
	h.Set("X-Bulk-Applied", strconv.Itoa(res.Applied))
	h.Set("X-Bulk-Unchanged", strconv.Itoa(res.Unchanged))
	h.Set("X-Bulk-Failed", strconv.Itoa(res.Failed))
	h.Set("X-Bulk-Dry-Run", strconv.FormatBool(res.DryRun))
	w.WriteHeader(http.StatusOK)
	numbers.WriteErrorsCSV(w, res.Errors) //nolint:errcheck // the client may have gone; nothing to do about it
}

// wantsCSV reports whether the Accept header asks for CSV rather than JSON.
func wantsCSV(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == "text/csv" {
			return true
		}
	}
	return false
}
