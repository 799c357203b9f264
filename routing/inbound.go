package routing

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

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

const (
	sqlRouteInbound = `SELECT r.outcome, r.tenant_id, r.session_id, r.message_id, r.new_session, r.reply_ids, r.reply_bodies,
		` + sqlDeflectionColumns + `
		FROM routing_inbound($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) r` + sqlDeflectionJoins
	sqlSetReplySegments = `UPDATE messages SET segments = $2, encoding = $3 WHERE id = $1`
)

// Inbound stores and routes one text in one transaction (see routing_inbound): when it returns
// without error the message, its session and its offers are committed. A redelivered text
// answers OutcomeDuplicate and changes nothing, also when both copies arrive at once.
func (s *Service) Inbound(ctx context.Context, in Inbound) (Result, error) {
	stmt, err := s.inboundStmt(ctx)
	if err != nil {
		return Result{}, err
	}
	keyword := ClassifyKeyword(in.Body)
	segments, enc := CountSegments(in.Body)
	if in.Segments > 0 {
		segments = in.Segments
	}
	segments = max(segments, 1)
	var media any
	if len(in.Media) > 0 {
		b, err := json.Marshal(in.Media)
		if err != nil {
			return Result{}, fmt.Errorf("encode media of %s: %w", in.CarrierMessageID, err)
		}
		media = string(b)
	}
	now := s.now()
	args := []any{in.AccountID, string(in.Provider), in.CarrierMessageID, in.AccountSID,
		in.From.Value, string(in.From.Kind), in.To, in.Body, media, segments, string(enc),
		string(keyword), OptOutText, OptInText, HelpText, now}

	var res Result
	if keyword == KeywordNone {
		// The common case is one statement in autocommit: one round trip, one transaction.
		res, err = scanInbound(stmt.QueryRowContext(ctx, args...))
	} else {
		// A keyword may queue a reply, whose segments are counted here, in the same transaction,
		// so the outbox never sees a reply without them.
		err = pg.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
			var bodies []string
			res, bodies, err = scanInboundReplies(tx.StmtContext(ctx, stmt).QueryRowContext(ctx, args...))
			if err != nil {
				return err
			}
			for i, id := range res.ReplyIDs {
				n, e := CountSegments(bodies[i])
				if _, err := tx.ExecContext(ctx, sqlSetReplySegments, id, n, string(e)); err != nil {
					return fmt.Errorf("count segments of reply %s: %w", id, err)
				}
			}
			return nil
		})
	}
	if pg.IsViolation(err, "messages_carrier_message_key") {
		return Result{Outcome: OutcomeDuplicate}, nil
	}
	if err != nil {
		return Result{}, fmt.Errorf("route %s message %s: %w", in.Provider, in.CarrierMessageID, err)
	}
	if res.Outcome == OutcomeRouted {
		s.notifier.wake()
	}
	if res.Outcome == OutcomeRouted && keyword == KeywordNone {
		// The text is stored and acknowledged whatever becomes of its deflection.
		id, err := s.deflect(ctx, in, res, res.deflection, now)
		if err != nil {
			s.log.ErrorContext(ctx, "deflect", "session_id", res.SessionID, "err", err)
		}
		res.DeflectionID = id
	}
	return res, nil
}

func scanInbound(row *sql.Row) (Result, error) {
	res, _, err := scanInboundReplies(row)
	return res, err
}

func scanInboundReplies(row *sql.Row) (Result, []string, error) {
	var (
		outcome                        string
		tenantID, sessionID, messageID sql.NullString
		newSession                     bool
		replyIDs, replyBodies          pq.StringArray
		d                              deflectionState
	)
	if err := row.Scan(&outcome, &tenantID, &sessionID, &messageID, &newSession, &replyIDs, &replyBodies,
		&d.Source, &d.Enabled, &d.Hours, &d.Message, &d.Timezone, &d.DeflectedPeriod, &d.LastAgentReply); err != nil {
		return Result{}, nil, err
	}
	res := Result{Outcome: Outcome(outcome), TenantID: tenantID.String, SessionID: sessionID.String,
		MessageID: messageID.String, NewSession: newSession, ReplyIDs: replyIDs, deflection: d}
	if reason, ok := strings.CutPrefix(outcome, string(OutcomeUnrouted)+":"); ok {
		res.Outcome, res.Reason = OutcomeUnrouted, UnroutedReason(reason)
	}
	return res, replyBodies, nil
}
