package directory

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"directsms/internal/apperr"
	"directsms/sql/pg"
)

// QueueKind is what a queue routes: texts or calls.
type QueueKind string

// The queue kinds.
const (
	QueueSMS QueueKind = "sms"
	QueueIVR QueueKind = "ivr"
)

// Valid reports whether k is a known kind.
func (k QueueKind) Valid() bool { return k == QueueSMS || k == QueueIVR }

// Queue is a node of the tenant's queue tree. Members are users and teams; a member team's
// users are members too, resolved when asked (EffectiveQueueMembers) so later team changes
// count. Only leaf queues take numbers. A personal queue belongs to one agent, who is its one
// member; the system creates it and it cannot be changed through the API.
type Queue struct {
	ID             string    `json:"id"`
	Name           string    `json:"name"`
	Kind           QueueKind `json:"kind"`
	ParentID       *string   `json:"parent_id"`
	Personal       bool      `json:"personal"`
	PersonalUserID *string   `json:"personal_user_id"`
	Leaf           bool      `json:"leaf"`
	UserIDs        []string  `json:"user_ids"`
	TeamIDs        []string  `json:"team_ids"`
	CreatedAt      time.Time `json:"created_at"`
}

// NewQueue is what creating a queue takes; members are optional.
type NewQueue struct {
	Name     string    `json:"name"`
	Kind     QueueKind `json:"kind"`
	ParentID string    `json:"parent_id"`
	UserIDs  []string  `json:"user_ids"`
	TeamIDs  []string  `json:"team_ids"`
}

// QueueUpdate changes the fields that are set. ParentID null makes the queue a root. Kind is
// accepted only when it is the queue's kind: numbers are assigned by kind, so it never changes.
type QueueUpdate struct {
	Name     *string          `json:"name"`
	Kind     *QueueKind       `json:"kind"`
	ParentID Nullable[string] `json:"parent_id"`
}

// QueueMembers is a queue's complete direct membership.
type QueueMembers struct {
	UserIDs []string `json:"user_ids"`
	TeamIDs []string `json:"team_ids"`
}

// QueueFilter narrows FindQueues; zero fields match everything. TeamID and UserID keep the
// queues with that direct member; ParentID the children of a queue.
type QueueFilter struct {
	Kind     QueueKind
	TeamID   string
	UserID   string
	ParentID string
	Personal *bool
	Page     Page
}

type queueRow struct {
	ID             string         `db:"id"`
	Name           string         `db:"name"`
	Kind           QueueKind      `db:"kind"`
	ParentID       *string        `db:"parent_id"`
	PersonalUserID *string        `db:"personal_user_id"`
	CreatedAt      time.Time      `db:"created_at"`
	Leaf           bool           `db:"leaf"`
	UserIDs        pq.StringArray `db:"user_ids"`
	TeamIDs        pq.StringArray `db:"team_ids"`
}

func (r queueRow) queue() Queue {
	q := Queue{
		ID: r.ID, Name: r.Name, Kind: r.Kind, ParentID: r.ParentID, Personal: r.PersonalUserID != nil,
		PersonalUserID: r.PersonalUserID, Leaf: r.Leaf, UserIDs: []string(r.UserIDs), TeamIDs: []string(r.TeamIDs),
		CreatedAt: r.CreatedAt.UTC(),
	}
	if q.UserIDs == nil {
		q.UserIDs = []string{}
	}
	if q.TeamIDs == nil {
		q.TeamIDs = []string{}
	}
	return q
}

const queueColumns = `q.id, q.name, q.kind, q.parent_id, q.personal_user_id, q.created_at,
	NOT EXISTS (SELECT 1 FROM queues c WHERE c.parent_id = q.id) AS leaf,
	ARRAY(SELECT CAST(m.user_id AS text) FROM queue_members m WHERE m.queue_id = q.id AND m.user_id IS NOT NULL ORDER BY m.user_id) AS user_ids,
	ARRAY(SELECT CAST(m.team_id AS text) FROM queue_members m WHERE m.queue_id = q.id AND m.team_id IS NOT NULL ORDER BY m.team_id) AS team_ids`

