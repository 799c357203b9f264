package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"directsms/directory"
)

func runTenant(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return errors.New(`usage: directsms tenant create --name NAME --admin-email EMAIL [--region US] [--timezone ZONE]`)
	}
	fs := flag.NewFlagSet("tenant create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dsn := fs.String("database-url", getenv("DATABASE_URL"), "PostgreSQL URL (env DATABASE_URL)")
	var in directory.NewTenant
	fs.StringVar(&in.Name, "name", "", "the tenant's name (required)")
	fs.StringVar(&in.AdminEmail, "admin-email", "", "the first admin's email (required)")
	fs.StringVar(&in.AdminName, "admin-name", "", "the first admin's name (default: the email's local part)")
	fs.StringVar(&in.Region, "region", "US", "default region for national phone numbers")
	fs.StringVar(&in.Timezone, "timezone", "UTC", "IANA time zone for reports")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if in.Name == "" || in.AdminEmail == "" {
		return errors.New("--name and --admin-email are required")
	}
	if *dsn == "" {
		return errors.New("DATABASE_URL (or --database-url) is required")
	}
	db, err := openAndMigrate(ctx, *dsn, slog.New(slog.NewTextHandler(stderr, nil)))
	if err != nil {
		return err
	}
	defer db.Close()
	created, err := directory.NewStore(db, nil).CreateTenant(ctx, in)
	if err != nil {
		return err
	}
	out, err := json.Marshal(created)
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	fmt.Fprintln(stdout, string(out))
	return nil
}
