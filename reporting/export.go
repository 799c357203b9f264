package reporting

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// ExportQuery is a session export request as the API receives it; Export validates it.
type ExportQuery struct {
	From  string   // RFC 3339 time or YYYY-MM-DD date in the tenant's zone (see ParseRange)
	To    string   // exclusive, same forms as From
	Types []string // display types to keep; none keeps all
}

// ExportRow is one session of an export, with its figures as defined in the package
// documentation.
type ExportRow struct {
	ID          string
	Type        string
	Status      string
	CreatedAt   time.Time
	ClosedAt    *time.Time
	CloseReason *string
	Number      string
	// Contact is the outside party's address, in full: exports are for admins and supervisors,
	// and the rule against full numbers is about logs.
	Contact              string
	AgentID              *string
	AgentName            *string
	QueueID              *string
	QueueName            *string
	TeamID               *string
	TeamName             *string
	MessagesIn           int64
	MessagesOut          int64
	Deflected            bool
	Missed               int64
	Rerouted             int64
	FirstResponseSeconds *float64
	HandlingSeconds      *float64
}

// ExportColumns is the header of the export's CSV, in record order.
var ExportColumns = []string{"id", "type", "status", "created_at", "closed_at", "close_reason", "number", "contact",
	"agent_id", "agent_name", "queue_id", "queue_name", "team_id", "team_name", "messages_in", "messages_out",
	"deflected", "missed", "rerouted", "first_response_seconds", "handling_seconds"}

// Export is a validated export, ready to stream.
type Export struct {
	store    *Store
	tenantID string
	Range    Range
	Types    []string
}

// exportFlushEvery is how many records go out between flushes: often enough that the client
// sees a steady stream, seldom enough that flushing costs nothing.
const exportFlushEvery = 500

// The export reads sessions in creation order through sessions_tenant_created_idx, so rows
// stream out as the index is walked: no sort, nothing held back.
const sqlExportSessions = `SELECT s.id, s.type, s.status, s.created_at, s.closed_at, s.close_reason, s.number, c.address,
		s.assignee_id, u.name, s.queue_id, q.name, s.team_id, t.name,
		s.messages_in, s.messages_out, s.deflected, s.missed_count, s.rerouted_count,
		` + sqlFirstResponseSeconds + `,
		` + sqlHandlingSeconds + `
	FROM sessions s
	JOIN contacts c ON c.tenant_id = s.tenant_id AND c.id = s.contact_id
	LEFT JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.assignee_id
	LEFT JOIN queues q ON q.tenant_id = s.tenant_id AND q.id = s.queue_id
	LEFT JOIN teams t ON t.tenant_id = s.tenant_id AND t.id = s.team_id
	WHERE s.tenant_id = $1 AND s.created_at >= $2 AND s.created_at < $3
	  AND (cardinality(CAST($4 AS text[])) = 0 OR s.type = ANY($4))
	ORDER BY s.created_at`

// Export validates an export request. Nothing is read until Each or WriteCSV, so a caller can
// answer a bad request before it starts streaming.
func (s *Store) Export(ctx context.Context, tenantID string, in ExportQuery) (*Export, error) {
	loc, err := s.tenantLocation(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	rng, err := ParseRange(in.From, in.To, loc)
	if err != nil {
		return nil, err
	}
	types, err := ParseTypes(in.Types)
	if err != nil {
		return nil, err
	}
	return &Export{store: s, tenantID: tenantID, Range: rng, Types: types}, nil
}

// Each calls fn with every session of the export in creation order, reading them one at a time
// as fn consumes them; memory stays flat however many there are. An error from fn stops it.
func (e *Export) Each(ctx context.Context, fn func(ExportRow) error) error {
	types := e.Types
	if types == nil {
		types = []string{}
	}
	err := e.store.readOnly(ctx, func(tx *sqlx.Tx) error {
		rows, err := tx.QueryContext(ctx, sqlExportSessions, e.tenantID, e.Range.From, e.Range.To, pq.Array(types))
		if err != nil {
			return err
		}
		defer rows.Close()
		var r ExportRow
		for rows.Next() {
			r = ExportRow{}
			if err := rows.Scan(&r.ID, &r.Type, &r.Status, &r.CreatedAt, &r.ClosedAt, &r.CloseReason, &r.Number, &r.Contact,
				&r.AgentID, &r.AgentName, &r.QueueID, &r.QueueName, &r.TeamID, &r.TeamName,
				&r.MessagesIn, &r.MessagesOut, &r.Deflected, &r.Missed, &r.Rerouted,
				&r.FirstResponseSeconds, &r.HandlingSeconds); err != nil {
				return err
			}
			if err := fn(r); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	if err != nil {
		return fmt.Errorf("export sessions of tenant %s: %w", e.tenantID, err)
	}
	return nil
}

// WriteCSV streams the export to w as CSV (ExportColumns, then one record per session), calling
// flush, when set, every few hundred records so they leave the process as they are read. Times
// are RFC 3339 in UTC; nulls are empty cells.
func (e *Export) WriteCSV(ctx context.Context, w io.Writer, flush func()) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(ExportColumns); err != nil {
		return err
	}
	rec := make([]string, len(ExportColumns))
	n := 0
	err := e.Each(ctx, func(r ExportRow) error {
		r.record(rec)
		if err := cw.Write(rec); err != nil {
			return err
		}
		n++
		if n%exportFlushEvery == 0 {
			cw.Flush()
			if err := cw.Error(); err != nil {
				return err
			}
			if flush != nil {
				flush()
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	if flush != nil {
		flush()
	}
	return nil
}

// record fills rec (len(ExportColumns) long) with r's cells.
func (r *ExportRow) record(rec []string) {
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return csvText(*p)
	}
	ts := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	float := func(p *float64) string {
		if p == nil {
			return ""
		}
		return strconv.FormatFloat(*p, 'f', -1, 64)
	}
	rec[0], rec[1], rec[2] = r.ID, csvText(r.Type), r.Status
	rec[3], rec[4], rec[5] = ts(&r.CreatedAt), ts(r.ClosedAt), str(r.CloseReason)
	rec[6], rec[7] = csvText(r.Number), csvText(r.Contact)
	rec[8], rec[9], rec[10], rec[11], rec[12], rec[13] = str(r.AgentID), str(r.AgentName), str(r.QueueID), str(r.QueueName), str(r.TeamID), str(r.TeamName)
	rec[14], rec[15] = strconv.FormatInt(r.MessagesIn, 10), strconv.FormatInt(r.MessagesOut, 10)
	rec[16] = strconv.FormatBool(r.Deflected)
	rec[17], rec[18] = strconv.FormatInt(r.Missed, 10), strconv.FormatInt(r.Rerouted, 10)
	rec[19], rec[20] = float(r.FirstResponseSeconds), float(r.HandlingSeconds)
}
