package reporting

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// dimensionColumns are the row keys each dimension adds, in JSON and CSV alike.
var dimensionColumns = map[Dimension][]string{
	DimType:   {"type"},
	DimAgent:  {"agent_id", "agent_name"},
	DimQueue:  {"queue_id", "queue_name"},
	DimTeam:   {"team_id", "team_name"},
	DimNumber: {"number"},
	DimDay:    {"day"},
	DimHour:   {"hour"},
}

// FigureColumns are the figures of every report row, in order.
var FigureColumns = []string{"sessions", "messages_in", "messages_out", "deflected", "missed", "misses",
	"rerouted", "reroutes", "median_first_response_seconds", "median_handling_seconds"}

// Columns are the keys of the report's rows: its dimensions' keys, then the figures.
func (r *Report) Columns() []string {
	var cols []string
	for _, d := range r.GroupBy {
		cols = append(cols, dimensionColumns[d]...)
	}
	return append(cols, FigureColumns...)
}

// values are a row's cells in Columns order: strings, int64s, float64s or nil for null.
func (r *Report) values(row Row) []any {
	var out []any
	str := func(p *string) any {
		if p == nil {
			return nil
		}
		return *p
	}
	for _, d := range r.GroupBy {
		switch d {
		case DimType:
			out = append(out, row.Type)
		case DimAgent:
			out = append(out, str(row.AgentID), str(row.AgentName))
		case DimQueue:
			out = append(out, str(row.QueueID), str(row.QueueName))
		case DimTeam:
			out = append(out, str(row.TeamID), str(row.TeamName))
		case DimNumber:
			out = append(out, row.Number)
		case DimDay:
			out = append(out, row.Day)
		case DimHour:
			out = append(out, row.Hour)
		}
	}
	float := func(p *float64) any {
		if p == nil {
			return nil
		}
		return *p
	}
	return append(out, row.Sessions, row.MessagesIn, row.MessagesOut, row.Deflected, row.Missed, row.Misses,
		row.Rerouted, row.Reroutes, float(row.MedianFirstResponseSeconds), float(row.MedianHandlingSeconds))
}

// MarshalJSON writes {"from", "to", "timezone", "group_by", "types", "rows"}; each row holds
// the keys of the grouped dimensions (null for an unassigned agent, a queue-less session or a
// team-less one) and every figure, in Columns order.
func (r *Report) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	head := struct {
		From     time.Time   `json:"from"`
		To       time.Time   `json:"to"`
		Timezone string      `json:"timezone"`
		GroupBy  []Dimension `json:"group_by"`
		Types    []string    `json:"types"`
	}{r.From.UTC(), r.To.UTC(), r.Timezone, r.GroupBy, r.Types}
	if head.GroupBy == nil {
		head.GroupBy = []Dimension{}
	}
	if head.Types == nil {
		head.Types = []string{}
	}
	hb, err := json.Marshal(head)
	if err != nil {
		return nil, err
	}
	b.Write(hb[:len(hb)-1])
	b.WriteString(`,"rows":[`)
	cols := r.Columns()
	for i, row := range r.Rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('{')
		for j, v := range r.values(row) {
			if j > 0 {
				b.WriteByte(',')
			}
			k, _ := json.Marshal(cols[j])
			b.Write(k)
			b.WriteByte(':')
			vb, err := json.Marshal(v)
			if err != nil {
				return nil, err
			}
			b.Write(vb)
		}
		b.WriteByte('}')
	}
	b.WriteString("]}")
	return b.Bytes(), nil
}

// WriteCSV writes the report as CSV: a header of Columns, then one record per row. Nulls are
// empty cells; text that a spreadsheet would run as a formula is neutralized (see csvText).
func (r *Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(r.Columns()); err != nil {
		return err
	}
	rec := make([]string, 0, len(r.Columns()))
	for _, row := range r.Rows {
		rec = rec[:0]
		for _, v := range r.values(row) {
			rec = append(rec, csvCell(v))
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func csvCell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return csvText(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// csvText guards a text cell against formula injection: a cell starting with = + - @ or a
// control character is run by spreadsheet programs, so names an agent or admin typed get a
// leading apostrophe. E.164 numbers start with + but are never formulas, and are kept intact so
// the file stays machine-readable.
func csvText(s string) string {
	if s == "" || !strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return s
	}
	if isE164(s) {
		return s
	}
	return "'" + s
}

func isE164(s string) bool {
	if len(s) < 3 || len(s) > 16 || s[0] != '+' {
		return false
	}
	for _, c := range s[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
