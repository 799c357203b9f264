package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"

	"directsms/internal/cron"
	"directsms/routing"
	"directsms/sql/pg"
)

// scheduledJobs are the periodic jobs every process schedules; internal/cron runs each period
// of each job in one process of the cluster only.
func scheduledJobs(db *sqlx.DB, rt *routing.Service, log *slog.Logger) []cron.Job {
	return []cron.Job{
		{
			// Direct offers: misses, failed deliveries and agents who can no longer take them.
			// Offers time out after at least five seconds, so a five-second sweep settles
			// each within about one timeout and a half.
			Name: "offers.sweep", Every: 5 * time.Second, Timeout: 30 * time.Second,
			Run: func(ctx context.Context, now time.Time) error {
				res, err := routing.SweepOffers(ctx, db, now)
				if res != (routing.SweepResult{}) {
					log.Info("swept offers", "missed", res.Missed, "undelivered", res.Undelivered,
						"rerouted", res.Rerouted, "status_changes", res.StatusChanges)
				}
				return err
			},
		},
		{
			// Agents a threshold took off work, back once the tenant's cool-down has passed.
			Name: "agents.cooldown", Every: 15 * time.Second, Timeout: 30 * time.Second,
			Run: func(ctx context.Context, now time.Time) error {
				n, err := routing.EndCooldowns(ctx, db, now)
				if n > 0 {
					log.Info("ended cool-downs", "agents", n)
				}
				return err
			},
		},
		{
			// Statistics for tables that have doubled since PostgreSQL last counted them, so
			// that a new database's connections stop using plans made on empty tables within
			// seconds, not at autovacuum's next look (pg.AnalyzeGrown). Most runs read one
			// statistics view and analyze nothing.
			Name: "db.analyze", Every: 2 * time.Second, Timeout: 2 * time.Minute,
			Run: func(ctx context.Context, _ time.Time) error {
				tables, err := pg.AnalyzeGrown(ctx, db)
				if len(tables) > 0 {
					log.Info("analyzed grown tables", "tables", tables)
				}
				return err
			},
		},
		{
			// Sessions idle longer than their tenant's session_idle_close_seconds.
			Name: "sessions.close_idle", Every: time.Minute, Timeout: 2 * time.Minute,
			Run: func(ctx context.Context, now time.Time) error {
				n, err := rt.CloseIdle(ctx, now)
				if n > 0 {
					log.Info("closed idle sessions", "sessions", n)
				}
				return err
			},
		},
	}
}

// startJobs schedules every job and starts the runner; stop it with Stop on shutdown.
func startJobs(db *sqlx.DB, rt *routing.Service, log *slog.Logger) (*cron.Runner, error) {
	r := cron.New(db, log, nil)
	for _, j := range scheduledJobs(db, rt, log) {
		if err := r.Add(j); err != nil {
			return nil, fmt.Errorf("schedule jobs: %w", err)
		}
	}
	r.Start()
	return r, nil
}
