package routing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"directsms/directory"
	"directsms/sql/pg"
)

// The missed-chat and unresponsive rules (DESIGN.md, "Missed-chat and unresponsive thresholds")
// are applied by sweeps that scheduled jobs run every few seconds; they take the time as an
// argument, so tests drive them with their own clock.
//
// SweepOffers looks at every pending direct offer (one to an agent alone; queue fan-out offers
// never count) and settles those whose time has come, each in its own transaction that locks the
// session first and skips a session another process or request holds:
//
//   - The agent can't take it any more (status not available, deactivated, sms channel off): the
//     session is rerouted at once rather than left to expire. Nothing is counted.
//   - Not delivered to any of the agent's clients — the agent has no connected client, or
//     DeliveryGrace passed without the event stream marking it delivered: a failed delivery.
//     offers.delivery_failed_at is set, users.unresponsive_count counts it, and the session is
//     rerouted (the agent can't see the offer, so waiting helps no one). Reaching the tenant's
//     unresponsive_threshold sets the agent unresponsive.
//   - Expired while the agent was available with free capacity (as the sweep finds the agent,
//     seconds after the expiry; statuses keep no history to ask): a miss. The offer becomes
//     missed, users.missed_count and sessions.missed_count count it, the session is rerouted,
//     and reaching the tenant's missed_chat_threshold sets the agent missed_chat. Expired while
//     the agent was at capacity is not the agent's miss: the session is rerouted, nothing counted.
//
// The counts are runs: accepting an offer resets missed_count (routing_accept), a delivered offer
// resets unresponsive_count (the offers_reset_unresponsive trigger), and becoming available
// resets both (directory's status change). Every status change goes on the status timeline and
// to the agent's event stream (agent.status); a status set by a threshold stops new offers until
// the agent or an admin sets available again, or EndCooldowns does after the tenant's
// cooldown_seconds.

// DeliveryGrace is how long after its creation a direct offer may stay unmarked by the event
// stream before it counts as undelivered although the agent has a connected client: the stream
// delivers within milliseconds, so an offer unmarked this long did not reach a client.
const DeliveryGrace = 5 * time.Second

// sweepBatch is how many candidate offers or agents one query of a sweep reads.
const sweepBatch = 200

// Reroute reasons the sweeps record on the session's timeline.
const (
	RerouteMissed           = "missed"
	RerouteUndelivered      = "undelivered"
	RerouteOfferExpired     = "offer_expired"
	RerouteOwnerUnavailable = "owner_unavailable"
)

// Status-change reasons the sweeps record on the status timeline.
const (
	ReasonMissedChatThreshold   = "missed_chat_threshold"
	ReasonUnresponsiveThreshold = "unresponsive_threshold"
	ReasonCooldown              = "cooldown"
)

// SweepResult counts what one sweep did.
type SweepResult struct {
	Missed        int
	Undelivered   int
	Rerouted      int
	StatusChanges int
}

