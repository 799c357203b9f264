package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"directsms/internal/loadgen"
	"directsms/sql/pg"
)

const benchUsage = `directsms bench inbound — load the Twilio inbound webhook of a running server

  directsms bench inbound --url http://127.0.0.1:8080 --duration 30s --connections 64 --database-url URL [--agents-online]

The server must share the database and have PUBLIC_URL set to what --public-url says (the URL by
default), since that is what the texts are signed over. The bench tenant ("directsms bench") is
created on first use. The command fails unless every request was acknowledged and every
acknowledged text is stored exactly once. With --agents-online each bench agent keeps an event
stream open for the run (offers reach a client, so the agents stay available); without it they
have none, and the offer sweep soon takes the agent with the direct number off work.
`

func runBench(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "inbound" {
		fmt.Fprint(stderr, benchUsage)
		return errors.New(`bench: the one benchmark is "inbound"`)
	}
	fs := flag.NewFlagSet("bench inbound", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg loadgen.Config
	fs.StringVar(&cfg.URL, "url", "http://127.0.0.1:8080", "the server's address")
	fs.StringVar(&cfg.PublicURL, "public-url", "", "the server's PUBLIC_URL, which texts are signed over (default: --url)")
	fs.DurationVar(&cfg.Duration, "duration", 30*time.Second, "how long to send")
	fs.IntVar(&cfg.Connections, "connections", 64, "concurrent connections, each sending its next text when the last is answered")
	fs.IntVar(&cfg.Contacts, "contacts", 10000, "how many different senders (at most 100,000)")
	fs.BoolVar(&cfg.AgentsOnline, "agents-online", false, "keep an event stream open for each bench agent, as their browsers would")
	dsn := fs.String("database-url", getenv("DATABASE_URL"), "the server's PostgreSQL URL, to set up the bench tenant and check what was stored (env DATABASE_URL)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *dsn == "" {
		return errors.New("DATABASE_URL (or --database-url) is required")
	}
	if cfg.Connections < 1 || cfg.Duration <= 0 {
		return errors.New("--connections and --duration must be positive")
	}
	db, err := pg.Open(ctx, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	target, err := loadgen.Prepare(ctx, db)
	if err != nil {
		return fmt.Errorf("prepare the bench tenant: %w", err)
	}
	fmt.Fprintf(stdout, "sending signed Twilio texts to %s%s from %d connections for %s ...\n", cfg.URL, loadgen.WebhookPath, cfg.Connections, cfg.Duration)
	rep, err := loadgen.Run(ctx, db, cfg, target)
	if err != nil {
		return err
	}
	rep.Print(stdout)
	if !rep.OK() {
		return errors.New("bench: errors, or acknowledged texts not stored exactly once")
	}
	return nil
}