const (
	sqlSelectQueue = `SELECT ` + queueColumns + ` FROM queues q WHERE q.tenant_id = $1 AND q.id = $2`
	sqlLockQueue   = `SELECT id FROM queues WHERE tenant_id = $1 AND id = $2 FOR UPDATE`
	sqlFindQueues  = `SELECT ` + queueColumns + ` FROM queues q
		WHERE q.tenant_id = $1
		  AND (CAST($2 AS uuid) IS NULL OR q.id > CAST($2 AS uuid))
		  AND ($3 = '' OR q.kind = $3)
		  AND (CAST($4 AS uuid) IS NULL OR EXISTS (SELECT 1 FROM queue_members m WHERE m.queue_id = q.id AND m.team_id = CAST($4 AS uuid)))
		  AND (CAST($5 AS uuid) IS NULL OR EXISTS (SELECT 1 FROM queue_members m WHERE m.queue_id = q.id AND m.user_id = CAST($5 AS uuid)))
		  AND (CAST($6 AS uuid) IS NULL OR q.parent_id = CAST($6 AS uuid))
		  AND (CAST($7 AS boolean) IS NULL OR (q.personal_user_id IS NOT NULL) = CAST($7 AS boolean))
		ORDER BY q.id
		LIMIT $8`
	sqlInsertQueue      = `INSERT INTO queues (tenant_id, name, kind, parent_id, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id`
	sqlUpdateQueue      = `UPDATE queues SET name = $3, parent_id = $4 WHERE tenant_id = $1 AND id = $2`
	sqlDeleteQueue      = `DELETE FROM queues WHERE tenant_id = $1 AND id = $2`
	sqlQueueIDByName    = `SELECT id FROM queues WHERE tenant_id = $1 AND lower(name) = lower($2) AND personal_user_id IS NULL`
	sqlLockQueueTree    = `SELECT pg_advisory_xact_lock($1, hashtext(CAST($2 AS text)))`
	sqlQueueAncestorIDs = `WITH RECURSIVE up (id, parent_id) AS (
			SELECT id, parent_id FROM queues WHERE tenant_id = $1 AND id = $2
			UNION
			SELECT p.id, p.parent_id FROM queues p JOIN up ON p.id = up.parent_id
		)
		SELECT id FROM up`
	sqlSelectMemberUsers = `SELECT id, active FROM users WHERE tenant_id = $1 AND id = ANY($2)`
	sqlTeamsUsers        = `SELECT DISTINCT user_id FROM team_members WHERE tenant_id = $1 AND team_id = ANY($2)`
	sqlDeleteQueueUsers  = `DELETE FROM queue_members WHERE tenant_id = $1 AND queue_id = $2 AND user_id = ANY($3)`
	sqlDeleteQueueTeams  = `DELETE FROM queue_members WHERE tenant_id = $1 AND queue_id = $2 AND team_id = ANY($3)`
	sqlInsertQueueUser   = `INSERT INTO queue_members (tenant_id, queue_id, user_id) VALUES ($1, $2, $3)`
	sqlInsertQueueTeam   = `INSERT INTO queue_members (tenant_id, queue_id, team_id) VALUES ($1, $2, $3)`

	sqlInsertPersonalQueue = `INSERT INTO queues (tenant_id, name, kind, personal_user_id)
		SELECT u.tenant_id, 'Personal: ' || u.name, 'sms', u.id FROM users u WHERE u.tenant_id = $1 AND u.id = $2
		ON CONFLICT (personal_user_id) DO NOTHING`
	sqlSelectPersonalQueue     = `SELECT id FROM queues WHERE tenant_id = $1 AND personal_user_id = $2`
	sqlInsertPersonalQueueUser = `INSERT INTO queue_members (tenant_id, queue_id, user_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`
)

// lockClassQueueTree serializes parent changes in a tenant, so two concurrent moves cannot
// make a cycle that neither sees alone.
const lockClassQueueTree int32 = 0x64697202

