package twilio

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current parser")

const (
	testAccountSid = "AC0123456789abcdef0123456789abcdef"
	testMessageSid = "SM0123456789abcdef0123456789abcdef"
	testMediaSid   = "MM0123456789abcdef0123456789abcdef"
)

func validInbound() map[string][]string {
	return map[string][]string{
		"MessageSid":    {testMessageSid},
		"SmsMessageSid": {testMessageSid},
		"SmsSid":        {testMessageSid},
		"AccountSid":    {testAccountSid},
		"From":          {"+14155550199"},
		"To":            {"+14155550100"},
		"Body":          {"hello"},
		"NumMedia":      {"0"},
		"NumSegments":   {"1"},
		"FromCity":      {""},
		"SomethingNew":  {"Twilio adds parameters without notice"},
	}
}

func TestParseInbound(t *testing.T) {
	t.Parallel()
	mediaURL := func(i string) string {
		return "https://api.twilio.com/2010-04-01/Accounts/" + testAccountSid + "/Messages/" + testMediaSid + "/Media/ME" + i
	}
	tests := []struct {
		name      string
		edit      func(f map[string][]string)
		want      Inbound
		wantField string // the FieldError's field; empty when parsing succeeds
	}{
		{
			name: "plain SMS with unknown and empty parameters",
			edit: func(map[string][]string) {},
			want: Inbound{MessageSid: testMessageSid, AccountSid: testAccountSid, From: "+14155550199", To: "+14155550100", Body: "hello", NumSegments: 1},
		},
		{
			name: "SmsSid stands in for a missing MessageSid",
			edit: func(f map[string][]string) { delete(f, "MessageSid"); delete(f, "SmsMessageSid") },
			want: Inbound{MessageSid: testMessageSid, AccountSid: testAccountSid, From: "+14155550199", To: "+14155550100", Body: "hello", NumSegments: 1},
		},
		{
			name: "MMS with two attachments and an empty body",
			edit: func(f map[string][]string) {
				f["MessageSid"] = []string{testMediaSid}
				f["Body"] = []string{""}
				f["NumMedia"] = []string{"2"}
				f["MediaUrl0"] = []string{mediaURL("0")}
				f["MediaContentType0"] = []string{"image/jpeg"}
				f["MediaUrl1"] = []string{mediaURL("1")}
			},
			want: Inbound{
				MessageSid: testMediaSid, AccountSid: testAccountSid, From: "+14155550199", To: "+14155550100",
				NumMedia: 2, Media: []Media{{URL: mediaURL("0"), ContentType: "image/jpeg"}, {URL: mediaURL("1")}}, NumSegments: 1,
			},
		},
		{
			name: "Messaging Service and a short code",
			edit: func(f map[string][]string) {
				f["MessagingServiceSid"] = []string{"MG0123456789abcdef0123456789abcdef"}
				f["To"] = []string{"24365"}
			},
			want: Inbound{MessageSid: testMessageSid, AccountSid: testAccountSid, MessagingServiceSid: "MG0123456789abcdef0123456789abcdef", From: "+14155550199", To: "24365", Body: "hello", NumSegments: 1},
		},
		{
			name: "body of exactly 1600 characters, multi-byte",
			edit: func(f map[string][]string) { f["Body"] = []string{strings.Repeat("é", 1600)} },
			want: Inbound{MessageSid: testMessageSid, AccountSid: testAccountSid, From: "+14155550199", To: "+14155550100", Body: strings.Repeat("é", 1600), NumSegments: 1},
		},
		{
			name: "absent NumMedia and NumSegments mean zero",
			edit: func(f map[string][]string) { delete(f, "NumMedia"); delete(f, "NumSegments") },
			want: Inbound{MessageSid: testMessageSid, AccountSid: testAccountSid, From: "+14155550199", To: "+14155550100", Body: "hello"},
		},
		{name: "missing MessageSid and its legacy names", edit: func(f map[string][]string) { delete(f, "MessageSid"); delete(f, "SmsMessageSid"); delete(f, "SmsSid") }, wantField: "MessageSid"},
		{name: "MessageSid with the wrong prefix", edit: func(f map[string][]string) { f["MessageSid"] = []string{"CA0123456789abcdef0123456789abcdef"} }, wantField: "MessageSid"},
		{name: "MessageSid too short", edit: func(f map[string][]string) { f["MessageSid"] = []string{"SM0123"} }, wantField: "MessageSid"},
		{name: "MessageSid not hex", edit: func(f map[string][]string) { f["MessageSid"] = []string{"SM0123456789abcdef0123456789abcdeg"} }, wantField: "MessageSid"},
		{name: "MessageSid repeated", edit: func(f map[string][]string) { f["MessageSid"] = []string{testMessageSid, testMessageSid} }, wantField: "MessageSid"},
		{name: "missing AccountSid", edit: func(f map[string][]string) { delete(f, "AccountSid") }, wantField: "AccountSid"},
		{name: "AccountSid not an account", edit: func(f map[string][]string) { f["AccountSid"] = []string{"PN0123456789abcdef0123456789abcdef"} }, wantField: "AccountSid"},
		{name: "MessagingServiceSid malformed", edit: func(f map[string][]string) { f["MessagingServiceSid"] = []string{"MGxyz"} }, wantField: "MessagingServiceSid"},
		{name: "missing From", edit: func(f map[string][]string) { delete(f, "From") }, wantField: "From"},
		{name: "empty To", edit: func(f map[string][]string) { f["To"] = []string{""} }, wantField: "To"},
		{name: "body over 1600 characters", edit: func(f map[string][]string) { f["Body"] = []string{strings.Repeat("a", 1601)} }, wantField: "Body"},
		{name: "body not UTF-8", edit: func(f map[string][]string) { f["Body"] = []string{"caf\xe9"} }, wantField: "Body"},
		{name: "two bodies", edit: func(f map[string][]string) { f["Body"] = []string{"a", "b"} }, wantField: "Body"},
		{name: "NumMedia not a number", edit: func(f map[string][]string) { f["NumMedia"] = []string{"one"} }, wantField: "NumMedia"},
		{name: "NumMedia negative", edit: func(f map[string][]string) { f["NumMedia"] = []string{"-1"} }, wantField: "NumMedia"},
		{name: "NumMedia with a sign", edit: func(f map[string][]string) { f["NumMedia"] = []string{"+1"}; f["MediaUrl0"] = []string{mediaURL("0")} }, wantField: "NumMedia"},
		{name: "NumMedia larger than the attachments", edit: func(f map[string][]string) { f["NumMedia"] = []string{"2"}; f["MediaUrl0"] = []string{mediaURL("0")} }, wantField: "MediaUrl1"},
		{name: "NumMedia huge", edit: func(f map[string][]string) {
			f["NumMedia"] = []string{"999999999"}
			f["MediaUrl0"] = []string{mediaURL("0")}
		}, wantField: "MediaUrl1"},
		{name: "attachment beyond NumMedia", edit: func(f map[string][]string) { f["MediaUrl0"] = []string{mediaURL("0")} }, wantField: "NumMedia"},
		{name: "attachment after a gap", edit: func(f map[string][]string) {
			f["NumMedia"] = []string{"1"}
			f["MediaUrl0"] = []string{mediaURL("0")}
			f["MediaUrl2"] = []string{mediaURL("2")}
		}, wantField: "NumMedia"},
		{name: "attachment URL not absolute", edit: func(f map[string][]string) { f["NumMedia"] = []string{"1"}; f["MediaUrl0"] = []string{"/Media/ME0"} }, wantField: "MediaUrl0"},
		{name: "attachment URL not http", edit: func(f map[string][]string) {
			f["NumMedia"] = []string{"1"}
			f["MediaUrl0"] = []string{"file:///etc/passwd"}
		}, wantField: "MediaUrl0"},
		{name: "NumSegments not a number", edit: func(f map[string][]string) { f["NumSegments"] = []string{"1.5"} }, wantField: "NumSegments"},
		{name: "NumSegments beyond any text", edit: func(f map[string][]string) { f["NumSegments"] = []string{"99999999999"} }, wantField: "NumSegments"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			form := validInbound()
			tc.edit(form)
			got, err := ParseInbound(form)
			if tc.wantField != "" {
				assertFieldError(t, err, tc.wantField)
				return
			}
			if err != nil {
				t.Fatalf("ParseInbound() error = %v, want nil", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseInbound() = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseStatus(t *testing.T) {
	t.Parallel()
	valid := func() map[string][]string {
		return map[string][]string{
			"MessageSid":     {testMessageSid},
			"SmsSid":         {testMessageSid},
			"AccountSid":     {testAccountSid},
			"MessageStatus":  {"delivered"},
			"SmsStatus":      {"delivered"},
			"From":           {"+14155550100"},
			"To":             {"+14155550199"},
			"ApiVersion":     {"2010-04-01"},
			"RawDlrDoneDate": {"2601151430"},
		}
	}
	tests := []struct {
		name      string
		edit      func(f map[string][]string)
		want      StatusCallback
		wantField string
	}{
		{name: "delivered", edit: func(map[string][]string) {}, want: StatusCallback{MessageSid: testMessageSid, AccountSid: testAccountSid, MessageStatus: "delivered"}},
		{
			name: "undelivered with an error code",
			edit: func(f map[string][]string) {
				f["MessageStatus"] = []string{"undelivered"}
				f["ErrorCode"] = []string{"30003"}
			},
			want: StatusCallback{MessageSid: testMessageSid, AccountSid: testAccountSid, MessageStatus: "undelivered", ErrorCode: "30003"},
		},
		{
			name: "legacy SmsStatus alone",
			edit: func(f map[string][]string) { delete(f, "MessageStatus"); f["SmsStatus"] = []string{"sent"} },
			want: StatusCallback{MessageSid: testMessageSid, AccountSid: testAccountSid, MessageStatus: "sent"},
		},
		{name: "unknown status", edit: func(f map[string][]string) { f["MessageStatus"] = []string{"exploded"} }, wantField: "MessageStatus"},
		{name: "status is case-sensitive", edit: func(f map[string][]string) { f["MessageStatus"] = []string{"Delivered"} }, wantField: "MessageStatus"},
		{name: "missing status", edit: func(f map[string][]string) { delete(f, "MessageStatus"); delete(f, "SmsStatus") }, wantField: "MessageStatus"},
		{name: "missing MessageSid", edit: func(f map[string][]string) { delete(f, "MessageSid"); delete(f, "SmsSid") }, wantField: "MessageSid"},
		{name: "bad AccountSid", edit: func(f map[string][]string) { f["AccountSid"] = []string{"AC1"} }, wantField: "AccountSid"},
		{name: "error code not numeric", edit: func(f map[string][]string) { f["ErrorCode"] = []string{"30003; DROP"} }, wantField: "ErrorCode"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			form := valid()
			tc.edit(form)
			got, err := ParseStatus(form)
			if tc.wantField != "" {
				assertFieldError(t, err, tc.wantField)
				return
			}
			if err != nil {
				t.Fatalf("ParseStatus() error = %v, want nil", err)
			}
			if got != tc.want {
				t.Errorf("ParseStatus() = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseStatusAcceptsEveryDocumentedStatus(t *testing.T) {
	t.Parallel()
	terminal := map[string]bool{"delivered": true, "undelivered": true, "failed": true, "read": true, "canceled": true}
	for _, status := range []string{
		"queued", "sending", "sent", "failed", "delivered", "undelivered", "receiving",
		"received", "accepted", "scheduled", "read", "partially_delivered", "canceled",
	} {
		t.Run(status, func(t *testing.T) {
			t.Parallel()
			got, err := ParseStatus(map[string][]string{
				"MessageSid": {testMessageSid}, "AccountSid": {testAccountSid}, "MessageStatus": {status},
			})
			if err != nil {
				t.Fatalf("ParseStatus(%q) error = %v, want nil", status, err)
			}
			if got.Terminal() != terminal[status] {
				t.Errorf("Terminal() for %q = %v, want %v", status, got.Terminal(), terminal[status])
			}
		})
	}
}

// TestParseInboundGolden parses the realistic Twilio bodies in
// testdata/*.form and compares the result, or the error, with the .golden
// file beside it. Run with -update after a deliberate change.
func TestParseInboundGolden(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "*.form"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/*.form files (err %v)", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			t.Parallel()
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			form, err := url.ParseQuery(string(raw))
			if err != nil {
				t.Fatalf("testdata is not a valid form body: %v", err)
			}
			got := goldenResult(t, form)
			golden := strings.TrimSuffix(file, ".form") + ".golden"
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
				t.Errorf("ParseInbound(%s) =\n%s\nwant\n%s", file, got, want)
			}
		})
	}
}

// goldenResult renders what ParseInbound makes of form as indented JSON:
// either the message or the field error.
func goldenResult(t *testing.T, form map[string][]string) []byte {
	t.Helper()
	in, err := ParseInbound(form)
	var v any = map[string]Inbound{"inbound": in}
	if err != nil {
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Fatalf("ParseInbound() error %T %v, want *FieldError", err, err)
		}
		v = map[string]*FieldError{"error": fe}
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

func assertFieldError(t *testing.T, err error, field string) {
	t.Helper()
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error = %v (%T), want *FieldError for %s", err, err, field)
	}
	if fe.Field != field {
		t.Errorf("FieldError.Field = %q (%v), want %q", fe.Field, fe, field)
	}
}
