package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gorilla/mux"

	"directsms/internal/apperr"
)

// decodeJSON reads one JSON object into v, refusing unknown fields, wrong types and trailing
// data with a 400 that names what is wrong.
func decodeJSON(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return apperr.BadRequest("", "Content-Type must be application/json")
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return apperr.BadRequest("", "the body must hold one JSON object and nothing after it")
	}
	if field, ok := findNUL(reflect.ValueOf(v), ""); ok {
		return nulError(field)
	}
	return nil
}

// findNUL returns the JSON path of the first string in v holding a NUL character: valid JSON,
// but text PostgreSQL cannot store, so it is refused as an invalid value rather than ever
// reaching the database as a 500.
func findNUL(v reflect.Value, path string) (string, bool) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return "", false
		}
		return findNUL(v.Elem(), path)
	case reflect.String:
		return path, strings.IndexByte(v.String(), 0) >= 0
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if f.Anonymous && f.Tag.Get("json") == "" {
				name = ""
			}
			if p, ok := findNUL(v.Field(i), joinPath(path, name)); ok {
				return p, true
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if p, ok := findNUL(v.Index(i), fmt.Sprintf("%s[%d]", path, i)); ok {
				return p, true
			}
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			key := fmt.Sprint(iter.Key().Interface())
			if strings.IndexByte(key, 0) >= 0 {
				return path, true
			}
			if p, ok := findNUL(iter.Value(), joinPath(path, key)); ok {
				return p, true
			}
		}
	}
	return "", false
}

func joinPath(path, name string) string {
	if path == "" || name == "" {
		return path + name
	}
	return path + "." + name
}

func nulError(field string) error {
	return apperr.Invalid(field, "invalid_text", field+" must not contain NUL characters")
}

// checkQuery refuses query parameters PostgreSQL cannot store as text: NUL characters and
// invalid UTF-8.
func checkQuery(r *http.Request) error {
	for key, vals := range r.URL.Query() {
		for _, val := range append([]string{key}, vals...) {
			if strings.IndexByte(val, 0) >= 0 || !utf8.ValidString(val) {
				return apperr.Invalid(key, "invalid_text", "query parameter "+strconv.QuoteToASCII(key)+" must be UTF-8 text without NUL characters")
			}
		}
	}
	return nil
}

// decodeOptionalJSON is decodeJSON for endpoints whose body may be left out entirely.
func decodeOptionalJSON(r *http.Request, v any) error {
	if r.ContentLength == 0 {
		return nil
	}
	return decodeJSON(r, v)
}

func jsonError(err error) error {
	var maxErr *http.MaxBytesError
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &maxErr):
		return err
	case errors.Is(err, io.EOF):
		return apperr.BadRequest("", "the body is empty; a JSON object is required")
	case errors.As(err, &syntaxErr):
		return apperr.BadRequest("", fmt.Sprintf("malformed JSON at byte %d", syntaxErr.Offset))
	case errors.As(err, &typeErr):
		return apperr.BadRequest(typeErr.Field, fmt.Sprintf("%s must be %s, not %s", typeErr.Field, jsonTypeName(typeErr.Type.Kind().String()), typeErr.Value))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return apperr.BadRequest(name, fmt.Sprintf("unknown field %q", name))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return apperr.BadRequest("", "malformed JSON: the body ends too early")
	}
	return apperr.BadRequest("", "malformed JSON: "+err.Error())
}

func jsonTypeName(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "int", "int64", "int32", "float64":
		return "a number"
	case "slice":
		return "an array"
	case "struct", "map", "ptr":
		return "an object"
	}
	return kind
}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// pathID returns the path variable name as a server id; anything that cannot be an id is a
// 404, exactly like an id that does not exist.
func pathID(r *http.Request, name, what string) (string, error) {
	id := mux.Vars(r)[name]
	if !uuidPattern.MatchString(id) {
		return "", apperr.NotFound(what)
	}
	return strings.ToLower(id), nil
}

// validID reports whether s can be a server id.
func validID(s string) bool { return uuidPattern.MatchString(s) }

// page is a list request's limit and cursor.
type page struct {
	Limit  int
	Cursor string
}

// pageParams reads ?limit= (default 50, max 500) and ?cursor=.
func pageParams(r *http.Request) (page, error) {
	p := page{Limit: 50, Cursor: r.URL.Query().Get("cursor")}
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			return page{}, apperr.Invalid("limit", "invalid_limit", "limit must be a whole number from 1 to 500")
		}
		p.Limit = n
	}
	return p, nil
}

// list is the envelope of every list response.
type list[T any] struct {
	Data       []T    `json:"data"`
	NextCursor string `json:"next_cursor"`
}

// newList trims one extra fetched row into a next cursor made by cursorOf.
func newList[T any](rows []T, limit int, cursorOf func(T) string) list[T] {
	out := list[T]{Data: rows}
	if out.Data == nil {
		out.Data = []T{}
	}
	if len(rows) > limit {
		out.Data = rows[:limit]
		out.NextCursor = cursorOf(rows[limit-1])
	}
	return out
}
