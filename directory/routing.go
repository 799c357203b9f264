package directory

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/lib/pq"

	"directsms/internal/apperr"
)

// IneligibleReason says why a user cannot be offered work on a channel now.
type IneligibleReason string

// The reasons, in the order they are checked: a deactivated user is only ever "inactive".
const (
	ReasonInactive        IneligibleReason = "inactive"
	ReasonChannelDisabled IneligibleReason = "channel_disabled"
	ReasonNotAvailable    IneligibleReason = "not_available"
)

// Eligibility is whether a user can be offered new work on a channel now, why not, and how much
// work the channel lets them hold at once.
type Eligibility struct {
	UserID         string           `json:"user_id"`
	Eligible       bool             `json:"eligible"`
	Reason         IneligibleReason `json:"reason,omitempty"`
	Status         Status           `json:"status"`
	Capacity       int              `json:"capacity"`
	CapacitySource CapacitySource   `json:"capacity_source"`
}

// eligibilityColumns reads one user's standing on channel $3; $4 is whether the channel is on
// for a user with no setting. Eligible and Reason are decided in Go from these.
const eligibilityColumns = `u.id AS user_id, u.active, u.status,
	COALESCE(uc.enabled, $4) AS channel_enabled,
	COALESCE(uc.capacity, tc.capacity, $5) AS capacity,
	uc.capacity IS NOT NULL AS overridden`

const eligibilityJoins = `LEFT JOIN user_channels uc ON uc.user_id = u.id AND uc.channel = $3
	LEFT JOIN tenant_channels tc ON tc.tenant_id = u.tenant_id AND tc.channel = $3`

const (
	// sqlEligibleMembers answers a queue's effective members (its active direct users and the
	// active users of its member teams, as the teams are now) with their standing, in one
	// round trip. The queue row drives it, so an unknown queue gives no row and a queue with no
	// members gives one row of NULLs.
	sqlEligibleMembers = `SELECT m.user_id, m.active, m.status, m.channel_enabled, m.capacity, m.overridden
		FROM queues q
		LEFT JOIN LATERAL (
			SELECT ` + eligibilityColumns + `
			FROM users u ` + eligibilityJoins + `
			WHERE u.tenant_id = q.tenant_id AND u.active AND u.id IN (
				SELECT qm.user_id FROM queue_members qm WHERE qm.queue_id = q.id AND qm.user_id IS NOT NULL
				UNION
				SELECT tm.user_id FROM queue_members qm JOIN team_members tm ON tm.team_id = qm.team_id
				WHERE qm.queue_id = q.id AND qm.team_id IS NOT NULL)
		) m ON true
		WHERE q.tenant_id = $1 AND q.id = $2
		ORDER BY m.user_id`
	sqlEligibleUsers = `SELECT ` + eligibilityColumns + `
		FROM users u ` + eligibilityJoins + `
		WHERE u.tenant_id = $1 AND u.id = ANY($2)
		ORDER BY u.id`
)

type eligibilityRow struct {
	UserID         sql.NullString `db:"user_id"`
	Active         sql.NullBool   `db:"active"`
	Status         sql.NullString `db:"status"`
	ChannelEnabled sql.NullBool   `db:"channel_enabled"`
	Capacity       sql.NullInt64  `db:"capacity"`
	Overridden     sql.NullBool   `db:"overridden"`
}

func (r eligibilityRow) eligibility() Eligibility {
	e := Eligibility{UserID: r.UserID.String, Status: Status(r.Status.String), Capacity: int(r.Capacity.Int64), CapacitySource: CapacityFromGlobal}
	if r.Overridden.Bool {
		e.CapacitySource = CapacityFromUser
	}
	switch {
	case !r.Active.Bool:
		e.Reason = ReasonInactive
	case !r.ChannelEnabled.Bool:
		e.Reason = ReasonChannelDisabled
	case e.Status != StatusAvailable:
		e.Reason = ReasonNotAvailable
	default:
		e.Eligible = true
	}
	return e
}

