package reporting_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"directsms/directory"
	"directsms/reporting"
	"directsms/sql/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// The history's people and places, as inserted: the expected figures are computed from these
// in Go, never by asking the database.
type (
	hUser struct {
		ID, Name string
		Teams    []string // team ids; the first is primary until moved
	}
	hTeam  struct{ ID, Name string }
	hQueue struct{ ID, Name string }
	hMsg   struct {
		Direction, Kind string
		Sender          *string
		At              time.Time
	}
	hSession struct {
		ID, Type, Status, Number, Contact string
		Assignee, Queue, Team             *string
		Deflected                         bool
		Missed, Rerouted                  int
		CreatedAt                         time.Time
		AssignedAt, ClosedAt              *time.Time
		Messages                          []hMsg
	}
)

// tenantHistory is one tenant's known history.
type tenantHistory struct {
	ID       string
	AdminKey string
	Loc      *time.Location
	Agents   []hUser
	Teams    []hTeam
	Queues   []hQueue
	Numbers  []string
	Sessions []hSession
	// Gone is the agent deactivated after the history was written.
	Gone hUser
}

func (h *tenantHistory) agentName(id string) string {
	for _, a := range h.Agents {
		if a.ID == id {
			return a.Name
		}
	}
	return ""
}

func (h *tenantHistory) teamName(id string) string {
	for _, t := range h.Teams {
		if t.ID == id {
			return t.Name
		}
	}
	return ""
}

func (h *tenantHistory) queueName(id string) string {
	for _, q := range h.Queues {
		if q.ID == id {
			return q.Name
		}
	}
	return ""
}

