package routing

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

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

// Batching limits: how many texts one transaction takes, how many transactions are in flight
// at once, and how long one may take.
const (
	maxBatch     = 128
	batchSlots   = 2
	batchTimeout = 30 * time.Second
	// batchRetries is how many times a batch is run again after a deadlock with another batch,
	// or after losing an Idempotency-Key race to a concurrent request.
	batchRetries = 4
)

// batcher commits the texts of concurrent requests together, as PostgreSQL's group commit does
// for transactions: a request whose text is waiting takes a free slot and becomes the leader,
// runs every waiting text (up to maxBatch) in one transaction, and hands each request its
// answer. One commit, one disk flush, for many texts. There is no timer and no goroutine of
// its own: a text alone is run at once, and texts that arrive while slots are busy wait for
// the next free slot.
type batcher struct {
	run   func(ctx context.Context, items []*queueItem) []batchOutcome
	slots chan struct{}

	mu      sync.Mutex
	pending []*batchJob
}

type batchJob struct {
	item *queueItem
	done chan batchOutcome // buffered: the leader never waits for the request
}

type batchOutcome struct {
	res queueResult
	err error
}

func newBatcher(run func(ctx context.Context, items []*queueItem) []batchOutcome) *batcher {
	return &batcher{run: run, slots: make(chan struct{}, batchSlots)}
}

// do queues item with the next batch and waits for its answer. A request whose ctx ends
// before its text is taken into a batch withdraws it; once taken, the text's fate is the
// batch's, and do waits for it.
func (b *batcher) do(ctx context.Context, item *queueItem) (queueResult, error) {
	job := &batchJob{item: item, done: make(chan batchOutcome, 1)}
	b.mu.Lock()
	b.pending = append(b.pending, job)
	b.mu.Unlock()
	for {
		select {
		case out := <-job.done:
			return out.res, out.err
		case b.slots <- struct{}{}:
			b.lead()
			<-b.slots
		case <-ctx.Done():
			if b.withdraw(job) {
				return queueResult{}, ctx.Err()
			}
			out := <-job.done
			return out.res, out.err
		}
	}
}

// withdraw removes a job no batch has taken, and reports whether it did.
func (b *batcher) withdraw(job *batchJob) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	i := slices.Index(b.pending, job)
	if i < 0 {
		return false
	}
	b.pending = slices.Delete(b.pending, i, i+1)
	return true
}

// lead runs the waiting texts as one batch. Its context is not the leading request's: the
// batch carries other requests' texts, which must not fail because one client went away.
func (b *batcher) lead() {
	b.mu.Lock()
	n := min(len(b.pending), maxBatch)
	jobs := slices.Clone(b.pending[:n])
	b.pending = slices.Delete(b.pending, 0, n)
	b.mu.Unlock()
	if n == 0 {
		return
	}
	items := make([]*queueItem, n)
	for i, j := range jobs {
		items[i] = j.item
	}
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	for i, out := range b.run(ctx, items) {
		jobs[i].done <- out
	}
}

// queueBatch queues items in one transaction and answers their outcomes in the same order.
// Items are run sorted by tenant, contact, number and session, so that concurrent batches
// take the locks of contacts and sessions in one order; a deadlock that happens anyway, or a
// lost Idempotency-Key race, runs the batch again. A batch that fails otherwise is run again
// one text at a time, so that one text's fault is only that text's.
func (o *Outbound) queueBatch(ctx context.Context, items []*queueItem) []batchOutcome {
	out := make([]batchOutcome, len(items))
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
			out[order[r.Idx]] = batchOutcome{res: r}
		}
	case len(items) > 1 && ctx.Err() == nil:
		for i, item := range items {
			one, err := o.queueSorted(ctx, []*queueItem{item})
			if err != nil {
				out[i] = batchOutcome{err: err}
				continue
			}
			out[i] = batchOutcome{res: one[0]}
		}
	default:
		for i := range out {
			out[i] = batchOutcome{err: err}
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
