package routing

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"directsms/numbers"
	"directsms/sql/pg"
)

// Provider names a carrier, as stored on messages.
type Provider string

// The carriers directsms receives texts from.
const (
	ProviderTwilio Provider = "twilio"
	ProviderTelnyx Provider = "telnyx"
)

// Inbound is one text a carrier delivered, whose webhook signature the gateway has verified.
type Inbound struct {
	// AccountID is the carrier account (carrier_accounts.id) whose credentials verified the
	// webhook. The number texted must be in that account; a text signed by one tenant's
	// account can never reach another tenant.
	AccountID string
	Provider  Provider
	// AccountSID is the carrier's own account id as the webhook gave it, kept on unrouted texts.
	AccountSID string
	// CarrierMessageID is the carrier's id for the text; a second text with the same id is a
	// redelivery and changes nothing.
	CarrierMessageID string
	// From is the contact: a number, short code or alphanumeric sender id.
	From numbers.Address
	// To is the number texted in E.164 when it normalized, else as the carrier sent it (and
	// then it matches no number: the text is unrouted).
	To    string
	Body  string
	Media []Media
	// Segments is how many segments the carrier says the text took; 0 counts them from Body.
	Segments int
}

// Media is one attachment of an MMS.
type Media struct {
	URL         string `json:"url"`
	ContentType string `json:"content_type"`
}

// Outcome says what became of an inbound text.
type Outcome string

// The outcomes of Inbound. Every one is acknowledged to the carrier.
const (
	OutcomeRouted    Outcome = "routed"
	OutcomeDuplicate Outcome = "duplicate"
	OutcomeUnrouted  Outcome = "unrouted"
)

// UnroutedReason says why a text was kept but routed to no one.
type UnroutedReason string

// The reasons of unrouted_messages.
const (
	UnroutedUnknownNumber UnroutedReason = "unknown_number"
	UnroutedSMSDisabled   UnroutedReason = "sms_disabled"
	UnroutedNoOwner       UnroutedReason = "no_owner"
)

// Result is what Inbound did with a text.
type Result struct {
	Outcome Outcome
	// Reason is set when Outcome is OutcomeUnrouted.
	Reason UnroutedReason
	// TenantID is the tenant of the carrier account; empty for a duplicate.
	TenantID   string
	SessionID  string
	MessageID  string
	NewSession bool
	// ReplyIDs are the outbound messages queued in answer to a consent keyword.
	ReplyIDs []string
	// DeflectionID is the after-hours deflection message queued in answer, if any.
	DeflectionID string

	// deflection is what the inbound statement read for after-hours deflection.
	deflection deflectionState
}

// The automatic replies to consent keywords; {tenant} becomes the tenant's name. A tenant's own
// help_text, when set, replaces HelpText.
const (
	OptOutText = "{tenant}: you are unsubscribed and will receive no more messages. Reply START to subscribe again."
	OptInText  = "{tenant}: you are subscribed again. Msg&data rates may apply. Reply HELP for help, STOP to opt out."
	HelpText   = "{tenant}: reply to this number to reach our team. Msg&data rates may apply. Reply STOP to opt out."
)

// sqlRouteInboundBatch runs routing_inbound_batch (migration 0012) over a batch of texts.
const (
	sqlRouteInboundBatch = `SELECT idx, outcome, tenant_id, session_id, message_id, new_session, reply_id, reply_body,
		deflection_source, deflection_enabled, deflection_hours, deflection_message, deflection_timezone,
		deflected_period, last_agent_reply_at
		FROM routing_inbound_batch($1, $2, $3, $4)`
	sqlSetReplySegments = `UPDATE messages SET segments = $2, encoding = $3 WHERE id = $1`
)

// inboundItem is one text for routing_inbound_batch; the JSON names are routing_inbound_item's.
type inboundItem struct {
	Idx              int             `json:"idx"`
	AccountID        string          `json:"account_id"`
	Provider         Provider        `json:"provider"`
	CarrierMessageID string          `json:"carrier_message_id"`
	AccountSID       string          `json:"account_sid"`
	From             string          `json:"from_address"`
	FromKind         string          `json:"from_kind"`
	To               string          `json:"to_address"`
	Body             string          `json:"body"`
	Media            json.RawMessage `json:"media,omitempty"`
	Segments         int             `json:"segments"`
	Encoding         string          `json:"encoding"`
	Keyword          Keyword         `json:"keyword"`
	At               time.Time       `json:"at"`
}

// inboundRow is what routing_inbound_batch answered for one text.
type inboundRow struct {
	Idx        int            `db:"idx"`
	Outcome    string         `db:"outcome"`
	TenantID   sql.NullString `db:"tenant_id"`
	SessionID  sql.NullString `db:"session_id"`
	MessageID  sql.NullString `db:"message_id"`
	NewSession bool           `db:"new_session"`
	ReplyID    sql.NullString `db:"reply_id"`
	ReplyBody  sql.NullString `db:"reply_body"`
	deflectionState
}

// result is the row as Inbound answers it.
func (r inboundRow) result() Result {
	res := Result{Outcome: Outcome(r.Outcome), TenantID: r.TenantID.String, SessionID: r.SessionID.String,
		MessageID: r.MessageID.String, NewSession: r.NewSession, deflection: r.deflectionState}
	if r.ReplyID.Valid {
		res.ReplyIDs = []string{r.ReplyID.String}
	}
	if reason, ok := strings.CutPrefix(r.Outcome, string(OutcomeUnrouted)+":"); ok {
		res.Outcome, res.Reason = OutcomeUnrouted, UnroutedReason(reason)
	}
	return res
}

