package directory

import (
	"bytes"
	"encoding/json"
)

// Nullable is an update field that can be left out (Set false: no change), set to null (Set
// true, Value nil: clear it, or inherit) or set to a value. Plain pointers cannot tell "left
// out" from null, and fields like a capacity override or a backup need all three.
type Nullable[T any] struct {
	Set   bool
	Value *T
}

// NullableOf is a Nullable set to v.
func NullableOf[T any](v T) Nullable[T] { return Nullable[T]{Set: true, Value: &v} }

// NullValue is a Nullable set to null.
func NullValue[T any]() Nullable[T] { return Nullable[T]{Set: true} }

// UnmarshalJSON is only called when the field is present, which is what marks it Set. Objects
// inside refuse unknown fields like the request around them.
func (n *Nullable[T]) UnmarshalJSON(b []byte) error {
	n.Set = true
	if string(bytes.TrimSpace(b)) == "null" {
		n.Value = nil
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var v T
	if err := dec.Decode(&v); err != nil {
		return err
	}
	n.Value = &v
	return nil
}