const (
	// sqlSelectOfferCandidates lists pending direct offers that may need settling, after the
	// keyset ($3, $4); which ones really do is decided under the session's lock.
	sqlSelectOfferCandidates = `SELECT o.id, o.created_at
		FROM offers o
		JOIN users u ON u.tenant_id = o.tenant_id AND u.id = o.user_id
		LEFT JOIN user_channels uc ON uc.user_id = u.id AND uc.channel = 'sms'
		WHERE o.status = 'pending' AND o.direct
			AND (o.expires_at <= $1
				OR (o.delivered_at IS NULL AND o.delivery_failed_at IS NULL)
				OR NOT (u.active AND u.status = 'available' AND COALESCE(uc.enabled, true)))
			AND (o.created_at, o.id) > ($3, $4)
		ORDER BY o.created_at, o.id
		LIMIT $2`
	// sqlLockOfferSession locks the open session of an offer, skipping it when another
	// transaction holds it: sessions are always locked before their offers.
	sqlLockOfferSession = `SELECT s.id FROM sessions s
		WHERE s.id = (SELECT o.session_id FROM offers o WHERE o.id = $1) AND s.status = 'open'
		FOR UPDATE OF s SKIP LOCKED`
	// sqlSelectOfferForUpdate reads an offer and its agent under lock: the agent's row lock makes
	// a concurrent sweep's miss wait and then see the status this one set, so one miss past the
	// threshold changes the status once and counts nothing after it.
	sqlSelectOfferForUpdate = `SELECT o.id, o.tenant_id, o.session_id, o.user_id, o.created_at, o.expires_at,
			o.delivered_at IS NULL AND o.delivery_failed_at IS NULL AS undelivered,
			u.active AND u.status = 'available' AND COALESCE(uc.enabled, true) AS eligible,
			COALESCE(uc.capacity, tc.capacity, 4) AS capacity,
			(SELECT count(*) FROM sessions x WHERE x.assignee_id = o.user_id AND x.status = 'open') AS open_sessions,
			t.missed_chat_threshold, t.unresponsive_threshold
		FROM offers o
		JOIN users u ON u.tenant_id = o.tenant_id AND u.id = o.user_id
		JOIN tenants t ON t.id = o.tenant_id
		LEFT JOIN user_channels uc ON uc.user_id = u.id AND uc.channel = 'sms'
		LEFT JOIN tenant_channels tc ON tc.tenant_id = o.tenant_id AND tc.channel = 'sms'
		WHERE o.id = $1 AND o.status = 'pending' AND o.direct
		FOR UPDATE OF o, u`
	sqlMarkOfferMissed      = `UPDATE offers SET status = 'missed', resolved_at = $2 WHERE id = $1`
	sqlCountSessionMiss     = `UPDATE sessions SET missed_count = missed_count + 1 WHERE id = $1`
	sqlCountUserMiss        = `UPDATE users SET missed_count = missed_count + 1 WHERE tenant_id = $1 AND id = $2 RETURNING missed_count`
	sqlMarkOfferUndelivered = `UPDATE offers SET delivery_failed_at = $2 WHERE id = $1`
	sqlCountUserUndelivered = `UPDATE users SET unresponsive_count = unresponsive_count + 1 WHERE tenant_id = $1 AND id = $2 RETURNING unresponsive_count`
	sqlInsertSessionEvent   = `INSERT INTO session_events (tenant_id, session_id, kind, data, at) VALUES ($1, $2, $3, $4, $5)`

	// sqlSelectCooledDown lists agents a threshold took off work whose tenant's cool-down has
	// passed, locking them and skipping any another transaction holds.
	sqlSelectCooledDown = `SELECT u.tenant_id, u.id
		FROM users u JOIN tenants t ON t.id = u.tenant_id
		WHERE u.status IN ('missed_chat', 'unresponsive') AND t.cooldown_seconds IS NOT NULL
			AND u.status_changed_at + make_interval(secs => t.cooldown_seconds) <= $1
		ORDER BY u.status_changed_at, u.id
		LIMIT $2
		FOR UPDATE OF u SKIP LOCKED`
)

// offerState is a pending direct offer and its agent, read under lock.
type offerState struct {
	ID                    string    `db:"id"`
	TenantID              string    `db:"tenant_id"`
	SessionID             string    `db:"session_id"`
	UserID                string    `db:"user_id"`
	CreatedAt             time.Time `db:"created_at"`
	ExpiresAt             time.Time `db:"expires_at"`
	Undelivered           bool      `db:"undelivered"`
	Eligible              bool      `db:"eligible"`
	Capacity              int       `db:"capacity"`
	OpenSessions          int       `db:"open_sessions"`
	MissedChatThreshold   int       `db:"missed_chat_threshold"`
	UnresponsiveThreshold int       `db:"unresponsive_threshold"`
}

// verdict is what a sweep does with one pending direct offer.
type verdict string

const (
	verdictWait        verdict = ""
	verdictUnavailable verdict = RerouteOwnerUnavailable
	verdictUndelivered verdict = RerouteUndelivered
	verdictMissed      verdict = RerouteMissed
	verdictExpired     verdict = RerouteOfferExpired
)

// judge applies the rules to an offer at now; connected says whether the agent has a connected
// client and is only called for an offer still within DeliveryGrace.
func judge(o offerState, now time.Time, connected func() (bool, error)) (verdict, error) {
	expired := !o.ExpiresAt.After(now)
	switch {
	case !o.Eligible:
		return verdictUnavailable, nil
	case o.Undelivered && (expired || !o.CreatedAt.After(now.Add(-DeliveryGrace))):
		return verdictUndelivered, nil
	case o.Undelivered:
		ok, err := connected()
		if err != nil {
			return verdictWait, err
		}
		if !ok {
			return verdictUndelivered, nil
		}
		return verdictWait, nil
	case expired && o.OpenSessions < o.Capacity:
		return verdictMissed, nil
	case expired:
		return verdictExpired, nil
	}
	return verdictWait, nil
}

