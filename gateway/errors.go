package gateway

import (
	"encoding/json"
	"errors"
	"net/http"

	"directsms/internal/apperr"
)

// statusOf is the one table from error kinds to HTTP statuses.
var statusOf = map[apperr.Kind]int{
	apperr.KindInvalid:         http.StatusUnprocessableEntity,
	apperr.KindBadRequest:      http.StatusBadRequest,
	apperr.KindConflict:        http.StatusConflict,
	apperr.KindNotFound:        http.StatusNotFound,
	apperr.KindForbidden:       http.StatusForbidden,
	apperr.KindUnauthenticated: http.StatusUnauthorized,
	apperr.KindTooLarge:        http.StatusRequestEntityTooLarge,
	apperr.KindUnavailable:     http.StatusServiceUnavailable,
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// writeError answers err: a caller error with its status and code, anything else as a 500 whose
// detail is logged here, once, and never echoed.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		writeErrorBody(w, http.StatusRequestEntityTooLarge, "body_too_large", "the request body is over the limit", "")
		return
	}
	if e, ok := apperr.As(err); ok {
		status, known := statusOf[e.Kind]
		if !known {
			status = http.StatusInternalServerError
		}
		writeErrorBody(w, status, e.Code, e.Message, e.Field)
		return
	}
	if r.Context().Err() != nil {
		// The client went away; nobody reads this answer.
		writeErrorBody(w, http.StatusServiceUnavailable, "canceled", "the request was canceled", "")
		return
	}
	s.log.ErrorContext(r.Context(), "internal error", "route", infoFrom(r.Context()).route, "method", r.Method, "err", err)
	writeErrorBody(w, http.StatusInternalServerError, "internal", "internal error", "")
}

func writeErrorBody(w http.ResponseWriter, status int, code, message, field string) {
	writeJSON(w, status, errorBody{Error: errorDetail{Code: code, Message: message, Field: field}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v) //nolint:errcheck // the client may have gone; nothing to do about it
}
