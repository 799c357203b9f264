package reporting

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"directsms/internal/apperr"
)

// The session display types, fixed when a session opens.
const (
	TypeInboundDirect  = "Messaging Inbound (SMS Direct)"
	TypeOutboundDirect = "Messaging Outbound (SMS Direct)"
	TypeInbound        = "Messaging Inbound"
	TypeOutbound       = "Messaging Outbound"
)

// SessionTypes lists the display types in the order reports document them.
var SessionTypes = []string{TypeInboundDirect, TypeOutboundDirect, TypeInbound, TypeOutbound}

// Dimension is one key a session report can be grouped by.
type Dimension string

// The dimensions of GET /v1/reports/sessions?group_by=.
const (
	// DimType groups by the session's display type.
	DimType Dimension = "type"
	// DimAgent groups by the session's assignee (agent_id, agent_name); unassigned sessions
	// form one row with nulls.
	DimAgent Dimension = "agent"
	// DimQueue groups by the queue the session is in (queue_id, queue_name).
	DimQueue Dimension = "queue"
	// DimTeam groups by the assignee's primary team at assignment (team_id, team_name).
	DimTeam Dimension = "team"
	// DimNumber groups by the tenant number the session is on (E.164).
	DimNumber Dimension = "number"
	// DimDay groups by the tenant-local date the session was created on.
	DimDay Dimension = "day"
	// DimHour groups by the tenant-local clock hour the session was created in.
	DimHour Dimension = "hour"
)

// Dimensions lists every dimension, in the order rows are keyed.
var Dimensions = []Dimension{DimType, DimAgent, DimQueue, DimTeam, DimNumber, DimDay, DimHour}

// ParseDimensions reads group_by values: names separated by commas, possibly spread over
// several parameters. Blank names are skipped and repeats count once; the order given is the
// order rows are sorted by. An unknown name is a 422 naming it.
func ParseDimensions(values []string) ([]Dimension, error) {
	var out []Dimension
	for _, v := range values {
		for _, name := range strings.Split(v, ",") {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			d := Dimension(name)
			if !slices.Contains(Dimensions, d) {
				return nil, apperr.Invalid("group_by", "invalid_group_by", fmt.Sprintf("unknown group_by %q: use type, agent, queue, team, number, day or hour", name))
			}
			if !slices.Contains(out, d) {
				out = append(out, d)
			}
		}
	}
	return out, nil
}

