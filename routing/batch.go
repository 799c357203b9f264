package routing

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Batching limits: how many items one transaction takes, how many transactions are in flight
// at once, and how long one may take.
const (
	maxBatch     = 128
	batchSlots   = 2
	batchTimeout = 30 * time.Second
	// batchRetries is how many times a batch is run again after a deadlock with another batch,
	// or after losing a race on a unique key to a concurrent request.
	batchRetries = 4
)

// batcher commits the items of concurrent requests together, as PostgreSQL's group commit does
// for transactions: a request whose item is waiting takes a free slot and becomes the leader,
// runs every waiting item (up to maxBatch) in one transaction, and hands each request its
// answer. One commit, one disk flush, one round trip, for many items. There is no timer and no
// goroutine of its own: an item alone is run at once, and items that arrive while slots are busy
// wait for the next free slot. Outbound texts (Outbound.Send) and inbound texts
// (Service.Inbound) each have one.
type batcher[I, R any] struct {
	run   func(ctx context.Context, items []I) []outcome[R]
	slots chan struct{}

	mu      sync.Mutex
	pending []*batchJob[I, R]
}

type batchJob[I, R any] struct {
	item I
	done chan outcome[R] // buffered: the leader never waits for the request
}

// outcome is what a batch answered for one item.
type outcome[R any] struct {
	res R
	err error
}

func newBatcher[I, R any](run func(ctx context.Context, items []I) []outcome[R]) *batcher[I, R] {
	return &batcher[I, R]{run: run, slots: make(chan struct{}, batchSlots)}
}

// do queues item with the next batch and waits for its answer. A request whose ctx ends
// before its item is taken into a batch withdraws it; once taken, the item's fate is the
// batch's, and do waits for it.
func (b *batcher[I, R]) do(ctx context.Context, item I) (R, error) {
	job := &batchJob[I, R]{item: item, done: make(chan outcome[R], 1)}
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
				var zero R
				return zero, ctx.Err()
			}
			out := <-job.done
			return out.res, out.err
		}
	}
}

// withdraw removes a job no batch has taken, and reports whether it did.
func (b *batcher[I, R]) withdraw(job *batchJob[I, R]) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	i := slices.Index(b.pending, job)
	if i < 0 {
		return false
	}
	b.pending = slices.Delete(b.pending, i, i+1)
	return true
}

// lead runs the waiting items as one batch. Its context is not the leading request's: the
// batch carries other requests' items, which must not fail because one client went away.
func (b *batcher[I, R]) lead() {
	b.mu.Lock()
	n := min(len(b.pending), maxBatch)
	jobs := slices.Clone(b.pending[:n])
	b.pending = slices.Delete(b.pending, 0, n)
	b.mu.Unlock()
	if n == 0 {
		return
	}
	items := make([]I, n)
	for i, j := range jobs {
		items[i] = j.item
	}
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	for i, out := range b.run(ctx, items) {
		jobs[i].done <- out
	}
}

// runOrAlone runs items as one batch with run, which answers one result per item, in their
// order. A batch that fails is run again one item at a time, so that one item's fault is only
// that item's.
func runOrAlone[I, R any](ctx context.Context, items []I, run func(context.Context, []I) ([]R, error)) []outcome[R] {
	out := make([]outcome[R], len(items))
	res, err := run(ctx, items)
	switch {
	case err == nil:
		for i, r := range res {
			out[i] = outcome[R]{res: r}
		}
	case len(items) > 1 && ctx.Err() == nil:
		for i, item := range items {
			one, err := run(ctx, []I{item})
			if err != nil {
				out[i] = outcome[R]{err: err}
				continue
			}
			out[i] = outcome[R]{res: one[0]}
		}
	default:
		for i := range out {
			out[i] = outcome[R]{err: err}
		}
	}
	return out
}

// retried calls try until it succeeds, fails with an error again refuses, has been tried
// batchRetries times more, or ctx ends; it answers try's last answer.
func retried[T any](ctx context.Context, again func(error) bool, try func() (T, error)) (T, error) {
	for attempt := 0; ; attempt++ {
		res, err := try()
		if err == nil || !again(err) || attempt == batchRetries || ctx.Err() != nil {
			return res, err
		}
	}
}
