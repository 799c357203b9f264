// Command directsms is the one binary: the server, migrations, the zero-config demo and the
// operator's tools. main only wires: it reads configuration, opens the database, builds the
// parts and runs them. Nothing imports this package.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	_ "time/tzdata" // time zones work on hosts without a zoneinfo database
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "directsms:", err)
		os.Exit(1)
	}
}

const usage = `directsms — SMS gateway and direct-number message router for contact centres

Usage:
  directsms serve         run the server (DATABASE_URL, LISTEN_ADDR)
  directsms migrate       apply migrations and exit
  directsms dev           the zero-config demo: private PostgreSQL, demo tenant, server on :8080
  directsms tenant create --name NAME --admin-email EMAIL [--region US] [--timezone ZONE]
  directsms bulk-assign --tenant ID FILE.csv [--dry-run] [--errors OUT.csv]
                          assign direct numbers from email,direct_number[,...] rows
  directsms bench inbound --url URL --duration 30s --connections 64   load-test the inbound webhook
  directsms fake-text --from +12025550199 --to +12025550101 --body "Hi"   post a signed Twilio text to a running server (the demo's account by default)

Run "directsms COMMAND -h" for a command's flags.
`

// run is the whole program; main only gives it the process's arguments, environment and
// streams, so tests can run it in-process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("a command is required")
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		return runServe(ctx, rest, getenv, stderr)
	case "migrate":
		return runMigrate(ctx, rest, getenv, stdout, stderr)
	case "dev":
		return runDev(ctx, rest, getenv, stdout, stderr)
	case "tenant":
		return runTenant(ctx, rest, getenv, stdout, stderr)
	case "bulk-assign":
		return runBulkAssign(ctx, rest, getenv, stdout, stderr)
	case "bench":
		return runBench(ctx, rest, getenv, stdout, stderr)
	case "fake-text":
		return runFakeText(ctx, rest, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}
