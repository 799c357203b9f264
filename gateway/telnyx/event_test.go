package telnyx

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current parser")

func TestParseEvent(t *testing.T) {
	t.Parallel()
	received := func(payload string) string {
		return `{"data": {"event_type": "message.received", "id": "ev-1", "occurred_at": "2026-01-15T14:30:02.574+00:00", "record_type": "event", "payload": ` + payload + `}}`
	}
	finalized := func(payload string) string {
		return `{"data": {"event_type": "message.finalized", "id": "ev-2", "payload": ` + payload + `}}`
	}
	tests := []struct {
		name      string
		body      string
		want      Event
		wantField string
	}{
		{
			name: "minimal inbound SMS",
			body: received(`{"id": "m-1", "from": {"phone_number": "+13125550188"}, "to": [{"phone_number": "+14155550100"}], "text": "hi", "type": "SMS"}`),
			want: Event{ID: "ev-1", EventType: "message.received", OccurredAt: time.Date(2026, 1, 15, 14, 30, 2, 574e6, time.UTC),
				Message: Message{ID: "m-1", From: "+13125550188", To: "+14155550100", Text: "hi", Type: "SMS"}},
		},
		{
			name: "occurred_at in another offset is kept as UTC",
			body: `{"data": {"event_type": "message.received", "id": "ev-1", "occurred_at": "2026-01-15T09:30:00-05:00", "payload": {"id": "m-1", "from": {"phone_number": "+1"}, "to": [{"phone_number": "+2"}]}}}`,
			want: Event{ID: "ev-1", EventType: "message.received", OccurredAt: time.Date(2026, 1, 15, 14, 30, 0, 0, time.UTC),
				Message: Message{ID: "m-1", From: "+1", To: "+2"}},
		},
		{
			name: "no occurred_at leaves it zero",
			body: finalized(`{"id": "m-2", "to": [{"phone_number": "+13125550188", "status": "delivered"}]}`),
			want: Event{ID: "ev-2", EventType: "message.finalized", Message: Message{ID: "m-2", To: "+13125550188", Status: "delivered"}},
		},
		{
			name: "the first recipient is the one reported",
			body: finalized(`{"id": "m-2", "to": [{"phone_number": "+1", "status": "delivered"}, {"phone_number": "+2", "status": "delivery_failed"}]}`),
			want: Event{ID: "ev-2", EventType: "message.finalized", Message: Message{ID: "m-2", To: "+1", Status: "delivered"}},
		},
		{
			name: "a single recipient object instead of an array",
			body: finalized(`{"id": "m-2", "to": {"phone_number": "+1", "status": "sent"}}`),
			want: Event{ID: "ev-2", EventType: "message.finalized", Message: Message{ID: "m-2", To: "+1", Status: "sent"}},
		},
		{
			name: "a message event directsms does not know keeps what it has",
			body: `{"data": {"event_type": "message.deleted", "id": "ev-3", "payload": {"id": "m-3"}}}`,
			want: Event{ID: "ev-3", EventType: "message.deleted", Message: Message{ID: "m-3"}},
		},
		{
			name: "a non-message event is not decoded further",
			body: `{"data": {"event_type": "call.initiated", "id": "ev-4", "payload": {"id": 7, "to": false}}}`,
			want: Event{ID: "ev-4", EventType: "call.initiated"},
		},
		{name: "empty body", body: ``, wantField: "body"},
		{name: "not JSON", body: `data=1`, wantField: "body"},
		{name: "trailing garbage", body: received(`{"id": "m-1", "from": "+1", "to": "+2"}`) + `}`, wantField: "body"},
		{name: "top-level array", body: `[{"data": {}}]`, wantField: "body"},
		{name: "data not an object", body: `{"data": "message.received"}`, wantField: "data"},
		{name: "no data", body: `{"meta": {"attempt": 1}}`, wantField: "data.event_type"},
		{name: "no event id", body: `{"data": {"event_type": "message.received", "payload": {}}}`, wantField: "data.id"},
		{name: "event_type not a string", body: `{"data": {"event_type": 1, "id": "ev"}}`, wantField: "data.event_type"},
		{name: "record_type not event", body: `{"data": {"event_type": "message.received", "id": "ev", "record_type": "message"}}`, wantField: "data.record_type"},
		{name: "message event without payload", body: `{"data": {"event_type": "message.received", "id": "ev"}}`, wantField: "data.payload"},
		{name: "message event with null payload", body: `{"data": {"event_type": "message.sent", "id": "ev", "payload": null}}`, wantField: "data.payload"},
		{name: "payload not an object", body: `{"data": {"event_type": "message.sent", "id": "ev", "payload": []}}`, wantField: "data.payload"},
		{name: "no message id", body: received(`{"from": "+1", "to": "+2"}`), wantField: "data.payload.id"},
		{name: "inbound without recipient", body: received(`{"id": "m", "from": "+1", "to": []}`), wantField: "data.payload.to[0].phone_number"},
		{name: "inbound without sender", body: received(`{"id": "m", "to": "+2"}`), wantField: "data.payload.from.phone_number"},
		{name: "finalized without status", body: finalized(`{"id": "m", "to": [{"phone_number": "+1"}]}`), wantField: "data.payload.to[0].status"},
		{name: "sent without recipient", body: `{"data": {"event_type": "message.sent", "id": "ev", "payload": {"id": "m"}}}`, wantField: "data.payload.to[0].phone_number"},
		{name: "from of the wrong type", body: received(`{"id": "m", "from": 13125550188, "to": "+2"}`), wantField: "data.payload.from"},
		{name: "media URL not absolute", body: received(`{"id": "m", "from": "+1", "to": "+2", "media": [{"url": "/media/1"}]}`), wantField: "data.payload.media[0].url"},
		{name: "media URL with a file scheme", body: received(`{"id": "m", "from": "+1", "to": "+2", "media": [{"url": "https://a/1"}, {"url": "file:///etc/passwd"}]}`), wantField: "data.payload.media[1].url"},
		{name: "invalid UTF-8 anywhere", body: received(`{"id": "m", "from": "+1", "to": "+2", "text": "caf` + "\xe9" + `"}`), wantField: "body"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseEvent([]byte(tc.body))
			if tc.wantField != "" {
				var fe *FieldError
				if !errors.As(err, &fe) {
					t.Fatalf("ParseEvent() error = %v (%T), want *FieldError for %s", err, err, tc.wantField)
				}
				if fe.Field != tc.wantField {
					t.Errorf("FieldError.Field = %q (%v), want %q", fe.Field, fe, tc.wantField)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseEvent() error = %v, want nil", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseEvent() = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestParseEventGolden parses the realistic Telnyx webhooks in
// testdata/*.json and compares the result, or the error, with the .golden
// file beside it. Run with -update after a deliberate change.
func TestParseEventGolden(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/*.json files (err %v)", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			t.Parallel()
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			got := goldenResult(t, raw)
			golden := strings.TrimSuffix(file, ".json") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("ParseEvent(%s) =\n%s\nwant\n%s", file, got, want)
			}
		})
	}
}

// goldenResult renders what ParseEvent makes of body as indented JSON: either
// the event or the field error.
func goldenResult(t *testing.T, body []byte) []byte {
	t.Helper()
	ev, err := ParseEvent(body)
	var v any = map[string]Event{"event": ev}
	if err != nil {
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Fatalf("ParseEvent() error %T %v, want *FieldError", err, err)
		}
		v = map[string]*FieldError{"error": fe}
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}
