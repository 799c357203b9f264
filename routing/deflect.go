package routing

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"directsms/deflection"
	"directsms/sql/pg"
)

// After-hours deflection on the inbound path (DESIGN.md, "After-hours deflection").
//
// The inbound batch (routing_inbound_batch) answers, for each routed text, the effective
// deflection settings of its session's owner (deflection_effective) and the session's
// deflection state. Only when the settings are enabled does Go decide (deflection.Decide),
// and only when it decides to deflect does a second statement record it: the session's
// deflected, deflected_at and deflected_period, the message as a queued outbound row (the
// outbox the outbound workers send), and a 'deflected' step on the session's timeline. That
// statement re-checks the rules under the session's row lock — not already deflected in this
// closed period, no agent reply within deflection.ReplyGrace, contact not opted out — so texts
// of one session arriving at once deflect once. It runs after the text is committed: a crash in
// between loses the deflection reply, never the text.
//
// Consent keywords (STOP, START, HELP) get their own reply and are never deflected.

const (
	// sqlDeflect records one deflection and queues its message, unless the session was
	// deflected in the period already, an agent replied since $5, or the contact opted out;
	// it returns the message id, or no row.
	sqlDeflect = `WITH s AS (
			UPDATE sessions s SET deflected = true, deflected_at = $3, deflected_period = $4
			FROM contacts c
			WHERE s.tenant_id = $1 AND s.id = $2 AND s.status = 'open' AND c.id = s.contact_id AND NOT c.opted_out
				AND s.deflected_period IS DISTINCT FROM $4
				AND (s.last_agent_reply_at IS NULL OR s.last_agent_reply_at <= $5)
			RETURNING s.tenant_id, s.id, s.number, c.address
		), m AS (
			INSERT INTO messages (tenant_id, session_id, direction, kind, from_address, to_address, body, segments, encoding,
				provider, status, created_at, status_changed_at)
			SELECT s.tenant_id, s.id, 'out', 'deflection', s.number, s.address, $6, $7, $8, $9, 'queued', $3, $3 FROM s
			RETURNING id, tenant_id, session_id
		)
		INSERT INTO session_events (tenant_id, session_id, kind, data, at)
		SELECT m.tenant_id, m.session_id, 'deflected',
			jsonb_build_object('message_id', m.id, 'period', routing_ts($4), 'source', CAST($10 AS text)), $3
		FROM m
		RETURNING data->>'message_id'`
)

// deflectionState is what the inbound statement read for deflection.
type deflectionState struct {
	Source          sql.NullString `db:"deflection_source"`
	Enabled         sql.NullBool   `db:"deflection_enabled"`
	Hours           []byte         `db:"deflection_hours"`
	Message         sql.NullString `db:"deflection_message"`
	Timezone        sql.NullString `db:"deflection_timezone"`
	DeflectedPeriod *time.Time     `db:"deflected_period"`
	LastAgentReply  *time.Time     `db:"last_agent_reply_at"`
}

// effective returns the settings the statement read; false when deflection is off or nothing
// was read.
func (st deflectionState) effective() (deflection.Effective, bool, error) {
	if !st.Enabled.Bool {
		return deflection.Effective{}, false, nil
	}
	eff, err := deflection.Decode(st.Source.String, true, st.Hours, st.Message.String, st.Timezone.String)
	return eff, err == nil, err
}

// deflect applies after-hours deflection to a routed text and returns the id of the message it
// queued, or "" when it did not deflect.
func (s *Service) deflect(ctx context.Context, in Inbound, res Result, st deflectionState, now time.Time) (string, error) {
	eff, ok, err := st.effective()
	if err != nil || !ok {
		return "", err
	}
	d := deflection.Decide(eff, now, st.DeflectedPeriod, st.LastAgentReply)
	if !d.Deflect {
		return "", nil
	}
	segments, enc := CountSegments(d.Message)
	var id string
	err = s.db.GetContext(ctx, &id, sqlDeflect, res.TenantID, res.SessionID, now, d.Period, now.Add(-deflection.ReplyGrace),
		d.Message, max(segments, 1), string(enc), string(in.Provider), string(eff.Source))
	if errors.Is(err, pg.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("deflect session %s: %w", res.SessionID, err)
	}
	return id, nil
}

// ExplainedDeflection is the after-hours deflection a text would meet: the effective settings of
// the number's owner and the level they come from, whether the hours are open at the text's time
// and when they open next, and whether the text would be deflected, with why.
type ExplainedDeflection struct {
	Enabled bool                `json:"enabled"`
	Source  deflection.Source   `json:"source"`
	Hours   deflection.Schedule `json:"hours"`
	Open    bool                `json:"open"`
	// NextOpen is the next opening while closed; null when open, off, or not opening within
	// deflection.HorizonDays.
	NextOpen *time.Time `json:"next_open"`
	// Deflect says whether the text would be answered with Message (rendered); Reason says why
	// or why not: deflected, disabled, open, already_deflected, agent_replied, opted_out.
	Deflect bool              `json:"deflect"`
	Reason  deflection.Reason `json:"reason"`
	Message string            `json:"message,omitempty"`
}

// ReasonOptedOut: the contact opted out, and is sent nothing.
const ReasonOptedOut deflection.Reason = "opted_out"

const sqlExplainDeflectionState = `SELECT deflected_period, last_agent_reply_at FROM sessions WHERE tenant_id = $1 AND id = $2`

// explainDeflection adds the deflection a text to owner at ex.At would meet, continuing
// ex.OpenSession when there is one.
func (s *Service) explainDeflection(ctx context.Context, tenantID string, owner Owner, ex *Explanation) error {
	var target deflection.Target
	if owner.UserID != nil {
		target.UserID = *owner.UserID
	}
	if owner.QueueID != nil {
		target.QueueID = *owner.QueueID
	}
	eff, err := deflection.Lookup(ctx, s.db, tenantID, target)
	if err != nil {
		return fmt.Errorf("explain: %w", err)
	}
	var state struct {
		Period    *time.Time `db:"deflected_period"`
		LastReply *time.Time `db:"last_agent_reply_at"`
	}
	if ex.OpenSession != nil {
		if err := s.db.GetContext(ctx, &state, sqlExplainDeflectionState, tenantID, ex.OpenSession.ID); err != nil && !isNoRows(err) {
			return fmt.Errorf("explain: deflection state: %w", err)
		}
	}
	d := deflection.Decide(eff, ex.At, state.Period, state.LastReply)
	out := &ExplainedDeflection{Enabled: eff.Enabled, Source: eff.Source, Hours: eff.Hours, Open: d.Open,
		Deflect: d.Deflect, Reason: d.Reason, Message: d.Message}
	if !d.Open && !d.NextOpen.IsZero() {
		next := d.NextOpen.UTC()
		out.NextOpen = &next
	}
	if d.Deflect && ex.ContactOptedOut {
		out.Deflect, out.Reason, out.Message = false, ReasonOptedOut, ""
	}
	ex.Deflection = out
	return nil
}
