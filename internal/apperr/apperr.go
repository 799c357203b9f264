// Package apperr is the one error type the domain packages return for anything a caller did
// wrong, and that the gateway maps to an HTTP status in one table. A Kind says what went wrong,
// a Code is the stable machine-readable name from API.md, Field names the input at fault. Errors
// that are not an *Error are internal faults. It must not import any other directsms package.
package apperr

import (
	"errors"
	"fmt"
)

// Kind is a class of caller error; the gateway gives each one status.
type Kind int

// The kinds of caller error.
const (
	KindInvalid         Kind = iota + 1 // a well-formed but invalid value: 422
	KindBadRequest                      // a malformed request: 400
	KindConflict                        // the state forbids it: 409
	KindNotFound                        // no such thing in the caller's tenant: 404
	KindForbidden                       // the caller's role may not: 403
	KindUnauthenticated                 // no valid key: 401
	KindTooLarge                        // the body is over the limit: 413
	KindUnavailable                     // a dependency is down: 503
)

// Error is a caller error with a stable code.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Field   string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s (%s)", e.Code, e.Message, e.Field)
	}
	return e.Code + ": " + e.Message
}

// Invalid is a 422 for one input field.
func Invalid(field, code, message string) *Error {
	return &Error{Kind: KindInvalid, Code: code, Message: message, Field: field}
}

// BadRequest is a 400 invalid_request, naming the field when one is at fault.
func BadRequest(field, message string) *Error {
	return &Error{Kind: KindBadRequest, Code: "invalid_request", Message: message, Field: field}
}

// Conflict is a 409 with a specific code.
func Conflict(code, message string) *Error {
	return &Error{Kind: KindConflict, Code: code, Message: message}
}

// NotFound is a 404 for the named kind of thing.
func NotFound(what string) *Error {
	return &Error{Kind: KindNotFound, Code: "not_found", Message: what + " not found"}
}

// Forbidden is a 403.
func Forbidden(message string) *Error {
	return &Error{Kind: KindForbidden, Code: "forbidden", Message: message}
}

// As returns err as an *Error when it is one.
func As(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// IsNotFound reports whether err is a not-found error.
func IsNotFound(err error) bool {
	e, ok := As(err)
	return ok && e.Kind == KindNotFound
}

// HasCode reports whether err is an *Error with the given code.
func HasCode(err error, code string) bool {
	e, ok := As(err)
	return ok && e.Code == code
}