func exec(t testing.TB, db sqlx.ExecerContext, q string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func insertID(t testing.TB, db *sqlx.DB, q string, args ...any) string {
	t.Helper()
	var id string
	if err := db.GetContext(context.Background(), &id, q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return id
}

// newTenant creates a tenant in zone with its admin.
func newTenant(t testing.TB, db *sqlx.DB, name, zone string) *tenantHistory {
	t.Helper()
	c, err := directory.NewStore(db, nil).CreateTenant(context.Background(), directory.NewTenant{
		Name: name, AdminEmail: "admin@" + strings.ToLower(name) + ".example", Timezone: zone,
	})
	if err != nil {
		t.Fatalf("create tenant %s: %v", name, err)
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	return &tenantHistory{ID: c.TenantID, AdminKey: c.APIKey, Loc: loc}
}

// addTeam, addUser and addQueue insert directory rows the way the directory keeps them.
func addTeam(t testing.TB, db *sqlx.DB, h *tenantHistory, name string) string {
	t.Helper()
	id := insertID(t, db, `INSERT INTO teams (tenant_id, name) VALUES ($1, $2) RETURNING id`, h.ID, name)
	h.Teams = append(h.Teams, hTeam{ID: id, Name: name})
	return id
}

func addUser(t testing.TB, db *sqlx.DB, h *tenantHistory, name, role string, teams ...string) hUser {
	t.Helper()
	tx := db.MustBegin()
	var id string
	email := strings.ToLower(strings.NewReplacer(" ", ".", "=", "").Replace(name)) + "@" + h.ID[:8] + ".example"
	if err := tx.Get(&id, `INSERT INTO users (tenant_id, name, email, role, primary_team_id) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
		h.ID, name, email, role, teams[0]); err != nil {
		t.Fatalf("insert user %s: %v", name, err)
	}
	for _, team := range teams {
		exec(t, tx, `INSERT INTO team_members (tenant_id, team_id, user_id) VALUES ($1, $2, $3)`, h.ID, team, id)
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("commit user %s: %v", name, err)
	}
	u := hUser{ID: id, Name: name, Teams: teams}
	if role == "agent" {
		h.Agents = append(h.Agents, u)
	}
	return u
}

func addQueue(t testing.TB, db *sqlx.DB, h *tenantHistory, name string, personal *string) string {
	t.Helper()
	id := insertID(t, db, `INSERT INTO queues (tenant_id, name, kind, personal_user_id) VALUES ($1, $2, 'sms', $3) RETURNING id`, h.ID, name, personal)
	h.Queues = append(h.Queues, hQueue{ID: id, Name: name})
	return id
}

func ptr[T any](v T) *T { return &v }

// buildHistory writes a known history for h: sessions every 30 minutes across the two
// daylight-saving days of 2026 in America/New_York (whatever h's zone), plus sessions spread over
// the year, of every type, assigned or not, deflected, missed and rerouted at random (seeded),
// with their messages. The last agent is deactivated afterwards.
func buildHistory(t testing.TB, db *sqlx.DB, h *tenantHistory, seed uint64) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, seed^0x5eed))
	sales := addTeam(t, db, h, "Sales")
	support := addTeam(t, db, h, "Support")
	agents := []hUser{
		addUser(t, db, h, "Ada Agent", "agent", sales),
		addUser(t, db, h, "Bo Agent", "agent", support, sales),
		addUser(t, db, h, "=Cy Formula", "agent", support),
		addUser(t, db, h, "Dee Departed", "agent", sales, support),
	}
	personal := map[string]string{}
	for _, a := range agents {
		personal[a.ID] = addQueue(t, db, h, a.Name+" (personal)", ptr(a.ID))
	}
	smsQueue := addQueue(t, db, h, "Front desk", nil)
	h.Numbers = []string{"+14155550100", "+14155550101", "+12125550199"}
	contacts := map[string]string{}
	for i, addr := range []string{"+16175550111", "+16175550122", "+447700900333", "22395", "ACMEBANK"} {
		kind := "number"
		if i == 3 {
			kind = "short_code"
		} else if i == 4 {
			kind = "alphanumeric"
		}
		contacts[addr] = insertID(t, db, `INSERT INTO contacts (tenant_id, address, kind, created_at) VALUES ($1, $2, $3, now()) RETURNING id`, h.ID, addr, kind)
	}
	addrs := slices.Sorted(func(yield func(string) bool) {
		for a := range contacts {
			if !yield(a) {
				return
			}
		}
	})

	ny, _ := time.LoadLocation("America/New_York")
	var times []time.Time
	for _, day := range []time.Time{time.Date(2026, 3, 7, 12, 0, 0, 0, ny), time.Date(2026, 10, 31, 12, 0, 0, 0, ny)} {
		for at := day; at.Before(day.Add(48 * time.Hour)); at = at.Add(30 * time.Minute) {
			times = append(times, at.Add(time.Duration(r.IntN(29*60))*time.Second))
		}
	}
	yearStart := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for range 120 {
		times = append(times, yearStart.Add(time.Duration(r.Int64N(int64(364*24*time.Hour/time.Second)))*time.Second))
	}

	for _, at := range times {
		s := hSession{
			Type:      reporting.SessionTypes[r.IntN(4)],
			Number:    h.Numbers[r.IntN(len(h.Numbers))],
			Contact:   addrs[r.IntN(len(addrs))],
			CreatedAt: at.UTC(),
			Status:    "open",
		}
		direct := strings.Contains(s.Type, "Direct")
		inbound := s.Type == reporting.TypeInboundDirect || s.Type == reporting.TypeInbound
		var agent *hUser
		if r.IntN(5) > 0 {
			agent = &agents[r.IntN(len(agents))]
			s.Assignee = &agent.ID
			// Bo moved from Support to Sales as primary team in the autumn: sessions keep the
			// team of their time.
			team := agent.Teams[0]
			if agent.Name == "Bo Agent" && at.Month() >= time.October {
				team = agent.Teams[1]
			}
			s.Team = &team
			s.AssignedAt = ptr(s.CreatedAt.Add(time.Duration(5+r.IntN(300)) * time.Second))
		}
		switch {
		case direct && agent != nil:
			s.Queue = ptr(personal[agent.ID])
		case !direct:
			s.Queue = &smsQueue
		case r.IntN(2) == 0:
			s.Queue = ptr(personal[agents[0].ID])
		}
		s.Deflected = inbound && r.IntN(4) == 0
		if direct && inbound {
			s.Missed = r.IntN(3)
			if s.Missed > 0 {
				s.Rerouted = r.IntN(s.Missed + 1)
			}
		}
		// Messages: an inbound session opens with the contact's text; an outbound one with the
		// agent's. Then texts both ways, a deflection sometimes, and sometimes no agent at all.
		cursor := s.CreatedAt
		add := func(dir, kind string, sender *string) {
			s.Messages = append(s.Messages, hMsg{Direction: dir, Kind: kind, Sender: sender, At: cursor})
			cursor = cursor.Add(time.Duration(1+r.IntN(900)) * time.Second)
		}
		if inbound {
			add("in", "text", nil)
			if s.Deflected {
				add("out", "deflection", nil)
			}
			if r.IntN(3) == 0 {
				add("in", "text", nil)
			}
		} else if agent != nil {
			add("out", "text", &agent.ID)
		} else {
			add("out", "text", &agents[0].ID)
		}
		for range r.IntN(4) {
			if agent != nil && r.IntN(2) == 0 {
				add("out", "text", &agent.ID)
			} else {
				add("in", "text", nil)
			}
		}
		if r.IntN(10) == 0 {
			add("out", "help", nil)
		}
		if r.IntN(10) < 7 {
			s.Status = "closed"
			s.ClosedAt = ptr(cursor.Add(time.Duration(r.IntN(3600)) * time.Second))
		} else {
			// A contact has one open session per number: open ones get a contact of their own.
			s.Contact = fmt.Sprintf("+1617556%04d", len(h.Sessions))
			contacts[s.Contact] = insertID(t, db, `INSERT INTO contacts (tenant_id, address, kind, created_at) VALUES ($1, $2, 'number', now()) RETURNING id`, h.ID, s.Contact)
		}
		s.ID = insertID(t, db, `INSERT INTO sessions (tenant_id, contact_id, number, type, status, owner_user_id, queue_id,
				assignee_id, team_id, deflected, missed_count, rerouted_count, first_inbound_at, last_message_at,
				created_at, assigned_at, closed_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) RETURNING id`,
			h.ID, contacts[s.Contact], s.Number, s.Type, s.Status, s.Assignee, s.Queue, s.Assignee, s.Team,
			s.Deflected, s.Missed, s.Rerouted, nil, cursor, s.CreatedAt, s.AssignedAt, s.ClosedAt)
		for _, m := range s.Messages {
			from, to := s.Contact, s.Number
			if m.Direction == "out" {
				from, to = s.Number, s.Contact
			}
			status := "received"
			if m.Direction == "out" {
				status = "delivered"
			}
			exec(t, db, `INSERT INTO messages (tenant_id, session_id, direction, kind, from_address, to_address, body,
					sender_user_id, status, created_at, status_changed_at)
				VALUES ($1, $2, $3, $4, $5, $6, 'hello', $7, $8, $9, $9)`,
				h.ID, s.ID, m.Direction, m.Kind, from, to, m.Sender, status, m.At)
		}
		h.Sessions = append(h.Sessions, s)
	}
	h.Gone = agents[len(agents)-1]
	exec(t, db, `UPDATE users SET active = false, deactivated_at = now() WHERE id = $1`, h.Gone.ID)
}

// figures are one group's expected figures.
type figures struct {
	Sessions, In, Out, Deflected, Missed, Misses, Rerouted, Reroutes int64
	firstResponses, handling                                         []float64
}

func median(v []float64) *float64 {
	if len(v) == 0 {
		return nil
	}
	s := slices.Clone(v)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return &s[n/2]
	}
	m := (s[n/2-1] + s[n/2]) / 2
	return &m
}

// groupKey is a session's key under dims, as a string; empty parts are nulls.
func groupKey(h *tenantHistory, s hSession, dims []reporting.Dimension) string {
	var parts []string
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	for _, d := range dims {
		switch d {
		case reporting.DimType:
			parts = append(parts, s.Type)
		case reporting.DimAgent:
			parts = append(parts, str(s.Assignee))
		case reporting.DimQueue:
			parts = append(parts, str(s.Queue))
		case reporting.DimTeam:
			parts = append(parts, str(s.Team))
		case reporting.DimNumber:
			parts = append(parts, s.Number)
		case reporting.DimDay:
			parts = append(parts, s.CreatedAt.In(h.Loc).Format(time.DateOnly))
		case reporting.DimHour:
			local := s.CreatedAt.In(h.Loc)
			start := local.Add(-time.Duration(local.Minute())*time.Minute - time.Duration(local.Second())*time.Second)
			parts = append(parts, start.Format(time.RFC3339))
		}
	}
	return strings.Join(parts, "|")
}

// rowKey is a report row's key in groupKey's form.
func rowKey(row reporting.Row, dims []reporting.Dimension) string {
	var parts []string
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	for _, d := range dims {
		switch d {
		case reporting.DimType:
			parts = append(parts, row.Type)
		case reporting.DimAgent:
			parts = append(parts, str(row.AgentID))
		case reporting.DimQueue:
			parts = append(parts, str(row.QueueID))
		case reporting.DimTeam:
			parts = append(parts, str(row.TeamID))
		case reporting.DimNumber:
			parts = append(parts, row.Number)
		case reporting.DimDay:
			parts = append(parts, row.Day)
		case reporting.DimHour:
			parts = append(parts, row.Hour)
		}
	}
	return strings.Join(parts, "|")
}

// sessionFigures are one session's own figures, by the package's definitions: the first
// response is the first agent text after the first inbound text, in inbound sessions.
func sessionFigures(s hSession) (in, out int64, firstResponse, handling *float64) {
	var firstIn *time.Time
	for _, m := range s.Messages {
		if m.Direction == "in" {
			in++
			if firstIn == nil || m.At.Before(*firstIn) {
				firstIn = ptr(m.At)
			}
		} else {
			out++
		}
	}
	inbound := s.Type == reporting.TypeInboundDirect || s.Type == reporting.TypeInbound
	if inbound && firstIn != nil {
		var first *time.Time
		for _, m := range s.Messages {
			if m.Direction == "out" && m.Kind == "text" && m.Sender != nil && !m.At.Before(*firstIn) && (first == nil || m.At.Before(*first)) {
				first = ptr(m.At)
			}
		}
		if first != nil {
			firstResponse = ptr(first.Sub(*firstIn).Seconds())
		}
	}
	if s.ClosedAt != nil && s.AssignedAt != nil {
		handling = ptr(s.ClosedAt.Sub(*s.AssignedAt).Seconds())
	}
	return in, out, firstResponse, handling
}

// expect computes the report of h's sessions created in [from, to) of the given types (all when
// none), grouped by dims.
func expect(h *tenantHistory, dims []reporting.Dimension, from, to time.Time, types []string) map[string]*figures {
	out := map[string]*figures{}
	for _, s := range h.Sessions {
		if s.CreatedAt.Before(from) || !s.CreatedAt.Before(to) || (len(types) > 0 && !slices.Contains(types, s.Type)) {
			continue
		}
		k := groupKey(h, s, dims)
		f := out[k]
		if f == nil {
			f = &figures{}
			out[k] = f
		}
		in, o, fr, hd := sessionFigures(s)
		f.Sessions++
		f.In += in
		f.Out += o
		if s.Deflected {
			f.Deflected++
		}
		if s.Missed > 0 {
			f.Missed++
		}
		f.Misses += int64(s.Missed)
		if s.Rerouted > 0 {
			f.Rerouted++
		}
		f.Reroutes += int64(s.Rerouted)
		if fr != nil {
			f.firstResponses = append(f.firstResponses, *fr)
		}
		if hd != nil {
			f.handling = append(f.handling, *hd)
		}
	}
	if len(dims) == 0 && len(out) == 0 {
		out[""] = &figures{}
	}
	return out
}

func fmtFloat(p *float64) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprintf("%.6f", *p)
}

// checkRows compares every figure of every row with the expectation, and the names shown.
func checkRows(t *testing.T, h *tenantHistory, dims []reporting.Dimension, rows []reporting.Row, want map[string]*figures) {
	t.Helper()
	seen := map[string]bool{}
	for _, row := range rows {
		k := rowKey(row, dims)
		if seen[k] {
			t.Errorf("group %q appears twice", k)
		}
		seen[k] = true
		f, ok := want[k]
		if !ok {
			t.Errorf("group %q: got a row with %d sessions, want no row", k, row.Sessions)
			continue
		}
		got := [8]int64{row.Sessions, row.MessagesIn, row.MessagesOut, row.Deflected, row.Missed, row.Misses, row.Rerouted, row.Reroutes}
		exp := [8]int64{f.Sessions, f.In, f.Out, f.Deflected, f.Missed, f.Misses, f.Rerouted, f.Reroutes}
		if got != exp {
			t.Errorf("group %q: got sessions, in, out, deflected, missed, misses, rerouted, reroutes = %v, want %v", k, got, exp)
		}
		if g, w := fmtFloat(row.MedianFirstResponseSeconds), fmtFloat(median(f.firstResponses)); g != w {
			t.Errorf("group %q: got median first response %s, want %s", k, g, w)
		}
		if g, w := fmtFloat(row.MedianHandlingSeconds), fmtFloat(median(f.handling)); g != w {
			t.Errorf("group %q: got median handling %s, want %s", k, g, w)
		}
		if row.AgentID != nil && (row.AgentName == nil || *row.AgentName != h.agentName(*row.AgentID)) {
			t.Errorf("group %q: got agent name %v, want %q", k, row.AgentName, h.agentName(*row.AgentID))
		}
		if row.TeamID != nil && (row.TeamName == nil || *row.TeamName != h.teamName(*row.TeamID)) {
			t.Errorf("group %q: got team name %v, want %q", k, row.TeamName, h.teamName(*row.TeamID))
		}
		if row.QueueID != nil && (row.QueueName == nil || *row.QueueName != h.queueName(*row.QueueID)) {
			t.Errorf("group %q: got queue name %v, want %q", k, row.QueueName, h.queueName(*row.QueueID))
		}
	}
	for k, f := range want {
		if !seen[k] {
			t.Errorf("group %q: got no row, want %d sessions", k, f.Sessions)
		}
	}
}