// Inbound stores and routes one text (see routing_inbound): when it returns without error the
// message, its session and its offers are committed. A redelivered text answers
// OutcomeDuplicate and changes nothing, also when both copies arrive at once.
//
// The texts of concurrent requests are stored together, in one transaction (see batcher and
// routing_inbound_batch); each request still waits for its own text's commit.
func (s *Service) Inbound(ctx context.Context, in Inbound) (Result, error) {
	item, err := newInboundItem(in, s.now())
	if err != nil {
		return Result{}, err
	}
	res, err := s.inbound.do(ctx, item)
	if err != nil {
		return Result{}, fmt.Errorf("route %s message %s: %w", in.Provider, in.CarrierMessageID, err)
	}
	if res.Outcome == OutcomeRouted && item.Keyword == KeywordNone {
		// The text is stored and acknowledged whatever becomes of its deflection.
		id, err := s.deflect(ctx, in, res, res.deflection, item.At)
		if err != nil {
			s.log.ErrorContext(ctx, "deflect", "session_id", res.SessionID, "err", err)
		}
		res.DeflectionID = id
	}
	return res, nil
}

// newInboundItem is the text in, arriving at at, as a batch takes it: its keyword classified and
// its segments counted unless the carrier counted them.
func newInboundItem(in Inbound, at time.Time) (*inboundItem, error) {
	segments, enc := CountSegments(in.Body)
	if in.Segments > 0 {
		segments = in.Segments
	}
	item := &inboundItem{AccountID: in.AccountID, Provider: in.Provider, CarrierMessageID: in.CarrierMessageID,
		AccountSID: in.AccountSID, From: in.From.Value, FromKind: string(in.From.Kind), To: in.To, Body: in.Body,
		Segments: max(segments, 1), Encoding: string(enc), Keyword: ClassifyKeyword(in.Body), At: at}
	if len(in.Media) > 0 {
		b, err := json.Marshal(in.Media)
		if err != nil {
			return nil, fmt.Errorf("encode media of %s: %w", in.CarrierMessageID, err)
		}
		item.Media = b
	}
	return item, nil
}

// inboundBatch stores and routes a batch of texts in one transaction and answers their results
// in the same order (see runOrAlone).
func (s *Service) inboundBatch(ctx context.Context, items []*inboundItem) []outcome[Result] {
	out := runOrAlone(ctx, items, s.inboundRun)
	for _, o := range out {
		if o.err == nil && o.res.Outcome == OutcomeRouted {
			s.notifier.wake()
			break
		}
	}
	return out
}

// inboundRun stores and routes one batch. A batch that deadlocks with another, or that met a
// copy of one of its texts committed by another request meanwhile, runs again: its duplicate
// check then finds the copy.
func (s *Service) inboundRun(ctx context.Context, items []*inboundItem) ([]Result, error) {
	replies := false
	for i, item := range items {
		item.Idx = i
		replies = replies || item.Keyword != KeywordNone
	}
	payload, err := json.Marshal(items)
	if err != nil {
		return nil, fmt.Errorf("encode batch: %w", err)
	}
	args := []any{string(payload), OptOutText, OptInText, HelpText}
	again := func(err error) bool {
		return pg.IsRetryable(err) || pg.IsViolation(err, "messages_carrier_message_key")
	}
	rows, err := retried(ctx, again, func() ([]inboundRow, error) {
		var rows []inboundRow
		if !replies {
			// Without a keyword there is no reply to count: one statement in autocommit, one
			// round trip.
			err := s.db.SelectContext(ctx, &rows, sqlRouteInboundBatch, args...)
			return rows, err
		}
		err := pg.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
			if err := tx.SelectContext(ctx, &rows, sqlRouteInboundBatch, args...); err != nil {
				return err
			}
			return countReplySegments(ctx, tx, rows)
		})
		return rows, err
	})
	if err != nil {
		return nil, fmt.Errorf("route %d texts: %w", len(items), err)
	}
	out := make([]Result, len(items))
	seen := make([]bool, len(items))
	for _, r := range rows {
		if r.Idx < 0 || r.Idx >= len(items) || seen[r.Idx] {
			return nil, fmt.Errorf("route %d texts: answer for text %d is out of place", len(items), r.Idx)
		}
		seen[r.Idx] = true
		out[r.Idx] = r.result()
	}
	if len(rows) != len(items) {
		return nil, fmt.Errorf("route %d texts: got %d answers", len(items), len(rows))
	}
	return out, nil
}

// countReplySegments counts the segments of the replies to keywords a batch queued, in the
// batch's transaction, so the outbox never sees a reply without them.
func countReplySegments(ctx context.Context, tx *sqlx.Tx, rows []inboundRow) error {
	for _, r := range rows {
		if !r.ReplyID.Valid {
			continue
		}
		n, e := CountSegments(r.ReplyBody.String)
		if _, err := tx.ExecContext(ctx, sqlSetReplySegments, r.ReplyID.String, n, string(e)); err != nil {
			return fmt.Errorf("count segments of reply %s: %w", r.ReplyID.String, err)
		}
	}
	return nil
}
