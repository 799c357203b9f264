// Package cron runs cluster-once jobs: periodic work (the offer sweeps, cool-downs, idle
// close) that must run once per period across every directsms process sharing a database, not
// once per process.
//
// Each process schedules every job with robfig/cron in UTC, wrapped in Recover (a panicking run
// is logged and the next one still happens) and SkipIfStillRunning (a slow run is never
// overlapped by the same process). Before a run does anything, it claims its period — the
// firing time truncated to the job's interval — by inserting (job, period) into job_runs; the
// process whose insert wins runs, the others skip that period. Each run gets its own timeout. The
// claim only divides periods between processes; the work a job does must still be safe to
// repeat and to race with itself (a claim lost to a crash is not retried, a run overrunning its
// period may meet the next one), which the sweeps get from row locks with SKIP LOCKED.
//
// It must not import any other directsms package.
package cron

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	robfig "github.com/robfig/cron/v3"
)

// Job is one periodic piece of work.
type Job struct {
	// Name identifies the job in job_runs and in logs; it must be unique and stable.
	Name string
	// Every is the interval between runs, whole seconds, at least one; a run claims the period
	// its firing time falls in.
	Every time.Duration
	// Timeout bounds one run; a run still going when it passes sees its context end.
	Timeout time.Duration
	// Run does the work. now is the runner's clock when the run began.
	Run func(ctx context.Context, now time.Time) error
}

// pruneAfter is how long claims are kept: long enough to see what ran recently, short enough
// that job_runs stays small.
const pruneAfter = 24 * time.Hour

const (
	sqlClaim = `INSERT INTO job_runs (job, period, claimed_at, claimed_by) VALUES ($1, $2, $3, $4)
		ON CONFLICT (job, period) DO NOTHING`
	sqlPrune = `DELETE FROM job_runs WHERE job = $1 AND period < $2`
)

// Runner schedules jobs in one process.
type Runner struct {
	db       *sqlx.DB
	log      *slog.Logger
	nowFunc  func() time.Time
	instance string
	cron     *robfig.Cron

	// ctx is the parent of every run; cancelling it ends runs still going at shutdown.
	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex
	jobs   map[string]bool
}

// New returns a runner over db; nowFunc is the clock (time.Now when nil).
func New(db *sqlx.DB, log *slog.Logger, nowFunc func() time.Time) *Runner {
	if nowFunc == nil {
		nowFunc = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "cron")
	host, _ := os.Hostname()
	ctx, cancel := context.WithCancel(context.Background())
	cl := cronLogger{log}
	return &Runner{
		db:       db,
		log:      log,
		nowFunc:  nowFunc,
		instance: host + ":" + strconv.Itoa(os.Getpid()),
		// Recover must be inside SkipIfStillRunning: a panic through SkipIfStillRunning loses
		// its token, and the job would be skipped forever after.
		cron: robfig.New(robfig.WithLocation(time.UTC), robfig.WithLogger(cl),
			robfig.WithChain(robfig.SkipIfStillRunning(cl), robfig.Recover(cl))),
		ctx:    ctx,
		cancel: cancel,
		jobs:   map[string]bool{},
	}
}

// Add schedules j. It refuses a job without a name, run function or timeout, an interval that
// is not whole seconds, and a name already added.
func (r *Runner) Add(j Job) error {
	switch {
	case j.Name == "" || j.Run == nil:
		return errors.New("add job: a name and a run function are required")
	case j.Every < time.Second || j.Every%time.Second != 0:
		return fmt.Errorf("add job %s: interval %s is not a whole number of seconds", j.Name, j.Every)
	case j.Timeout <= 0:
		return fmt.Errorf("add job %s: a timeout is required", j.Name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.jobs[j.Name] {
		return fmt.Errorf("add job %s: already added", j.Name)
	}
	r.jobs[j.Name] = true
	r.cron.Schedule(robfig.Every(j.Every), robfig.FuncJob(func() {
		if _, err := r.RunOnce(r.ctx, j); err != nil {
			r.log.Error("job failed", "job", j.Name, "err", err)
		}
	}))
	return nil
}

// Start begins scheduling in the background.
func (r *Runner) Start() {
	r.cron.Start()
}

// Stop stops scheduling and waits for runs in progress; when ctx ends first, it cancels them
// and waits for them to return.
func (r *Runner) Stop(ctx context.Context) {
	done := r.cron.Stop()
	select {
	case <-done.Done():
	case <-ctx.Done():
		r.cancel()
		<-done.Done()
	}
	r.cancel()
}

// RunOnce claims the period of j that now falls in and, when this process wins the claim, runs
// j with its timeout. It reports whether j ran. The scheduler calls it on every firing; tests
// call it to run a job without waiting.
func (r *Runner) RunOnce(ctx context.Context, j Job) (bool, error) {
	now := r.nowFunc().UTC()
	period := now.Truncate(j.Every)
	ctx, cancel := context.WithTimeout(ctx, j.Timeout)
	defer cancel()
	res, err := r.db.ExecContext(ctx, sqlClaim, j.Name, period, now, r.instance)
	if err != nil {
		return false, fmt.Errorf("claim %s at %s: %w", j.Name, period.Format(time.RFC3339), err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	if _, err := r.db.ExecContext(ctx, sqlPrune, j.Name, period.Add(-pruneAfter)); err != nil {
		return true, fmt.Errorf("prune claims of %s: %w", j.Name, err)
	}
	if err := j.Run(ctx, now); err != nil {
		return true, fmt.Errorf("run %s at %s: %w", j.Name, period.Format(time.RFC3339), err)
	}
	return true, nil
}

// cronLogger passes robfig/cron's logging to slog: its chatter (wake, run, schedule) at debug,
// recovered panics as errors.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, keysAndValues ...any) {
	l.log.Debug(msg, keysAndValues...)
}

func (l cronLogger) Error(err error, msg string, keysAndValues ...any) {
	l.log.Error(msg, append(keysAndValues, "err", err)...)
}
