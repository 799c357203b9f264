package fakecarrier

import (
	"regexp"
	"strings"
	"testing"
)

func TestSegments(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		body         string
		want         int
		wantEncoding string
	}{
		{"160 ASCII characters fit one part", strings.Repeat("a", 160), 1, "GSM-7"},
		{"161 ASCII characters need two parts of 153", strings.Repeat("a", 161), 2, "GSM-7"},
		{"307 ASCII characters need three", strings.Repeat("a", 307), 3, "GSM-7"},
		{"70 accented characters fit one UCS-2 part", strings.Repeat("é", 70), 1, "UCS-2"},
		{"71 accented characters need two parts of 67", strings.Repeat("é", 71), 2, "UCS-2"},
		{"an emoji counts two UTF-16 units", strings.Repeat("😀", 35), 1, "UCS-2"},
		{"36 emoji are 72 units", strings.Repeat("😀", 36), 2, "UCS-2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, enc := segments(tc.body)
			if got != tc.want || enc != tc.wantEncoding {
				t.Errorf("segments() = %d, %s, want %d, %s", got, enc, tc.want, tc.wantEncoding)
			}
		})
	}
}

func TestNewUUID(t *testing.T) {
	t.Parallel()
	v4 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	if a, b := newUUID(), newUUID(); !v4.MatchString(a) || a == b {
		t.Errorf("newUUID() = %q then %q, want two distinct version-4 UUIDs", a, b)
	}
}
