package routing

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"directsms/directory"
	"directsms/internal/apperr"
)

// The errors session actions answer; the gateway maps them to 409s with these codes.
var (
	ErrAlreadyAssigned = apperr.Conflict("already_assigned", "another agent has accepted this session")
	ErrAtCapacity      = apperr.Conflict("at_capacity", "you already hold as many open SMS sessions as your capacity allows")
	ErrChannelDisabled = apperr.Conflict("channel_disabled", "the sms channel is turned off for you")
	ErrSessionClosed   = apperr.Conflict("session_closed", "the session is closed")
	errSessionNotFound = apperr.NotFound("session")
)

const (
	sqlAccept        = `SELECT routing_accept($1, $2, $3, $4, $5)`
	sqlClose         = `SELECT routing_close($1, $2, $3, $4, $5)`
	sqlCloseIdle     = `SELECT routing_close_idle($1, $2)`
	sqlReroute       = `SELECT routing_reroute($1, $2, $3, $4)`
	sqlOfferWaiting  = `SELECT routing_offer_waiting($1, $2, $3)`
	sqlSessionAccess = `SELECT s.assignee_id FROM sessions s WHERE s.tenant_id = $1 AND s.id = $2 AND ` + sqlVisible
)

// closeIdleBatch is how many sessions one CloseIdle transaction closes, so a backlog never holds
// many row locks at once.
const closeIdleBatch = 500

// Accept makes the caller the assignee of a session: first come, first served. The others'
// offers are withdrawn (each told with session.withdrawn), the session and its queue's
// audience are told with session.assigned. Accepting a session one already holds succeeds again.
// Errors: not found (or not visible to an agent), ErrSessionClosed, ErrAlreadyAssigned,
// ErrChannelDisabled, ErrAtCapacity (the caller's open sms sessions reached its capacity).
func (s *Service) Accept(ctx context.Context, p directory.Principal, sessionID string) (Session, error) {
	var outcome string
	if err := s.db.GetContext(ctx, &outcome, sqlAccept, p.TenantID, sessionID, p.UserID, string(p.Role), s.now()); err != nil {
		return Session{}, fmt.Errorf("accept session %s: %w", sessionID, err)
	}
	switch outcome {
	case "accepted", "mine":
	case "not_found":
		return Session{}, errSessionNotFound
	case "closed":
		return Session{}, ErrSessionClosed
	case "already_assigned":
		return Session{}, ErrAlreadyAssigned
	case "channel_disabled":
		return Session{}, ErrChannelDisabled
	case "at_capacity":
		return Session{}, ErrAtCapacity
	default:
		return Session{}, fmt.Errorf("accept session %s: unexpected outcome %q", sessionID, outcome)
	}
	return s.getSession(ctx, p, sessionID)
}

// CloseSession closes a session for its assignee, or for an admin or supervisor; its pending offers are
// withdrawn. Closing a closed session succeeds and changes nothing.
func (s *Service) CloseSession(ctx context.Context, p directory.Principal, sessionID string) (Session, error) {
	var assignee *string
	if err := s.db.GetContext(ctx, &assignee, sqlSessionAccess, p.TenantID, sessionID, string(p.Role), p.UserID); err != nil {
		if isNoRows(err) {
			return Session{}, errSessionNotFound
		}
		return Session{}, fmt.Errorf("find session %s: %w", sessionID, err)
	}
	if p.Role == directory.RoleAgent && (assignee == nil || *assignee != p.UserID) {
		return Session{}, apperr.Forbidden("only the session's assignee, a supervisor or an admin may close it")
	}
	var outcome string
	if err := s.db.GetContext(ctx, &outcome, sqlClose, p.TenantID, sessionID, "closed_by_user", p.UserID, s.now()); err != nil {
		return Session{}, fmt.Errorf("close session %s: %w", sessionID, err)
	}
	if outcome == "not_found" {
		return Session{}, errSessionNotFound
	}
	return s.getSession(ctx, p, sessionID)
}

// CloseIdle closes every open session whose last message is older than its tenant's
// session_idle_close_seconds at now, and answers how many it closed. A text after that opens a
// new session. The scheduler calls it; several processes may run it at once.
func (s *Service) CloseIdle(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for {
		var n int
		if err := s.db.GetContext(ctx, &n, sqlCloseIdle, now.UTC(), closeIdleBatch); err != nil {
			return total, fmt.Errorf("close idle sessions at %s: %w", now.UTC().Format(time.RFC3339), err)
		}
		total += n
		if n < closeIdleBatch {
			return total, nil
		}
	}
}

// Reroute moves an open, unassigned session one step along its owner's fallback chain (the
// owner's backup, then the owner's primary team's SMS queue, then waiting in the owner's
// personal queue), withdrawing its pending offers; a queue-owned session is offered afresh to
// its queue's eligible members. reason goes on the session's timeline (the thresholds job
// passes "missed"). Errors: not found, ErrSessionClosed, ErrAlreadyAssigned.
func (s *Service) Reroute(ctx context.Context, tenantID, sessionID, reason string) error {
	var outcome string
	if err := s.db.GetContext(ctx, &outcome, sqlReroute, tenantID, sessionID, reason, s.now()); err != nil {
		return fmt.Errorf("reroute session %s: %w", sessionID, err)
	}
	return rerouteOutcome(outcome)
}

// RerouteTx is Reroute inside the caller's transaction, for jobs that resolve an offer and
// reroute its session atomically.
func RerouteTx(ctx context.Context, tx *sqlx.Tx, now time.Time, tenantID, sessionID, reason string) error {
	var outcome string
	if err := tx.GetContext(ctx, &outcome, sqlReroute, tenantID, sessionID, reason, now.UTC()); err != nil {
		return fmt.Errorf("reroute session %s: %w", sessionID, err)
	}
	return rerouteOutcome(outcome)
}

func rerouteOutcome(outcome string) error {
	switch outcome {
	case "rerouted":
		return nil
	case "not_found":
		return errSessionNotFound
	case "closed":
		return ErrSessionClosed
	case "assigned":
		return ErrAlreadyAssigned
	}
	return fmt.Errorf("reroute: unexpected outcome %q", outcome)
}

// OfferWaiting offers a user who has just become eligible (status set to available, sms
// channel turned on) every open, unassigned session waiting in a queue it belongs to, and
// answers how many offers it made; an ineligible user gets none. The directory's status and
// channel changes call it after they commit.
func (s *Service) OfferWaiting(ctx context.Context, tenantID, userID string) (int, error) {
	var n int
	if err := s.db.GetContext(ctx, &n, sqlOfferWaiting, tenantID, userID, s.now()); err != nil {
		return 0, fmt.Errorf("offer waiting sessions to %s: %w", userID, err)
	}
	return n, nil
}