// ParseTypes checks a type filter: each value one of SessionTypes, exactly as displayed.
func ParseTypes(values []string) ([]string, error) {
	var out []string
	for _, v := range values {
		if !slices.Contains(SessionTypes, v) {
			return nil, apperr.Invalid("type", "invalid_type", fmt.Sprintf("unknown session type %q: use one of %s", v, strings.Join(SessionTypes, ", ")))
		}
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out, nil
}

// ReportQuery is a session report request as the API receives it; SessionReport validates it.
type ReportQuery struct {
	From    string   // RFC 3339 time or YYYY-MM-DD date in the tenant's zone (see ParseRange)
	To      string   // exclusive, same forms as From
	GroupBy []string // dimension names, comma-separated or repeated
	Types   []string // display types to keep; none keeps all
}

// Report is the answer to a session report: the range it covers, the zone its days and hours
// are in, and one Row per group.
type Report struct {
	From     time.Time
	To       time.Time
	Timezone string
	GroupBy  []Dimension
	Types    []string
	Rows     []Row
}

// Row is one group of sessions: its keys (only those grouped by are meaningful) and its
// figures, each defined in the package documentation.
type Row struct {
	Type      string
	AgentID   *string
	AgentName *string
	QueueID   *string
	QueueName *string
	TeamID    *string
	TeamName  *string
	Number    string
	// Day is the tenant-local date, "2026-03-08".
	Day string
	// Hour is the start of the tenant-local clock hour with its offset,
	// "2026-03-08T14:00:00-04:00"; the repeated hour of a fall-back day is two rows.
	Hour string

	Sessions                   int64
	MessagesIn                 int64
	MessagesOut                int64
	Deflected                  int64
	Missed                     int64
	Misses                     int64
	Rerouted                   int64
	Reroutes                   int64
	MedianFirstResponseSeconds *float64
	MedianHandlingSeconds      *float64
}

// inboundTypesSQL are the types whose first response is measured, as an SQL list.
const inboundTypesSQL = `('Messaging Inbound (SMS Direct)', 'Messaging Inbound')`

// sqlFirstResponseSeconds and sqlHandlingSeconds are a session s's first response and handling
// times, NULL when they do not apply. The message figures are counters on the session (see
// migration 0007). In an inbound session nothing precedes the first inbound text (it opened the
// session), so its first agent text is the first one after it.
const (
	sqlFirstResponseSeconds = `CASE WHEN s.type IN ` + inboundTypesSQL + ` AND s.first_agent_text_at >= s.first_message_in_at
		THEN extract(epoch FROM s.first_agent_text_at - s.first_message_in_at) END`
	sqlHandlingSeconds = `CASE WHEN s.closed_at IS NOT NULL AND s.assigned_at IS NOT NULL AND s.closed_at >= s.assigned_at
		THEN extract(epoch FROM s.closed_at - s.assigned_at) END`
)

// dimensionSQL is how each dimension is computed from a session row s ($tz is the tenant's
// zone), the columns it adds to the result, and how rows are ordered by it. The hour is found
// by taking the minutes and seconds past the local hour off the instant, which is exact for
// zones with half-hour offsets and keeps the two 01:00 hours of a fall-back day apart.
var dimensionSQL = map[Dimension]struct {
	expr, column, selects, joins, order string
}{
	DimType:   {expr: `s.type`, column: `type`, selects: `g.type`, order: `g.type`},
	DimAgent:  {expr: `s.assignee_id`, column: `agent_id`, selects: `g.agent_id, u.name AS agent_name`, joins: `LEFT JOIN users u ON u.tenant_id = $1 AND u.id = g.agent_id`, order: `u.name NULLS LAST, g.agent_id`},
	DimQueue:  {expr: `s.queue_id`, column: `queue_id`, selects: `g.queue_id, q.name AS queue_name`, joins: `LEFT JOIN queues q ON q.tenant_id = $1 AND q.id = g.queue_id`, order: `q.name NULLS LAST, g.queue_id`},
	DimTeam:   {expr: `s.team_id`, column: `team_id`, selects: `g.team_id, t.name AS team_name`, joins: `LEFT JOIN teams t ON t.tenant_id = $1 AND t.id = g.team_id`, order: `t.name NULLS LAST, g.team_id`},
	DimNumber: {expr: `s.number`, column: `number`, selects: `g.number`, order: `g.number`},
	DimDay:    {expr: `CAST(s.created_at AT TIME ZONE $tz AS date)`, column: `day`, selects: `g.day`, order: `g.day`},
	DimHour:   {expr: `s.created_at - ((s.created_at AT TIME ZONE $tz) - date_trunc('hour', s.created_at AT TIME ZONE $tz))`, column: `hour`, selects: `g.hour`, order: `g.hour`},
}

// reportSQL builds the report query for dims. Only fixed fragments go into it; every value is
// a parameter: $1 tenant, $2 from, $3 to, then the type filter and the zone when used.
func reportSQL(dims []Dimension, filterTypes bool) (string, []string) {
	var (
		perCols, groupCols, selects, joins, order []string
		params                                    []string
	)
	next := 4
	placeholder := func(name string) string {
		p := "$" + strconv.Itoa(next)
		next++
		params = append(params, name)
		return p
	}
	typeFilter := ""
	if filterTypes {
		typeFilter = ` AND s.type = ANY(` + placeholder("types") + `)`
	}
	tz := ""
	for _, d := range dims {
		f := dimensionSQL[d]
		expr := f.expr
		if strings.Contains(expr, "$tz") {
			if tz == "" {
				tz = placeholder("tz")
			}
			expr = strings.ReplaceAll(expr, "$tz", tz)
		}
		perCols = append(perCols, expr+` AS `+f.column)
		groupCols = append(groupCols, f.column)
		selects = append(selects, f.selects)
		if f.joins != "" {
			joins = append(joins, f.joins)
		}
		order = append(order, f.order)
	}
	perKeys, groupKeys, groupBy, outerSelect, orderBy := "", "", "", "", ""
	if len(dims) > 0 {
		perKeys = strings.Join(perCols, ", ") + ", "
		groupKeys = strings.Join(groupCols, ", ") + ", "
		groupBy = " GROUP BY " + strings.Join(groupCols, ", ")
		outerSelect = strings.Join(selects, ", ") + ", "
		orderBy = " ORDER BY " + strings.Join(order, ", ")
	}
	q := `WITH per AS (
		SELECT ` + perKeys + `s.deflected, s.missed_count, s.rerouted_count, s.messages_in AS n_in, s.messages_out AS n_out,
		       ` + sqlFirstResponseSeconds + ` AS first_response,
		       ` + sqlHandlingSeconds + ` AS handling
		FROM sessions s
		WHERE s.tenant_id = $1 AND s.created_at >= $2 AND s.created_at < $3` + typeFilter + `
	), g AS (
		SELECT ` + groupKeys + `count(*) AS sessions,
		       COALESCE(sum(n_in), 0) AS messages_in,
		       COALESCE(sum(n_out), 0) AS messages_out,
		       count(*) FILTER (WHERE deflected) AS deflected,
		       count(*) FILTER (WHERE missed_count > 0) AS missed,
		       COALESCE(sum(missed_count), 0) AS misses,
		       count(*) FILTER (WHERE rerouted_count > 0) AS rerouted,
		       COALESCE(sum(rerouted_count), 0) AS reroutes,
		       percentile_cont(0.5) WITHIN GROUP (ORDER BY first_response) AS median_first_response,
		       percentile_cont(0.5) WITHIN GROUP (ORDER BY handling) AS median_handling
		FROM per` + groupBy + `
	)
	SELECT ` + outerSelect + `g.sessions, g.messages_in, g.messages_out, g.deflected, g.missed, g.misses,
	       g.rerouted, g.reroutes, g.median_first_response, g.median_handling
	FROM g ` + strings.Join(joins, " ") + orderBy
	return q, params
}

// sqlReportSettings tune the report's transaction. JIT off: the query is costed high enough to
// trigger it, and compiling then takes longer than running. More sort memory: a month of a busy
// tenant (80,000 sessions) sorts in memory instead of spilling to disk.
const sqlReportSettings = `SET LOCAL jit = off; SET LOCAL work_mem = '32MB'`

// SessionReport groups the tenant's sessions created in the query's range by its dimensions
// and computes every figure per group. With no dimensions it answers one row of totals.
func (s *Store) SessionReport(ctx context.Context, tenantID string, in ReportQuery) (*Report, error) {
	loc, err := s.tenantLocation(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	rng, err := ParseRange(in.From, in.To, loc)
	if err != nil {
		return nil, err
	}
	dims, err := ParseDimensions(in.GroupBy)
	if err != nil {
		return nil, err
	}
	types, err := ParseTypes(in.Types)
	if err != nil {
		return nil, err
	}
	query, params := reportSQL(dims, len(types) > 0)
	args := []any{tenantID, rng.From, rng.To}
	for _, p := range params {
		switch p {
		case "types":
			args = append(args, pq.Array(types))
		case "tz":
			args = append(args, loc.String())
		}
	}
	rep := &Report{From: rng.From, To: rng.To, Timezone: loc.String(), GroupBy: dims, Types: types, Rows: []Row{}}
	err = s.readOnly(ctx, func(tx *sqlx.Tx) error {
		rows, err := tx.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			row, err := scanReportRow(rows, dims, loc)
			if err != nil {
				return err
			}
			rep.Rows = append(rep.Rows, row)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("session report of tenant %s: %w", tenantID, err)
	}
	return rep, nil
}

// readOnly runs fn in a read-only transaction with the report settings.
func (s *Store) readOnly(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := s.db.BeginTxx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only: nothing to keep
	if _, err := tx.ExecContext(ctx, sqlReportSettings); err != nil {
		return fmt.Errorf("report settings: %w", err)
	}
	return fn(tx)
}

func scanReportRow(rows *sql.Rows, dims []Dimension, loc *time.Location) (Row, error) {
	var (
		r    Row
		dest []any
		day  time.Time
		hour time.Time
	)
	var typ, number sql.NullString
	for _, d := range dims {
		switch d {
		case DimType:
			dest = append(dest, &typ)
		case DimAgent:
			dest = append(dest, &r.AgentID, &r.AgentName)
		case DimQueue:
			dest = append(dest, &r.QueueID, &r.QueueName)
		case DimTeam:
			dest = append(dest, &r.TeamID, &r.TeamName)
		case DimNumber:
			dest = append(dest, &number)
		case DimDay:
			dest = append(dest, &day)
		case DimHour:
			dest = append(dest, &hour)
		}
	}
	dest = append(dest, &r.Sessions, &r.MessagesIn, &r.MessagesOut, &r.Deflected, &r.Missed, &r.Misses,
		&r.Rerouted, &r.Reroutes, &r.MedianFirstResponseSeconds, &r.MedianHandlingSeconds)
	if err := rows.Scan(dest...); err != nil {
		return Row{}, err
	}
	r.Type, r.Number = typ.String, number.String
	if slices.Contains(dims, DimDay) {
		r.Day = day.Format(time.DateOnly)
	}
	if slices.Contains(dims, DimHour) {
		r.Hour = hour.In(loc).Format(time.RFC3339)
	}
	return r, nil
}