// SweepOffers settles the pending direct offers whose time has come at now (see the rules above)
// and reports what it did. Several processes may sweep at once: each offer is settled once.
func SweepOffers(ctx context.Context, db *sqlx.DB, now time.Time) (SweepResult, error) {
	now = now.UTC()
	var res SweepResult
	after, afterID := time.Time{}, "00000000-0000-0000-0000-000000000000"
	for {
		var batch []struct {
			ID        string    `db:"id"`
			CreatedAt time.Time `db:"created_at"`
		}
		if err := db.SelectContext(ctx, &batch, sqlSelectOfferCandidates, now, sweepBatch, after, afterID); err != nil {
			return res, fmt.Errorf("sweep offers: list candidates: %w", err)
		}
		for _, c := range batch {
			if err := settleOffer(ctx, db, c.ID, now, &res); err != nil {
				return res, fmt.Errorf("sweep offers: %w", err)
			}
		}
		if len(batch) < sweepBatch {
			return res, nil
		}
		after, afterID = batch[len(batch)-1].CreatedAt, batch[len(batch)-1].ID
	}
}

// settleOffer settles one offer in its own transaction; an offer whose session is locked
// elsewhere, or that is no longer pending, is left for whoever holds it.
func settleOffer(ctx context.Context, db *sqlx.DB, offerID string, now time.Time, res *SweepResult) error {
	var done SweepResult
	err := pg.InTx(ctx, db, func(tx *sqlx.Tx) error {
		done = SweepResult{}
		var sessionID string
		if err := tx.GetContext(ctx, &sessionID, sqlLockOfferSession, offerID); errors.Is(err, pg.ErrNoRows) {
			return nil
		} else if err != nil {
			return fmt.Errorf("lock session: %w", err)
		}
		var o offerState
		if err := tx.GetContext(ctx, &o, sqlSelectOfferForUpdate, offerID); errors.Is(err, pg.ErrNoRows) {
			return nil
		} else if err != nil {
			return fmt.Errorf("lock offer: %w", err)
		}
		v, err := judge(o, now, func() (bool, error) { return HasConnectedClient(ctx, tx, o.TenantID, o.UserID, now) })
		if err != nil || v == verdictWait {
			return err
		}
		switch v {
		case verdictMissed:
			done.Missed++
			changed, err := countMiss(ctx, tx, o, now)
			if err != nil {
				return err
			}
			if changed {
				done.StatusChanges++
			}
		case verdictUndelivered:
			done.Undelivered++
			changed, err := countUndelivered(ctx, tx, o, now)
			if err != nil {
				return err
			}
			if changed {
				done.StatusChanges++
			}
		case verdictExpired:
			if err := sessionEvent(ctx, tx, o, "offer_expired", now, map[string]any{"reason": "at_capacity"}); err != nil {
				return err
			}
		}
		if err := RerouteTx(ctx, tx, now, o.TenantID, o.SessionID, string(v)); err != nil {
			return err
		}
		done.Rerouted++
		return nil
	})
	if err != nil {
		return fmt.Errorf("settle offer %s: %w", offerID, err)
	}
	res.Missed += done.Missed
	res.Undelivered += done.Undelivered
	res.Rerouted += done.Rerouted
	res.StatusChanges += done.StatusChanges
	return nil
}

