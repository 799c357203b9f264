package directory

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
)

const (
	sqlInsertPersonalQueue = `INSERT INTO queues (tenant_id, name, kind, personal_user_id)
		SELECT u.tenant_id, 'Personal: ' || u.name, 'sms', u.id FROM users u WHERE u.tenant_id = $1 AND u.id = $2
		ON CONFLICT (personal_user_id) DO NOTHING`
	sqlSelectPersonalQueue     = `SELECT id FROM queues WHERE tenant_id = $1 AND personal_user_id = $2`
	sqlInsertPersonalQueueUser = `INSERT INTO queue_members (tenant_id, queue_id, user_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`
)

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