// EnsurePersonalQueue returns the user's personal SMS queue, creating it (with the user as its
// one member) inside tx the first time it is needed. The unique personal_user_id makes
// concurrent first uses create one queue, never two.
func EnsurePersonalQueue(ctx context.Context, tx *sqlx.Tx, tenantID, userID string) (string, error) {
	res, err := tx.ExecContext(ctx, sqlInsertPersonalQueue, tenantID, userID)
	if err != nil {
		return "", fmt.Errorf("create personal queue for %s: %w", userID, err)
	}
	var queueID string
	if err := tx.GetContext(ctx, &queueID, sqlSelectPersonalQueue, tenantID, userID); err != nil {
		return "", fmt.Errorf("find personal queue for %s: %w", userID, err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		if _, err := tx.ExecContext(ctx, sqlInsertPersonalQueueUser, tenantID, queueID, userID); err != nil {
			return "", fmt.Errorf("add %s to personal queue: %w", userID, err)
		}
	}
	return queueID, nil
}

func getQueue(ctx context.Context, q sqlx.QueryerContext, tenantID, queueID string) (Queue, error) {
	if !validUUID(queueID) {
		return Queue{}, apperr.NotFound("queue")
	}
	var row queueRow
	err := sqlx.GetContext(ctx, q, &row, sqlSelectQueue, tenantID, strings.ToLower(queueID))
	if err == pg.ErrNoRows {
		return Queue{}, apperr.NotFound("queue")
	}
	if err != nil {
		return Queue{}, fmt.Errorf("get queue %s: %w", queueID, err)
	}
	return row.queue(), nil
}

// GetQueue returns a queue of the tenant with its direct members.
func (s *Store) GetQueue(ctx context.Context, tenantID, queueID string) (Queue, error) {
	return getQueue(ctx, s.db, tenantID, queueID)
}

// LockQueue locks a queue's row inside tx (FOR UPDATE) and then reads it, so Leaf is true only
// if no child was committed before the lock was granted: creating a child waits for the lock
// (its foreign key shares the parent's row), so a number assigned to a locked leaf queue can
// never end up on a parent. Numbers assignment uses it.
func LockQueue(ctx context.Context, tx *sqlx.Tx, tenantID, queueID string) (Queue, error) {
	if !validUUID(queueID) {
		return Queue{}, apperr.NotFound("queue")
	}
	var id string
	err := tx.GetContext(ctx, &id, sqlLockQueue, tenantID, strings.ToLower(queueID))
	if err == pg.ErrNoRows {
		return Queue{}, apperr.NotFound("queue")
	}
	if err != nil {
		return Queue{}, fmt.Errorf("lock queue %s: %w", queueID, err)
	}
	return getQueue(ctx, tx, tenantID, id)
}

// IsLeafQueue reports whether the queue has no children; only leaf queues take numbers.
func (s *Store) IsLeafQueue(ctx context.Context, tenantID, queueID string) (bool, error) {
	q, err := s.GetQueue(ctx, tenantID, queueID)
	if err != nil {
		return false, err
	}
	return q.Leaf, nil
}

// QueueIDByName finds a shared (not personal) queue by name, ignoring case; for operators'
// tools such as the demo seed.
func (s *Store) QueueIDByName(ctx context.Context, tenantID, name string) (string, error) {
	var id string
	err := s.db.GetContext(ctx, &id, sqlQueueIDByName, tenantID, name)
	if err == pg.ErrNoRows {
		return "", apperr.NotFound("queue")
	}
	if err != nil {
		return "", fmt.Errorf("find queue %q: %w", name, err)
	}
	return id, nil
}

// FindQueues lists the tenant's queues matching f, ordered by id, one page (Limit+1 rows).
func (s *Store) FindQueues(ctx context.Context, tenantID string, f QueueFilter) ([]Queue, error) {
	if err := f.Page.check(); err != nil {
		return nil, err
	}
	if f.Kind != "" && !f.Kind.Valid() {
		return nil, apperr.Invalid("kind", "invalid_kind", "kind must be sms or ivr")
	}
	for _, c := range []struct{ field, id, code string }{
		{"team_id", f.TeamID, "unknown_team"}, {"user_id", f.UserID, "unknown_user"}, {"parent_id", f.ParentID, "unknown_queue"},
	} {
		if c.id != "" && !validUUID(c.id) {
			return nil, apperr.Invalid(c.field, c.code, c.field+" is not an id")
		}
	}
	var personal any
	if f.Personal != nil {
		personal = *f.Personal
	}
	var rows []queueRow
	err := s.db.SelectContext(ctx, &rows, sqlFindQueues, tenantID, nullUUID(f.Page.Cursor), string(f.Kind),
		nullUUID(f.TeamID), nullUUID(f.UserID), nullUUID(f.ParentID), personal, f.Page.fetch())
	if err != nil {
		return nil, fmt.Errorf("find queues: %w", err)
	}
	out := make([]Queue, len(rows))
	for i, r := range rows {
		out[i] = r.queue()
	}
	return out, nil
}

// CreateQueue creates a queue with optional members. Admins may create any queue; supervisors
// queues whose member teams are their own teams (at least one) and whose member users are in
// their teams; agents none.
func (s *Store) CreateQueue(ctx context.Context, by Principal, in NewQueue) (Queue, error) {
	if by.Role == RoleAgent {
		return Queue{}, apperr.Forbidden("agents may not create queues")
	}
	name, err := cleanName("name", in.Name)
	if err != nil {
		return Queue{}, err
	}
	if !in.Kind.Valid() {
		return Queue{}, apperr.Invalid("kind", "invalid_kind", "kind must be sms or ivr")
	}
	members, err := cleanMembers(QueueMembers{UserIDs: in.UserIDs, TeamIDs: in.TeamIDs})
	if err != nil {
		return Queue{}, err
	}
	var out Queue
	err = pg.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		a, err := loadActor(ctx, tx, by)
		if err != nil {
			return err
		}
		if !a.admin() && len(members.TeamIDs) == 0 {
			return apperr.Forbidden("supervisors create queues for their own teams: name one in team_ids")
		}
		if err := checkMembers(ctx, tx, a, members, QueueMembers{}); err != nil {
			return err
		}
		var parent any
		if in.ParentID != "" {
			p, err := checkParent(ctx, tx, by.TenantID, "", in.ParentID, in.Kind)
			if err != nil {
				return err
			}
			parent = p
		}
		var id string
		if err := tx.GetContext(ctx, &id, sqlInsertQueue, by.TenantID, name, in.Kind, parent, s.now()); err != nil {
			return queueWriteError(err)
		}
		if err := writeQueueMembers(ctx, tx, by.TenantID, id, QueueMembers{}, members); err != nil {
			return err
		}
		out, err = getQueue(ctx, tx, by.TenantID, id)
		return err
	})
	if err != nil {
		return Queue{}, fmt.Errorf("create queue %q: %w", name, err)
	}
	return out, nil
}

