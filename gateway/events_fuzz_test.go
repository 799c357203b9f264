package gateway

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"directsms/routing"
)

// FuzzSSEWriter_DataCannotBreakOutOfItsEvent checks that whatever an event's data holds, the
// frame written reads back, by the Server-Sent Events parsing rules, as exactly one event with
// its id, its type and its data, and no other field.
func FuzzSSEWriter_DataCannotBreakOutOfItsEvent(f *testing.F) {
	for _, seed := range []string{
		`{"offer_id": "x", "session_id": "y"}`,
		"{\n  \"a\": 1\n}",
		"not json\n\nid: 99\nevent: session.closed\ndata: {}",
		"cr\ronly\r\rid: 7",
		"crlf\r\n\r\nretry: 1",
		": comment\n",
		"",
	} {
		f.Add(int64(42), seed)
	}
	f.Fuzz(func(t *testing.T, id int64, data string) {
		if id < 0 {
			id = -id
		}
		rec := httptest.NewRecorder()
		out := &sseWriter{w: rec, rc: http.NewResponseController(rec)}
		ev := routing.StreamEvent{ID: id, Type: routing.EventSessionOffered, Data: json.RawMessage(data)}
		if err := out.event(ev, true); err != nil {
			t.Fatalf("write: %v", err)
		}

		want := data
		var compact bytes.Buffer
		if json.Compact(&compact, []byte(data)) == nil {
			want = compact.String()
		}
		want = strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(want)

		lines := sseLines(rec.Body.Bytes())
		// The frame ends with the blank line that dispatches it, and nothing follows.
		if n := len(lines); n < 4 || len(lines[n-1]) != 0 || len(lines[n-2]) != 0 {
			t.Fatalf("frame %q does not end with one blank line", rec.Body.String())
		}
		var gotData []string
		for i, line := range lines[:len(lines)-2] {
			if len(line) == 0 {
				t.Fatalf("frame %q has a blank line inside: a second event", rec.Body.String())
			}
			field, value, _ := strings.Cut(string(line), ":")
			value = strings.TrimPrefix(value, " ")
			switch {
			case i == 0 && field == "id":
				if value != strings.TrimSpace(value) || value == "" || value != itoa(id) {
					t.Fatalf("got id %q, want %d", value, id)
				}
			case i == 1 && field == "event":
				if value != string(routing.EventSessionOffered) {
					t.Fatalf("got event %q, want %s", value, routing.EventSessionOffered)
				}
			case i >= 2 && field == "data":
				gotData = append(gotData, value)
			default:
				t.Fatalf("frame %q has line %d %q, want only id, event, then data", rec.Body.String(), i, line)
			}
		}
		if got := strings.Join(gotData, "\n"); got != want {
			t.Fatalf("got data %q, want %q", got, want)
		}
	})
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