// countMiss records a miss and reports whether it set the agent missed_chat.
func countMiss(ctx context.Context, tx *sqlx.Tx, o offerState, now time.Time) (bool, error) {
	if _, err := tx.ExecContext(ctx, sqlMarkOfferMissed, o.ID, now); err != nil {
		return false, fmt.Errorf("mark offer missed: %w", err)
	}
	if _, err := tx.ExecContext(ctx, sqlCountSessionMiss, o.SessionID); err != nil {
		return false, fmt.Errorf("count session miss: %w", err)
	}
	var misses int
	if err := tx.GetContext(ctx, &misses, sqlCountUserMiss, o.TenantID, o.UserID); err != nil {
		return false, fmt.Errorf("count miss of %s: %w", o.UserID, err)
	}
	if err := sessionEvent(ctx, tx, o, "missed", now, map[string]any{"missed_count": misses}); err != nil {
		return false, err
	}
	// The agent's client still shows the offer: tell it the offer is gone.
	err := Publish(ctx, tx, now, Event{TenantID: o.TenantID, UserID: o.UserID, Type: EventSessionWithdrawn,
		Data: map[string]any{"session_id": o.SessionID, "offer_id": o.ID, "reason": "missed"}})
	if err != nil {
		return false, err
	}
	if misses < o.MissedChatThreshold {
		return false, nil
	}
	return setThresholdStatus(ctx, tx, o, directory.StatusMissedChat, ReasonMissedChatThreshold, now)
}

// countUndelivered records a failed delivery and reports whether it set the agent unresponsive.
func countUndelivered(ctx context.Context, tx *sqlx.Tx, o offerState, now time.Time) (bool, error) {
	if _, err := tx.ExecContext(ctx, sqlMarkOfferUndelivered, o.ID, now); err != nil {
		return false, fmt.Errorf("mark offer undelivered: %w", err)
	}
	var failures int
	if err := tx.GetContext(ctx, &failures, sqlCountUserUndelivered, o.TenantID, o.UserID); err != nil {
		return false, fmt.Errorf("count failed delivery to %s: %w", o.UserID, err)
	}
	if err := sessionEvent(ctx, tx, o, "undelivered", now, map[string]any{"unresponsive_count": failures}); err != nil {
		return false, err
	}
	if failures < o.UnresponsiveThreshold {
		return false, nil
	}
	return setThresholdStatus(ctx, tx, o, directory.StatusUnresponsive, ReasonUnresponsiveThreshold, now)
}

func setThresholdStatus(ctx context.Context, tx *sqlx.Tx, o offerState, status directory.Status, reason string, now time.Time) (bool, error) {
	// The timeline row SetStatusTx writes also puts agent.status on the agent's stream
	// (migration 0011).
	return directory.SetStatusTx(ctx, tx, o.TenantID, o.UserID, status, reason, "", now)
}

func sessionEvent(ctx context.Context, tx *sqlx.Tx, o offerState, kind string, now time.Time, data map[string]any) error {
	data["offer_id"], data["user_id"] = o.ID, o.UserID
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", kind, err)
	}
	if _, err := tx.ExecContext(ctx, sqlInsertSessionEvent, o.TenantID, o.SessionID, kind, b, now); err != nil {
		return fmt.Errorf("record %s on session %s: %w", kind, o.SessionID, err)
	}
	return nil
}

// EndCooldowns sets available again every agent a threshold took off work whose tenant's
// cooldown_seconds has passed since, records it on the status timeline, tells the agent's clients
// and offers the agent the sessions waiting for it. It reports how many agents it restored.
func EndCooldowns(ctx context.Context, db *sqlx.DB, now time.Time) (int, error) {
	now = now.UTC()
	total := 0
	for {
		n, err := endCooldownBatch(ctx, db, now)
		total += n
		if err != nil {
			return total, fmt.Errorf("end cool-downs: %w", err)
		}
		if n < sweepBatch {
			return total, nil
		}
	}
}

func endCooldownBatch(ctx context.Context, db *sqlx.DB, now time.Time) (int, error) {
	n := 0
	err := pg.InTx(ctx, db, func(tx *sqlx.Tx) error {
		n = 0
		var users []struct {
			TenantID string `db:"tenant_id"`
			ID       string `db:"id"`
		}
		if err := tx.SelectContext(ctx, &users, sqlSelectCooledDown, now, sweepBatch); err != nil {
			return fmt.Errorf("list cooled-down agents: %w", err)
		}
		for _, u := range users {
			changed, err := directory.SetStatusTx(ctx, tx, u.TenantID, u.ID, directory.StatusAvailable, ReasonCooldown, "", now)
			if err != nil {
				return err
			}
			if !changed {
				continue
			}
			n++
			if _, err := tx.ExecContext(ctx, sqlOfferWaiting, u.TenantID, u.ID, now); err != nil {
				return fmt.Errorf("offer waiting sessions to %s: %w", u.ID, err)
			}
		}
		return nil
	})
	return n, err
}