// UpdateQueue renames a queue or moves it in the tree. Admins may change any shared queue;
// supervisors the queues one of their teams is a member of. A new parent must be a queue of
// the same tenant and kind, not personal, and not the queue itself or one of its descendants
// (422 queue_cycle). Personal queues answer 409 personal_queue.
func (s *Store) UpdateQueue(ctx context.Context, by Principal, queueID string, upd QueueUpdate) (Queue, error) {
	var out Queue
	err := pg.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		if upd.ParentID.Value != nil {
			// Taken before any queue row, so two moves cannot wait on each other's rows.
			if _, err := tx.ExecContext(ctx, sqlLockQueueTree, lockClassQueueTree, by.TenantID); err != nil {
				return fmt.Errorf("lock queue tree: %w", err)
			}
		}
		cur, err := LockQueue(ctx, tx, by.TenantID, queueID)
		if err != nil {
			return err
		}
		if err := mayManageQueue(ctx, tx, by, cur); err != nil {
			return err
		}
		name := cur.Name
		if upd.Name != nil {
			if name, err = cleanName("name", *upd.Name); err != nil {
				return err
			}
		}
		if upd.Kind != nil && *upd.Kind != cur.Kind {
			return apperr.Invalid("kind", "invalid_kind", "a queue's kind cannot change; create a new queue")
		}
		parent := cur.ParentID
		if upd.ParentID.Set {
			parent = nil
			if v := upd.ParentID.Value; v != nil && *v != "" {
				p, err := checkParent(ctx, tx, by.TenantID, cur.ID, *v, cur.Kind)
				if err != nil {
					return err
				}
				parent = &p
			}
		}
		if _, err := tx.ExecContext(ctx, sqlUpdateQueue, by.TenantID, cur.ID, name, parent); err != nil {
			return queueWriteError(err)
		}
		out, err = getQueue(ctx, tx, by.TenantID, cur.ID)
		return err
	})
	if err != nil {
		return Queue{}, fmt.Errorf("update queue %s: %w", queueID, err)
	}
	return out, nil
}

