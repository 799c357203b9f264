package routing

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"directsms/sql/pg"
)

// queueItem is one text for outbound_queue_texts; the JSON names are the function's.
type queueItem struct {
	Tenant   string `json:"tenant"`
	User     string `json:"user"`
	From     string `json:"from"`
	To       string `json:"to"`
	ToKind   string `json:"to_kind"`
	Session  string `json:"session"`
	Body     string `json:"body"`
	Segments int    `json:"segments"`
	Encoding string `json:"encoding"`
	Key      string `json:"key"`
	// Hash is the request's hash in hex, when it has an Idempotency-Key.
	Hash string `json:"hash"`
}

// queueResult is what outbound_queue_texts answered for one item: the 202 body and whether
// it was replayed, or the refusal's code.
type queueResult struct {
	Idx      int    `db:"idx"`
	Answer   []byte `db:"answer"`
	Replayed bool   `db:"replayed"`
	Refusal  string `db:"refusal"`
}

// queueBatch queues items in one transaction and answers their outcomes in the same order
// (see runOrAlone).
func (o *Outbound) queueBatch(ctx context.Context, items []*queueItem) []outcome[queueResult] {
	return runOrAlone(ctx, items, o.queueRun)
}

// queueRun queues one batch. Items are run sorted by tenant, contact, number and session, so
// that concurrent batches take the locks of contacts and sessions in one order; a deadlock that
// happens anyway, or a lost Idempotency-Key race, runs the batch again.
func (o *Outbound) queueRun(ctx context.Context, items []*queueItem) ([]queueResult, error) {
	order := make([]int, len(items))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		x, y := items[a], items[b]
		return cmp.Or(cmp.Compare(x.Tenant, y.Tenant), cmp.Compare(x.To, y.To), cmp.Compare(x.From, y.From), cmp.Compare(x.Session, y.Session))
	})
	sorted := make([]*queueItem, len(items))
	for i, idx := range order {
		sorted[i] = items[idx]
	}
	payload, err := json.Marshal(sorted)
	if err != nil {
		return nil, fmt.Errorf("encode batch: %w", err)
	}
	again := func(err error) bool { return pg.IsRetryable(err) || pg.IsViolation(err, "idempotency_keys_pkey") }
	rows, err := retried(ctx, again, func() ([]queueResult, error) {
		var rows []queueResult
		err := o.db.SelectContext(ctx, &rows, sqlQueueTexts, string(payload), o.now())
		return rows, err
	})
	if err != nil {
		return nil, fmt.Errorf("queue %d texts: %w", len(items), err)
	}
	if len(rows) != len(items) {
		return nil, fmt.Errorf("queue %d texts: got %d answers", len(items), len(rows))
	}
	out := make([]queueResult, len(items))
	for _, r := range rows {
		out[order[r.Idx]] = r
	}
	return out, nil
}
