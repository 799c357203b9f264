package numbers

import (
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"directsms/internal/apperr"
)

func TestParseBulkCSV_RowsAndCells(t *testing.T) {
	t.Parallel()
	in := "\ufeffEmail , Direct_Number,direct number 2\r\n" +
		"alice@acme.example, +14158670001 ,\r\n" +
		"\r\n" +
		",,\r\n" +
		"\"bob@acme.example\",\"(415)\n867-0002\",+14158670003\r\n" +
		"carol@acme.example\r\n" +
		",+14158670004,\r\n"
	got, err := ParseBulkCSV(strings.NewReader(in))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	want := []BulkRow{
		{Line: 2, Email: "alice@acme.example", Numbers: []BulkCell{{Column: 2, Value: "+14158670001"}}},
		{Line: 5, Email: "bob@acme.example", Numbers: []BulkCell{{Column: 2, Value: "(415)\n867-0002"}, {Column: 3, Value: "+14158670003"}}},
		{Line: 7, Email: "carol@acme.example"},
		{Line: 8, Email: "", Numbers: []BulkCell{{Column: 2, Value: "+14158670004"}}},
	}
	if len(got.Rows) != len(want) {
		t.Fatalf("got %d rows %+v, want %d", len(got.Rows), got.Rows, len(want))
	}
	for i := range want {
		g, w := got.Rows[i], want[i]
		if g.Line != w.Line || g.Email != w.Email || len(g.Numbers) != len(w.Numbers) {
			t.Fatalf("row %d: got %+v, want %+v", i, g, w)
		}
		for j := range w.Numbers {
			if g.Numbers[j] != w.Numbers[j] {
				t.Fatalf("row %d cell %d: got %+v, want %+v", i, j, g.Numbers[j], w.Numbers[j])
			}
		}
	}
}

func TestParseBulkCSV_RefusesWhatIsNotTheFormat(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, in, wantInMessage string }{
		{"empty", "", "empty"},
		{"email only", "email\n", "email,direct_number"},
		{"other columns", "email,phone\n", `"phone"`},
		{"a bare quote", "email,direct_number\na@b.example,12\"3\n", "line 2"},
		{"an unterminated quote", "email,direct_number\na@b.example,\"123\n", "line 2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseBulkCSV(strings.NewReader(tc.in))
			if !apperr.HasCode(err, "invalid_csv") || !strings.Contains(err.Error(), tc.wantInMessage) {
				t.Fatalf("got %v, want invalid_csv mentioning %s", err, tc.wantInMessage)
			}
		})
	}
}

func TestParseBulkCSV_BoundsTheFile(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("email,direct_number\n")
	for i := 0; i <= MaxBulkRows; i++ {
		b.WriteString("a@b.example,1\n")
	}
	if _, err := ParseBulkCSV(strings.NewReader(b.String())); !apperr.HasCode(err, "invalid_csv") {
		t.Fatalf("got %v, want invalid_csv for %d rows", err, MaxBulkRows+1)
	}
}

func TestParseBulkCSV_ReadErrorsPassThrough(t *testing.T) {
	t.Parallel()
	broken := errors.New("connection reset")
	_, err := ParseBulkCSV(io.MultiReader(strings.NewReader("email,direct_number\na@b.example,"), errReader{broken}))
	if !errors.Is(err, broken) {
		t.Fatalf("got %v, want the read error itself", err)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestValidateBulk_FirstCellWinsAndTheLimitCountsAcrossRows(t *testing.T) {
	t.Parallel()
	file := BulkFile{Rows: []BulkRow{
		{Line: 2, Email: "a@x.example", Numbers: []BulkCell{{2, "+14158670001"}, {3, "+14158670002"}}},
		{Line: 3, Email: "A@x.example", Numbers: []BulkCell{{2, "+14158670003"}, {3, "+14158670001"}}},
	}}
	in := readBulkFile(file, "US")
	owner := "u1"
	nums := map[E164]bulkNumber{
		"+14158670001": {ID: "n1", Direct: true, Status: StatusVerified},
		"+14158670002": {ID: "n2", Direct: true, Status: StatusVerified, SMSUserID: &owner},
		"+14158670003": {ID: "n3", Direct: true, Status: StatusVerified},
	}
	plan := validateBulk(in, map[string]string{"a@x.example": "u1"}, nums, map[string]int{"u1": 1}, 2)
	if plan.result.Applied != 1 || plan.result.Unchanged != 1 || plan.result.Failed != 2 {
		t.Fatalf("got %+v, want 1 applied, 1 unchanged, 2 failed", plan.result)
	}
	codes := []string{plan.result.Errors[0].Code, plan.result.Errors[1].Code}
	if codes[0] != "agent_number_limit" || codes[1] != BulkDuplicateInFile {
		t.Fatalf("got codes %v, want the limit for the third number and a duplicate", codes)
	}
}

// FuzzParseBulkCSV: whatever the bytes, parsing answers a file or an invalid_csv, never panics,
// and every cell it returns is a non-blank trimmed value in a real column.
func FuzzParseBulkCSV(f *testing.F) {
	for _, seed := range []string{
		"email,direct_number\nalice@acme.example,+14158670001\n",
		"\ufeffEmail,Direct Number,direct_number\r\na@b.example,\"(415) 867-0001\",\n,,\n",
		"email,direct_number\n\"a\"\"b\",\"1\n2\"\n",
		"email,direct_number\na@b.example,12\"3\n",
		"email\n",
		"",
		"\xff\xfe,\x00\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		file, err := ParseBulkCSV(strings.NewReader(in))
		if err != nil {
			if !apperr.HasCode(err, "invalid_csv") {
				t.Fatalf("got %v, want invalid_csv", err)
			}
			return
		}
		line := 1
		for _, row := range file.Rows {
			if row.Line <= line {
				t.Fatalf("row at line %d after line %d", row.Line, line)
			}
			line = row.Line
			if row.Email == "" && len(row.Numbers) == 0 {
				t.Fatalf("blank row %+v kept", row)
			}
			for _, c := range row.Numbers {
				if c.Column < 2 || c.Value == "" || strings.TrimSpace(c.Value) != c.Value {
					t.Fatalf("bad cell %+v", c)
				}
			}
		}
		// Validation must take whatever parsing returns.
		plan := validateBulk(readBulkFile(file, "US"), map[string]string{}, map[E164]bulkNumber{}, map[string]int{}, 5)
		for _, e := range plan.result.Errors {
			if e.Code == "" || !utf8.ValidString(e.Code) {
				t.Fatalf("bad error line %+v", e)
			}
		}
	})
}
