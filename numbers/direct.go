package numbers

import (
	"context"
	"fmt"
)

// sqlHasAssignedDirectNumber is served by numbers_sms_user_idx and numbers_sms_queue_idx.
const sqlHasAssignedDirectNumber = `SELECT EXISTS (SELECT 1 FROM numbers
	WHERE tenant_id = $1 AND direct AND status = 'verified' AND (sms_user_id IS NOT NULL OR sms_queue_id IS NOT NULL))`

// HasAssignedDirectNumber reports whether the tenant has at least one verified direct number
// assigned to an agent or an SMS queue: the condition for turning global after-hours
// deflection on.
func (s *Store) HasAssignedDirectNumber(ctx context.Context, tenantID string) (bool, error) {
	var ok bool
	if err := s.db.GetContext(ctx, &ok, sqlHasAssignedDirectNumber, tenantID); err != nil {
		return false, fmt.Errorf("look for assigned direct numbers of tenant %s: %w", tenantID, err)
	}
	return ok, nil
}