// DeleteQueue deletes a shared queue: admins any, supervisors those of their teams. A queue
// with children answers 409 queue_has_children; one still used (a user's backup, a number)
// 409 queue_in_use; a personal queue 409 personal_queue.
func (s *Store) DeleteQueue(ctx context.Context, by Principal, queueID string) error {
	err := pg.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		cur, err := LockQueue(ctx, tx, by.TenantID, queueID)
		if err != nil {
			return err
		}
		if err := mayManageQueue(ctx, tx, by, cur); err != nil {
			return err
		}
		if !cur.Leaf {
			return apperr.Conflict("queue_has_children", "the queue has child queues; move or delete them first")
		}
		if _, err := tx.ExecContext(ctx, sqlDeleteQueue, by.TenantID, cur.ID); err != nil {
			if pg.Code(err) == pg.CodeForeignKeyViolation {
				return apperr.Conflict("queue_in_use", "the queue is still in use (a user's backup, or a number); remove that first")
			}
			return fmt.Errorf("delete: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete queue %s: %w", queueID, err)
	}
	return nil
}

// SetQueueMembers replaces a queue's direct members. Admins may set any; supervisors may add or
// remove only their own teams and the users of their teams, on queues one of their teams is a
// member of. Members must be active users and teams of the tenant. Personal queues answer 409
// personal_queue.
func (s *Store) SetQueueMembers(ctx context.Context, by Principal, queueID string, in QueueMembers) (Queue, error) {
	members, err := cleanMembers(in)
	if err != nil {
		return Queue{}, err
	}
	var out Queue
	err = pg.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		cur, err := LockQueue(ctx, tx, by.TenantID, queueID)
		if err != nil {
			return err
		}
		if err := mayManageQueue(ctx, tx, by, cur); err != nil {
			return err
		}
		a, err := loadActor(ctx, tx, by)
		if err != nil {
			return err
		}
		old := QueueMembers{UserIDs: cur.UserIDs, TeamIDs: cur.TeamIDs}
		if err := checkMembers(ctx, tx, a, members, old); err != nil {
			return err
		}
		if err := writeQueueMembers(ctx, tx, by.TenantID, cur.ID, old, members); err != nil {
			return err
		}
		out, err = getQueue(ctx, tx, by.TenantID, cur.ID)
		return err
	})
	if err != nil {
		return Queue{}, fmt.Errorf("set members of queue %s: %w", queueID, err)
	}
	return out, nil
}

// mayManageQueue allows admins any shared queue and supervisors the queues one of their teams
// is a member of; personal queues belong to the system.
func mayManageQueue(ctx context.Context, tx *sqlx.Tx, by Principal, q Queue) error {
	a, err := loadActor(ctx, tx, by)
	if err != nil {
		return err
	}
	if err := a.requireManager(); err != nil {
		return err
	}
	if q.Personal {
		return apperr.Conflict("personal_queue", "a personal queue is managed by directsms: its one member is its agent")
	}
	if !a.inAny(q.TeamIDs) {
		return apperr.Forbidden("supervisors manage only the queues their teams are members of")
	}
	return nil
}

func cleanMembers(in QueueMembers) (QueueMembers, error) {
	users, err := cleanIDs("user_ids", "unknown_user", "user", in.UserIDs)
	if err != nil {
		return QueueMembers{}, err
	}
	teams, err := cleanIDs("team_ids", "unknown_team", "team", in.TeamIDs)
	if err != nil {
		return QueueMembers{}, err
	}
	return QueueMembers{UserIDs: users, TeamIDs: teams}, nil
}

// checkMembers validates a new membership against the old one: every user active in the
// tenant, every team the tenant's, and a supervisor's changes inside its own teams.
func checkMembers(ctx context.Context, tx *sqlx.Tx, a actor, next, old QueueMembers) error {
	if err := checkTeamsExist(ctx, tx, a.TenantID, "team_ids", next.TeamIDs); err != nil {
		return err
	}
	if len(next.UserIDs) > 0 {
		var found []struct {
			ID     string `db:"id"`
			Active bool   `db:"active"`
		}
		if err := tx.SelectContext(ctx, &found, sqlSelectMemberUsers, a.TenantID, pq.Array(next.UserIDs)); err != nil {
			return fmt.Errorf("find member users: %w", err)
		}
		ids := make([]string, 0, len(found))
		for _, u := range found {
			if !u.Active {
				return apperr.Invalid("user_ids", "user_inactive", fmt.Sprintf("user %s is deactivated", u.ID))
			}
			ids = append(ids, u.ID)
		}
		if missing := firstMissing(next.UserIDs, ids); missing != "" {
			return apperr.Invalid("user_ids", "unknown_user", fmt.Sprintf("no user %q in this tenant", missing))
		}
	}
	if a.admin() {
		return nil
	}
	if err := a.mayChangeTeams(append(diff(next.TeamIDs, old.TeamIDs), diff(old.TeamIDs, next.TeamIDs)...)); err != nil {
		return err
	}
	changed := append(diff(next.UserIDs, old.UserIDs), diff(old.UserIDs, next.UserIDs)...)
	if len(changed) == 0 {
		return nil
	}
	var reachable []string
	if err := tx.SelectContext(ctx, &reachable, sqlTeamsUsers, a.TenantID, pq.Array(keys(a.teams))); err != nil {
		return fmt.Errorf("find users of own teams: %w", err)
	}
	if firstMissing(changed, reachable) != "" {
		return apperr.Forbidden("supervisors may add or remove only users of their own teams")
	}
	return nil
}

