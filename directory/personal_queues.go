package directory

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

const (
	// sqlInsertPersonalQueues names and fills personal queues exactly as EnsurePersonalQueue does.
	sqlInsertPersonalQueues = `INSERT INTO queues (tenant_id, name, kind, personal_user_id)
		SELECT u.tenant_id, 'Personal: ' || u.name, 'sms', u.id FROM users u WHERE u.tenant_id = $1 AND u.id = ANY($2)
		ON CONFLICT (personal_user_id) DO NOTHING RETURNING id, personal_user_id`
	sqlInsertPersonalQueueUsers = `INSERT INTO queue_members (tenant_id, queue_id, user_id)
		SELECT $1, m.queue_id, m.user_id FROM unnest(CAST($2 AS uuid[]), CAST($3 AS uuid[])) AS m(queue_id, user_id)
		ON CONFLICT DO NOTHING`
)

// EnsurePersonalQueues is EnsurePersonalQueue for many users at once, in two statements however
// many users there are: bulk assignment of direct numbers gives thousands of agents their first
// direct number in one transaction.
func EnsurePersonalQueues(ctx context.Context, tx *sqlx.Tx, tenantID string, userIDs []string) error {
	var created []struct {
		QueueID string `db:"id"`
		UserID  string `db:"personal_user_id"`
	}
	if err := tx.SelectContext(ctx, &created, sqlInsertPersonalQueues, tenantID, pq.Array(userIDs)); err != nil {
		return fmt.Errorf("create personal queues: %w", err)
	}
	if len(created) == 0 {
		return nil
	}
	queueIDs, members := make([]string, len(created)), make([]string, len(created))
	for i, c := range created {
		queueIDs[i], members[i] = c.QueueID, c.UserID
	}
	if _, err := tx.ExecContext(ctx, sqlInsertPersonalQueueUsers, tenantID, pq.Array(queueIDs), pq.Array(members)); err != nil {
		return fmt.Errorf("add users to their personal queues: %w", err)
	}
	return nil
}
