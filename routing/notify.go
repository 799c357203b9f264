package routing

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
)

// notifier wakes every process's event streams after an inbound text's events are committed.
//
// Publish notifies inside its transaction, which is right for occasional events but not for the
// inbound path: PostgreSQL serialises the commits of notifying transactions behind one lock held
// through the WAL flush, which halved inbound throughput when measured. Inbound transactions
// therefore do not notify; after each commit the service calls wake, and one goroutine sends a
// single NOTIFY for however many commits happened while the previous one was in flight.
// Listeners read the events table after the last id they saw, so folding wake-ups loses nothing;
// at worst (the process dies between commit and notify) the events wait for the next wake-up.
//
// Notifications are also spaced notifyInterval apart: each one is a transaction of its own, and
// wakes every process's hub to read the events table, so under load one per interval carries
// everything committed meanwhile for a few milliseconds of delivery delay.
type notifier struct {
	db      *sqlx.DB
	log     *slog.Logger
	pending atomic.Bool
	running atomic.Bool

	// mu guards closed and the WaitGroup's additions, so close can wait for the last runner.
	mu      sync.Mutex
	closed  bool
	runners sync.WaitGroup
}

// notifyInterval is the least time between two notifications from one process.
const notifyInterval = 5 * time.Millisecond

// sqlNotifyEventsNow has no parameters, so it goes out as one simple query, not a prepared one.
const sqlNotifyEventsNow = `SELECT pg_notify('` + NotifyChannel + `', '')`

func newNotifier(db *sqlx.DB, log *slog.Logger) *notifier {
	return &notifier{db: db, log: log}
}

// wake asks for a notification after events were committed. It never blocks.
func (n *notifier) wake() {
	n.pending.Store(true)
	if !n.running.CompareAndSwap(false, true) {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		n.running.Store(false)
		return
	}
	n.runners.Add(1)
	go n.run()
}

// close stops notifying and waits for a notification in flight, so the database can be closed
// after it.
func (n *notifier) close() {
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	n.runners.Wait()
}

// run sends notifications until no wake is pending, then exits; the next wake starts it again.
func (n *notifier) run() {
	defer n.runners.Done()
	for {
		for n.pending.Swap(false) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := n.db.ExecContext(ctx, sqlNotifyEventsNow)
			cancel()
			if err != nil {
				n.log.Warn("notify event listeners", "err", err)
			}
			time.Sleep(notifyInterval)
		}
		n.running.Store(false)
		// A wake between the last Swap and the Store saw running still set and left the work
		// here: take it back unless another wake already started a runner.
		if !n.pending.Load() || !n.running.CompareAndSwap(false, true) {
			return
		}
	}
}
