package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"directsms/deflection"
	"directsms/directory"
	"directsms/gateway"
	"directsms/numbers"
	"directsms/reporting"
	"directsms/routing"
	"directsms/sql/migrations"
	"directsms/sql/pg"
)

func runServe(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	cfg.bind(fs, getenv)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	log, err := cfg.logger(stderr)
	if err != nil {
		return err
	}
	db, err := openAndMigrate(ctx, cfg.DatabaseURL, log)
	if err != nil {
		return err
	}
	defer db.Close()
	if cfg.DBMaxConns > 0 {
		db.SetMaxOpenConns(cfg.DBMaxConns)
		db.SetMaxIdleConns(cfg.DBMaxConns)
	}
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.ListenAddr, err)
	}
	return serve(ctx, cfg, db, ln, log, nil)
}

func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dsn := fs.String("database-url", getenv("DATABASE_URL"), "PostgreSQL URL (env DATABASE_URL)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dsn == "" {
		return errors.New("DATABASE_URL (or --database-url) is required")
	}
	db, err := pg.Open(ctx, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	applied, err := migrations.Up(ctx, db.DB)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintln(stdout, "schema is current")
	}
	for _, name := range applied {
		fmt.Fprintln(stdout, "applied", name)
	}
	return nil
}

func openAndMigrate(ctx context.Context, dsn string, log *slog.Logger) (*sqlx.DB, error) {
	db, err := pg.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	applied, err := migrations.Up(ctx, db.DB)
	if err != nil {
		db.Close()
		return nil, err
	}
	for _, name := range applied {
		log.Info("applied migration", "name", name)
	}
	return db, nil
}

// serve runs the HTTP server and the background work on ln until ctx ends, then drains
// in-flight requests within the shutdown timeout. ready, when set, is called once serving.
func serve(ctx context.Context, cfg config, db *sqlx.DB, ln net.Listener, log *slog.Logger, ready func(addr string)) error {
	dir := directory.NewStore(db, nil)
	// The event hub holds its own LISTEN connection and runs as long as the process; when it
	// stops, the event streams it serves end.
	hub := routing.NewHub(db, cfg.DatabaseURL, log)
	hubCtx, stopHub := context.WithCancel(ctx)
	defer stopHub()
	hubDone := make(chan error, 1)
	go func() { hubDone <- hub.Run(hubCtx) }()
	nums := numbers.NewStore(db, numbers.Config{
		Verifier:         gateway.NewCarrierVerifier(cfg.AllowPrivateURLs, log),
		AllowPrivateURLs: cfg.AllowPrivateURLs,
	})
	rt := routing.NewService(db, routing.Options{Logger: log})
	defer rt.Close()
	waker := routing.NewWaker()
	outbound := routing.NewOutbound(db, routing.OutboundConfig{Logger: log, Wake: waker.Wake})
	defer outbound.Close()
	api := gateway.New(gateway.Config{
		PublicURL:        cfg.PublicURL,
		AllowPrivateURLs: cfg.AllowPrivateURLs,
	}, gateway.Deps{DB: db, Directory: dir, Numbers: nums, Routing: rt, Outbound: outbound, Hub: hub,
		Reporting: reporting.NewStore(db, nil), Logger: log, Deflection: deflection.NewStore(db, nil, nums)})
	// Scheduled jobs run while the process serves; each period runs in one process only.
	jobs, err := startJobs(db, rt, log)
	if err != nil {
		return err
	}

	// The outbox worker sends what is queued, in this process and every other one sharing the
	// database; on shutdown it finishes the batches it has started.
	worker := routing.NewWorker(db, gateway.NewCarriers(cfg.PublicURL, cfg.AllowPrivateURLs), nums,
		routing.WorkerConfig{Wake: waker.C(), Logger: log})
	workCtx, stopWork := context.WithCancel(ctx)
	workDone := make(chan struct{})
	go func() {
		defer close(workDone)
		worker.Run(workCtx)
	}()
	defer func() {
		stopWork()
		<-workDone
	}()

	// Long-lived requests (event streams) end when the process is asked to stop.
	baseCtx, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()

	// Webhook deliveries run in every process; the dispatcher claims work so they never collide.
	dispatcher := reporting.NewDispatcher(db, reporting.DispatcherConfig{AllowPrivateURLs: cfg.AllowPrivateURLs, Logger: log})
	var background sync.WaitGroup
	background.Add(1)
	go func() {
		defer background.Done()
		dispatcher.Run(baseCtx)
	}()
	defer func() {
		cancelBase()
		background.Wait()
	}()
	srv := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("serving", "addr", ln.Addr().String(), "public_url", cfg.PublicURL)
	if ready != nil {
		ready(ln.Addr().String())
	}

	var failed error
	select {
	case err := <-errc:
		stopHub()
		jobs.Stop(context.Background())
		<-hubDone
		return fmt.Errorf("serve: %w", err)
	case err := <-hubDone:
		hubDone <- err // for the wait below
		// Run ends early only when the hub cannot work at all; serving without it would
		// quietly leave every agent without real-time events.
		if err != nil {
			failed = fmt.Errorf("event hub: %w", err)
		}
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	cancelBase()
	stopHub()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	jobs.Stop(shutdownCtx)
	<-hubDone
	if err != nil {
		return errors.Join(failed, fmt.Errorf("shutdown: %w", err))
	}
	if failed != nil {
		return failed
	}
	log.Info("stopped")
	return nil
}
