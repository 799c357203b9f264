package cron_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"directsms/internal/cron"
	"directsms/sql/pg"
	"directsms/sql/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// pools opens n connection pools to one new database, as n processes would.
func pools(t *testing.T, n int) []*sqlx.DB {
	t.Helper()
	dsn := pgtest.NewDSN(t)
	out := make([]*sqlx.DB, n)
	for i := range out {
		db, err := pg.Open(context.Background(), dsn)
		if err != nil {
			t.Fatalf("open pool %d: %v", i, err)
		}
		t.Cleanup(func() { db.Close() })
		out[i] = db
	}
	return out
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	at time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.at }
func (c *clock) set(v time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.at = v }

func TestRunOnce_SeveralProcessesRunEachPeriodOnce(t *testing.T) {
	t.Parallel()
	dbs := pools(t, 4)
	clk := &clock{at: time.Date(2026, 3, 8, 7, 0, 1, 0, time.UTC)}
	var runs atomic.Int32
	job := cron.Job{Name: "count", Every: 5 * time.Second, Timeout: 5 * time.Second, Run: func(context.Context, time.Time) error {
		runs.Add(1)
		return nil
	}}
	runners := make([]*cron.Runner, len(dbs))
	for i, db := range dbs {
		runners[i] = cron.New(db, quiet, clk.now)
	}

	runAll := func() {
		var wg sync.WaitGroup
		for _, r := range runners {
			for range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := r.RunOnce(context.Background(), job); err != nil {
						t.Errorf("run once: %v", err)
					}
				}()
			}
		}
		wg.Wait()
	}
	runAll()
	if got := runs.Load(); got != 1 {
		t.Fatalf("runs in the first period: got %d, want 1", got)
	}
	clk.set(clk.now().Add(3 * time.Second)) // 07:00:04, same period
	runAll()
	if got := runs.Load(); got != 1 {
		t.Fatalf("runs after a second firing in the same period: got %d, want 1", got)
	}
	clk.set(clk.now().Add(2 * time.Second)) // 07:00:06, next period
	runAll()
	if got := runs.Load(); got != 2 {
		t.Fatalf("runs after the next period began: got %d, want 2", got)
	}
}

func TestRunOnce_TimeoutEndsTheRun(t *testing.T) {
	t.Parallel()
	db := pools(t, 1)[0]
	job := cron.Job{Name: "slow", Every: time.Second, Timeout: 50 * time.Millisecond, Run: func(ctx context.Context, _ time.Time) error {
		<-ctx.Done()
		return ctx.Err()
	}}
	ran, err := cron.New(db, quiet, nil).RunOnce(context.Background(), job)
	if !ran || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got ran %v err %v, want ran true err deadline exceeded", ran, err)
	}
}

func TestRunner_RunsOnScheduleRecoversPanicsAndStops(t *testing.T) {
	t.Parallel()
	db := pools(t, 1)[0]
	r := cron.New(db, quiet, nil)
	var calls atomic.Int32
	ran := make(chan struct{}, 10)
	err := r.Add(cron.Job{Name: "flaky", Every: time.Second, Timeout: time.Second, Run: func(context.Context, time.Time) error {
		if calls.Add(1) == 1 {
			panic("first run fails")
		}
		ran <- struct{}{}
		return nil
	}})
	if err != nil {
		t.Fatalf("add: %v", err)
	}
	r.Start()
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatalf("no run after the panicking one within 5s: got %d calls, want 2", calls.Load())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r.Stop(ctx)
	after := calls.Load()
	time.Sleep(1500 * time.Millisecond)
	if got := calls.Load(); got != after {
		t.Fatalf("calls after Stop: got %d, want %d", got, after)
	}
}

func TestAdd_RefusesJobsThatCannotRunSafely(t *testing.T) {
	t.Parallel()
	run := func(context.Context, time.Time) error { return nil }
	r := cron.New(nil, quiet, nil)
	if err := r.Add(cron.Job{Name: "taken", Every: time.Second, Timeout: time.Second, Run: run}); err != nil {
		t.Fatalf("add: %v", err)
	}
	cases := []struct {
		name string
		job  cron.Job
	}{
		{"no name", cron.Job{Every: time.Second, Timeout: time.Second, Run: run}},
		{"no run function", cron.Job{Name: "x", Every: time.Second, Timeout: time.Second}},
		{"interval under a second", cron.Job{Name: "x", Every: 500 * time.Millisecond, Timeout: time.Second, Run: run}},
		{"interval not whole seconds", cron.Job{Name: "x", Every: 1500 * time.Millisecond, Timeout: time.Second, Run: run}},
		{"no timeout", cron.Job{Name: "x", Every: time.Second, Run: run}},
		{"name already added", cron.Job{Name: "taken", Every: time.Second, Timeout: time.Second, Run: run}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := r.Add(tc.job); err == nil {
				t.Fatalf("got nil error, want a refusal")
			}
		})
	}
}