func writeQueueMembers(ctx context.Context, tx *sqlx.Tx, tenantID, queueID string, old, next QueueMembers) error {
	if gone := diff(old.UserIDs, next.UserIDs); len(gone) > 0 {
		if _, err := tx.ExecContext(ctx, sqlDeleteQueueUsers, tenantID, queueID, pq.Array(gone)); err != nil {
			return fmt.Errorf("remove member users: %w", err)
		}
	}
	if gone := diff(old.TeamIDs, next.TeamIDs); len(gone) > 0 {
		if _, err := tx.ExecContext(ctx, sqlDeleteQueueTeams, tenantID, queueID, pq.Array(gone)); err != nil {
			return fmt.Errorf("remove member teams: %w", err)
		}
	}
	for _, id := range diff(next.UserIDs, old.UserIDs) {
		if _, err := tx.ExecContext(ctx, sqlInsertQueueUser, tenantID, queueID, id); err != nil {
			return fmt.Errorf("add member user %s: %w", id, err)
		}
	}
	for _, id := range diff(next.TeamIDs, old.TeamIDs) {
		if _, err := tx.ExecContext(ctx, sqlInsertQueueTeam, tenantID, queueID, id); err != nil {
			return goneError(err, "team_ids", "unknown_team", "team", "add member team "+id)
		}
	}
	return nil
}

// checkParent validates parentID as the parent of queue self ("" for a new queue) of kind and
// returns it cleaned. The parent row is locked so a number cannot be assigned to it while it
// becomes a parent.
func checkParent(ctx context.Context, tx *sqlx.Tx, tenantID, self, parentID string, kind QueueKind) (string, error) {
	parent, err := LockQueue(ctx, tx, tenantID, parentID)
	if apperr.IsNotFound(err) {
		return "", apperr.Invalid("parent_id", "unknown_queue", "no such queue in this tenant")
	}
	if err != nil {
		return "", err
	}
	if parent.Personal {
		return "", apperr.Invalid("parent_id", "invalid_parent", "a personal queue cannot have child queues")
	}
	if parent.Kind != kind {
		return "", apperr.Invalid("parent_id", "invalid_parent", fmt.Sprintf("a %s queue cannot be the parent of a %s queue", parent.Kind, kind))
	}
	if self == "" {
		return parent.ID, nil
	}
	var ancestors []string
	if err := tx.SelectContext(ctx, &ancestors, sqlQueueAncestorIDs, tenantID, parent.ID); err != nil {
		return "", fmt.Errorf("find ancestors of %s: %w", parent.ID, err)
	}
	if contains(ancestors, self) {
		return "", apperr.Invalid("parent_id", "queue_cycle", "the parent cannot be the queue itself or one of its descendants")
	}
	return parent.ID, nil
}

func queueWriteError(err error) error {
	if pg.IsViolation(err, "queues_name_key") {
		e := apperr.Conflict("queue_name_exists", "the tenant already has a queue with this name")
		e.Field = "name"
		return e
	}
	// Only leaf queues take numbers, so a queue holding numbers cannot become a parent (a
	// trigger of the numbers migration, 0003).
	if pg.IsViolation(err, "queues_parent_numbers_check") {
		e := apperr.Conflict("queue_has_numbers", "the parent queue holds numbers and only leaf queues take numbers; move its numbers first")
		e.Field = "parent_id"
		return e
	}
	return fmt.Errorf("write queue: %w", err)
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
