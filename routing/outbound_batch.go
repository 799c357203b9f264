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

// queueBatch queues items in one transaction and answers their outcomes in the same order.
// Items are run sorted by tenant, contact, number and session, so that concurrent batches
// take the locks of contacts and sessions in one order; a deadlock that happens anyway, or a
// lost Idempotency-Key race, runs the batch again. A batch that fails otherwise is run again
// one text at a time, so that one text's fault is only that text's.
func (o *Outbound) queueBatch(ctx context.Context, items []*queueItem) []outcome[queueResult] {
	out := make([]outcome[queueResult], len(items))
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
	rows, err := o.queueSorted(ctx, sorted)
	switch {
	case err == nil:
		for _, r := range rows {
			out[order[r.Idx]] = outcome[queueResult]{res: r}
		}
	case len(items) > 1 && ctx.Err() == nil:
		for i, item := range items {
			one, err := o.queueSorted(ctx, []*queueItem{item})
			if err != nil {
				out[i] = outcome[queueResult]{err: err}
				continue
			}
			out[i] = outcome[queueResult]{res: one[0]}
		}
	default:
		for i := range out {
			out[i] = outcome[queueResult]{err: err}
		}
	}
	return out
}

// queueSorted runs one batch, again after a deadlock or a lost key race.
func (o *Outbound) queueSorted(ctx context.Context, items []*queueItem) ([]queueResult, error) {
	payload, err := json.Marshal(items)
	if err != nil {
		return nil, fmt.Errorf("encode batch: %w", err)
	}
	for attempt := 0; ; attempt++ {
		var rows []queueResult
		err := o.db.SelectContext(ctx, &rows, sqlQueueTexts, string(payload), o.now())
		if err == nil && len(rows) != len(items) {
			return nil, fmt.Errorf("queue %d texts: got %d answers", len(items), len(rows))
		}
		if err == nil {
			return rows, nil
		}
		retry := pg.IsRetryable(err) || pg.IsViolation(err, "idempotency_keys_pkey")
		if !retry || attempt == batchRetries || ctx.Err() != nil {
			return nil, fmt.Errorf("queue %d texts: %w", len(items), err)
		}
	}
}