// EligibleMembers answers, in one query, every effective member of a queue (see
// EffectiveQueueMembers) with whether it can be offered work on ch now, why not, and its
// capacity on ch, ordered by user id. Routing fans a text out with it. An unknown queue is
// not_found.
func (s *Store) EligibleMembers(ctx context.Context, tenantID, queueID string, ch Channel) ([]Eligibility, error) {
	if !ch.Valid() {
		return nil, apperr.Invalid("channel", "invalid_channel", fmt.Sprintf("%q is not a channel", ch))
	}
	if !validUUID(queueID) {
		return nil, apperr.NotFound("queue")
	}
	var rows []eligibilityRow
	err := s.db.SelectContext(ctx, &rows, sqlEligibleMembers, tenantID, strings.ToLower(queueID), ch, ch.DefaultEnabled(), ch.DefaultCapacity())
	if err != nil {
		return nil, fmt.Errorf("eligible members of queue %s on %s: %w", queueID, ch, err)
	}
	if len(rows) == 0 {
		return nil, apperr.NotFound("queue")
	}
	out := make([]Eligibility, 0, len(rows))
	for _, r := range rows {
		if r.UserID.Valid {
			out = append(out, r.eligibility())
		}
	}
	return out, nil
}

// EffectiveQueueMembers returns the ids of a queue's effective members, ordered: its active
// direct member users and the active users of its member teams, resolved now so team changes
// made after the queue was set up count. An unknown queue is not_found.
func (s *Store) EffectiveQueueMembers(ctx context.Context, tenantID, queueID string) ([]string, error) {
	members, err := s.EligibleMembers(ctx, tenantID, queueID, ChannelSMS)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(members))
	for i, m := range members {
		ids[i] = m.UserID
	}
	return ids, nil
}

// EligibleUsers is EligibleMembers for any set of users of the tenant (an owner and its backup,
// say), in one query, ordered by user id; ids that are not users of the tenant are left out.
func (s *Store) EligibleUsers(ctx context.Context, tenantID string, userIDs []string, ch Channel) ([]Eligibility, error) {
	if !ch.Valid() {
		return nil, apperr.Invalid("channel", "invalid_channel", fmt.Sprintf("%q is not a channel", ch))
	}
	ids := make([]string, 0, len(userIDs))
	for _, id := range userIDs {
		if validUUID(id) {
			ids = append(ids, strings.ToLower(id))
		}
	}
	var rows []eligibilityRow
	err := s.db.SelectContext(ctx, &rows, sqlEligibleUsers, tenantID, pq.Array(ids), ch, ch.DefaultEnabled(), ch.DefaultCapacity())
	if err != nil {
		return nil, fmt.Errorf("eligibility of %d users on %s: %w", len(ids), ch, err)
	}
	out := make([]Eligibility, len(rows))
	for i, r := range rows {
		out[i] = r.eligibility()
	}
	return out, nil
}

// Eligible answers whether one user can be offered work on ch now: active, status available
// and the channel on for them (whatever their teams have). When not, Reason says why. An
// unknown user is not_found.
func (s *Store) Eligible(ctx context.Context, tenantID, userID string, ch Channel) (Eligibility, error) {
	es, err := s.EligibleUsers(ctx, tenantID, []string{userID}, ch)
	if err != nil {
		return Eligibility{}, err
	}
	if len(es) == 0 {
		return Eligibility{}, apperr.NotFound("user")
	}
	return es[0], nil
}

// Capacity is how many open sessions a user may hold at once on ch: their override, else the
// tenant default. An unknown user is not_found.
func (s *Store) Capacity(ctx context.Context, tenantID, userID string, ch Channel) (int, error) {
	e, err := s.Eligible(ctx, tenantID, userID, ch)
	if err != nil {
		return 0, err
	}
	return e.Capacity, nil
}
