package reporting_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"testing"
	"time"

	"directsms/reporting"
	"directsms/sql/pgtest"
)

// exportMatchesHistory checks every column of every exported session against the inserted one.
func exportMatchesHistory(t *testing.T, w *world) {
	byID := map[string]hSession{}
	for _, s := range w.ny.Sessions {
		byID[s.ID] = s
	}
	exp, err := w.store.Export(context.Background(), w.ny.ID, reporting.ExportQuery{From: "2026-01-01", To: "2027-01-01"})
	if err != nil {
		t.Fatal(err)
	}
	var rows []reporting.ExportRow
	if err := exp.Each(context.Background(), func(r reporting.ExportRow) error {
		rows = append(rows, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(w.ny.Sessions) {
		t.Fatalf("got %d rows, want %d (one per session)", len(rows), len(w.ny.Sessions))
	}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	for i, r := range rows {
		s, ok := byID[r.ID]
		if !ok {
			t.Fatalf("got session %s, not New York's", r.ID)
		}
		if i > 0 && r.CreatedAt.Before(rows[i-1].CreatedAt) {
			t.Errorf("row %d: got %s after %s, want creation order", i, r.CreatedAt, rows[i-1].CreatedAt)
		}
		in, out, fr, hd := sessionFigures(s)
		got := fmt.Sprint(r.Type, r.Status, r.CreatedAt.UTC(), r.Number, r.Contact, str(r.AgentID), str(r.QueueID), str(r.TeamID),
			r.MessagesIn, r.MessagesOut, r.Deflected, r.Missed, r.Rerouted, fmtFloat(r.FirstResponseSeconds), fmtFloat(r.HandlingSeconds))
		want := fmt.Sprint(s.Type, s.Status, s.CreatedAt.UTC(), s.Number, s.Contact, str(s.Assignee), str(s.Queue), str(s.Team),
			in, out, s.Deflected, s.Missed, s.Rerouted, fmtFloat(fr), fmtFloat(hd))
		if got != want {
			t.Errorf("session %s:\n got %s\nwant %s", s.ID, got, want)
		}
		if (r.ClosedAt == nil) != (s.ClosedAt == nil) || (r.ClosedAt != nil && !r.ClosedAt.Equal(*s.ClosedAt)) {
			t.Errorf("session %s: got closed_at %v, want %v", s.ID, r.ClosedAt, s.ClosedAt)
		}
		if r.AgentID != nil && str(r.AgentName) != w.ny.agentName(*r.AgentID) {
			t.Errorf("session %s: got agent name %q, want %q", s.ID, str(r.AgentName), w.ny.agentName(*r.AgentID))
		}
	}

	var buf bytes.Buffer
	if err := exp.WriteCSV(context.Background(), &buf, nil); err != nil {
		t.Fatal(err)
	}
	records, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatalf("parse CSV: %v", err)
	}
	if len(records) != len(rows)+1 {
		t.Fatalf("got %d CSV records, want a header and %d rows", len(records), len(rows))
	}
	col := map[string]int{}
	for i, name := range records[0] {
		col[name] = i
	}
	for i, r := range rows {
		rec := records[i+1]
		in, _ := strconv.ParseInt(rec[col["messages_in"]], 10, 64)
		out, _ := strconv.ParseInt(rec[col["messages_out"]], 10, 64)
		created, _ := time.Parse(time.RFC3339Nano, rec[col["created_at"]])
		if rec[col["id"]] != r.ID || in != r.MessagesIn || out != r.MessagesOut || !created.Equal(r.CreatedAt) ||
			rec[col["contact"]] != r.Contact || rec[col["deflected"]] != strconv.FormatBool(r.Deflected) {
			t.Errorf("CSV record %d: got %v, want the figures of session %s", i, rec, r.ID)
		}
		if name := str(r.AgentName); name != "" && name[0] == '=' && rec[col["agent_name"]] != "'"+name {
			t.Errorf("CSV record %d: got agent name %q, want the formula neutralized", i, rec[col["agent_name"]])
		}
	}
}

// countingWriter counts what passes through and samples the heap as it goes.
type countingWriter struct {
	n        int64
	samples  int
	baseline uint64
	peak     uint64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// sample records the heap in use after a collection, so the figure is live memory only.
func (c *countingWriter) sample() {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if c.samples == 0 {
		c.baseline = ms.HeapAlloc
	}
	c.samples++
	c.peak = max(c.peak, ms.HeapAlloc)
}

func TestExport_StreamsOneHundredThousandSessionsInFlatMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 100,000 sessions")
	}
	t.Parallel()
	db := pgtest.NewDB(t)
	w := &world{db: db, store: reporting.NewStore(db, nil)}
	h := newTenant(t, db, "Bulk", "America/New_York")
	const n = 100_000
	generateSessions(t, db, h, n, 5*time.Minute, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))

	exp, err := w.store.Export(context.Background(), h.ID, reporting.ExportQuery{From: "2026-01-01", To: "2027-01-01"})
	if err != nil {
		t.Fatal(err)
	}
	var cw countingWriter
	flushes := 0
	err = exp.WriteCSV(context.Background(), &cw, func() {
		flushes++
		if flushes%20 == 1 {
			cw.sample()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	// Buffered whole, 100,000 records of ~400 bytes would hold 40 MB (several times that as
	// Go values); streamed, the heap stays where it started.
	growth := int64(cw.peak) - int64(cw.baseline)
	t.Logf("%d bytes written in %d flushes; heap baseline %d KB, peak %d KB over %d samples", cw.n, flushes, cw.baseline>>10, cw.peak>>10, cw.samples)
	if growth > 4<<20 {
		t.Errorf("got heap growth %d KB while streaming, want under 4096 KB", growth>>10)
	}
	if flushes < n/1000 {
		t.Errorf("got %d flushes, want output flushed as it goes", flushes)
	}
	if cw.n < n*200 {
		t.Errorf("got %d bytes, want all %d sessions", cw.n, n)
	}
}

func TestExport_AnErrorFromTheConsumerStopsIt(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	w := &world{db: db, store: reporting.NewStore(db, nil)}
	h := newTenant(t, db, "Stop", "UTC")
	generateSessions(t, db, h, 50, time.Minute, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	exp, err := w.store.Export(context.Background(), h.ID, reporting.ExportQuery{From: "2026-01-01", To: "2026-01-02"})
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("client went away")
	seen := 0
	err = exp.Each(context.Background(), func(reporting.ExportRow) error {
		seen++
		if seen == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || seen != 3 {
		t.Fatalf("got %v after %d rows, want the consumer's error after 3", err, seen)
	}
	if err := exp.WriteCSV(context.Background(), io.Discard, nil); err != nil {
		t.Fatalf("a second run: %v", err)
	}
}
