package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"directsms/directory"
	"directsms/gateway"
	"directsms/internal/apperr"
	"directsms/internal/pgcluster"
	"directsms/numbers"
	"directsms/sql/pg"
)

// demoTenant is the name the demo seeds and finds again on the next run.
const demoTenant = "Demo Contact Centre"

func runDev(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	cfg.bind(fs, getenv)
	dataDir := fs.String("data-dir", defaultDevDir(getenv), "where the demo's private PostgreSQL keeps its data (reused next time)")
	reset := fs.Bool("reset", false, "delete the demo's data folder first and start from nothing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.AllowPrivateURLs = true
	if cfg.LogFormat == "json" && getenv("DIRECTSMS_LOG_FORMAT") == "" {
		cfg.LogFormat = "text"
	}

	if cfg.DatabaseURL == "" {
		if *reset {
			if err := os.RemoveAll(*dataDir); err != nil {
				return fmt.Errorf("reset %s: %w", *dataDir, err)
			}
		}
		fmt.Fprintf(stderr, "starting a private PostgreSQL in %s ...\n", *dataDir)
		cluster, err := pgcluster.Start(ctx, *dataDir, false)
		if err != nil {
			return err
		}
		defer func() {
			fmt.Fprintln(stderr, "stopping the private PostgreSQL")
			cluster.Stop() //nolint:errcheck // nothing left to do if it fails on the way out
		}()
		if err := ensureDatabase(ctx, cluster.DSN("postgres"), "directsms"); err != nil {
			return err
		}
		cfg.DatabaseURL = cluster.DSN("directsms")
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
	seed, err := seedDemo(ctx, db)
	if err != nil {
		return err
	}
	carrier, err := startDemoCarrier()
	if err != nil {
		return err
	}
	defer carrier.Close()
	nums := numbers.NewStore(db, numbers.Config{Verifier: gateway.NewCarrierVerifier(true, log), AllowPrivateURLs: true})
	if err := seedDemoNumbers(ctx, nums, &seed, carrier.URL()); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("listen on %s (is another directsms running? try --listen :8081): %w", cfg.ListenAddr, err)
	}
	return serve(ctx, cfg, db, ln, log, func(addr string) {
		printDemo(stdout, baseURL(addr), seed)
	})
}

// defaultDevDir is a folder the demo owns. As root it lives where the postgres user, which the
// server must run as, can reach it.
func defaultDevDir(getenv func(string) string) string {
	if os.Geteuid() == 0 {
		return filepath.Join(pgcluster.ParentForRoot(), "directsms-dev")
	}
	if d := getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "directsms", "dev")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "directsms", "dev")
	}
	return filepath.Join(os.TempDir(), "directsms-dev")
}

func ensureDatabase(ctx context.Context, adminDSN, name string) error {
	db, err := pg.Open(ctx, adminDSN)
	if err != nil {
		return err
	}
	defer db.Close()
	var exists bool
	if err := db.GetContext(ctx, &exists, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name); err != nil {
		return fmt.Errorf("look for database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// demoSeed is what the demo prints: who can call the API, with which key, and what to try.
type demoSeed struct {
	TenantID string
	TeamID   string
	QueueID  string
	Keys     []demoKey
	// The fake carrier's account and the numbers verified through it (seedDemoNumbers).
	CarrierAccountID string
	CarrierURL       string
	Numbers          []demoNumber
}

type demoKey struct {
	Who, Email, Role, UserID, Key string
}

// The demo's directory: its admin (created with the tenant), two available agents in team
// Support, and the SMS queue Sales that Support answers.
const (
	demoAdminEmail = "admin@demo.example"
	demoTeam       = "Support"
	demoQueue      = "Sales"
)

var demoAgents = []demoKey{
	{Who: "Alice Agent", Email: "alice@demo.example", Role: string(directory.RoleAgent)},
	{Who: "Bob Agent", Email: "bob@demo.example", Role: string(directory.RoleAgent)},
}

// seedDemo creates the demo tenant and its directory the first time, finding each part again
// by name or email on later runs so nothing is created twice, and every time issues fresh keys
// for its users: keys are stored hashed, so the ones printed last time cannot be shown again.
func seedDemo(ctx context.Context, db *sqlx.DB) (demoSeed, error) {
	seed, err := seedDemoDirectory(ctx, directory.NewStore(db, nil))
	if err != nil {
		return demoSeed{}, fmt.Errorf("seed demo: %w", err)
	}
	return seed, nil
}

func seedDemoDirectory(ctx context.Context, dir *directory.Store) (demoSeed, error) {
	tenantID, err := dir.TenantIDByName(ctx, demoTenant)
	if apperr.IsNotFound(err) {
		created, cerr := dir.CreateTenant(ctx, directory.NewTenant{
			Name: demoTenant, AdminEmail: demoAdminEmail, AdminName: "Ada Admin", Region: "US", Timezone: "America/New_York",
		})
		tenantID, err = created.TenantID, cerr
	}
	if err != nil {
		return demoSeed{}, err
	}
	adminID, err := dir.UserIDByEmail(ctx, tenantID, demoAdminEmail)
	if err != nil {
		return demoSeed{}, err
	}
	admin := directory.Principal{TenantID: tenantID, UserID: adminID, Role: directory.RoleAdmin}
	seed := demoSeed{TenantID: tenantID}

	seed.TeamID, err = dir.TeamIDByName(ctx, tenantID, demoTeam)
	if apperr.IsNotFound(err) {
		var team directory.Team
		team, err = dir.CreateTeam(ctx, admin, directory.NewTeam{Name: demoTeam})
		seed.TeamID = team.ID
	}
	if err != nil {
		return demoSeed{}, err
	}
	users := append([]demoKey{{Who: "Ada Admin", Email: demoAdminEmail, Role: string(directory.RoleAdmin), UserID: adminID}}, demoAgents...)
	for i, u := range users[1:] {
		id, err := dir.UserIDByEmail(ctx, tenantID, u.Email)
		if apperr.IsNotFound(err) {
			var created directory.User
			created, err = dir.CreateUser(ctx, admin, directory.NewUser{
				Name: u.Who, Email: u.Email, Role: directory.Role(u.Role), TeamIDs: []string{seed.TeamID}, Status: directory.StatusAvailable,
			})
			id = created.ID
		}
		if err != nil {
			return demoSeed{}, err
		}
		users[i+1].UserID = id
	}
	seed.QueueID, err = dir.QueueIDByName(ctx, tenantID, demoQueue)
	if apperr.IsNotFound(err) {
		var queue directory.Queue
		queue, err = dir.CreateQueue(ctx, admin, directory.NewQueue{Name: demoQueue, Kind: directory.QueueSMS, TeamIDs: []string{seed.TeamID}})
		seed.QueueID = queue.ID
	}
	if err != nil {
		return demoSeed{}, err
	}
	for _, u := range users {
		key, err := dir.CreateAPIKey(ctx, tenantID, u.UserID, "directsms dev")
		if err != nil {
			return demoSeed{}, err
		}
		u.Key = key.Key
		seed.Keys = append(seed.Keys, u)
	}
	return seed, nil
}

func baseURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || host == "::" || host == "0.0.0.0" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

func printDemo(w io.Writer, base string, seed demoSeed) {
	var b strings.Builder
	fmt.Fprintf(&b, "\ndirectsms demo is running at %s (Ctrl-C stops it)\n\n", base)
	fmt.Fprintf(&b, "tenant %s, team %s %s, sms queue %s %s\n\n", seed.TenantID, demoTeam, seed.TeamID, demoQueue, seed.QueueID)
	for _, k := range seed.Keys {
		fmt.Fprintf(&b, "  %-12s %-22s %-10s %s\n", k.Who, k.Email, k.Role, k.Key)
	}
	admin, alice := seed.Keys[0], seed.Keys[1]
	if len(seed.Numbers) > 0 {
		fmt.Fprintf(&b, "\nnumbers, verified with the fake carrier at %s (Twilio account %s):\n", seed.CarrierURL, demoTwilioSID)
		for _, n := range seed.Numbers {
			fmt.Fprintf(&b, "  %s  %-13s owner %s\n", n.E164, n.Label, n.Owner)
		}
	}
	fmt.Fprintf(&b, "\nTry:\n")
	fmt.Fprintf(&b, "  curl -s -H 'Authorization: Bearer %s' %s/v1/users\n", admin.Key, base)
	fmt.Fprintf(&b, "  curl -s -X PUT -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' -d '{\"status\": \"away\"}' %s/v1/users/%s/status\n", alice.Key, base, alice.UserID)
	fmt.Fprintf(&b, "  curl -s -H 'Authorization: Bearer %s' %s/v1/queues/%s\n", admin.Key, base, seed.QueueID)
	fmt.Fprintf(&b, "  curl -s -H 'Authorization: Bearer %s' %s/v1/users/%s/channels\n", admin.Key, base, alice.UserID)
	if len(seed.Numbers) > 0 {
		fmt.Fprintf(&b, "  curl -s -H 'Authorization: Bearer %s' %s/v1/numbers\n", admin.Key, base)
		fmt.Fprintf(&b, "  curl -s -X POST -H 'Authorization: Bearer %s' %s/v1/numbers/%s/verify\n", admin.Key, base, seed.Numbers[0].E164)
		fmt.Fprintf(&b, "  curl -s -X POST -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' -d '{\"to\": \"+12025550199\", \"body\": \"Hello from the demo\"}' %s/v1/messages    # Alice texts from her direct number\n", alice.Key, base)
		fmt.Fprintf(&b, "  curl -s -H 'Authorization: Bearer %s' %s/v1/messages/ID    # its status: queued, sending, sent, delivered\n", alice.Key, base)
		fmt.Fprintf(&b, "  printf 'email,direct_number\\n%s,%s\\n' | curl -s -X POST -H 'Authorization: Bearer %s' -H 'Content-Type: text/csv' --data-binary @- '%s/v1/bulk/direct-numbers?dry_run=true'\n",
			alice.Email, seed.Numbers[0].E164, admin.Key, base)
	}
	month := time.Now().UTC()
	month = time.Date(month.Year(), month.Month(), 1, 0, 0, 0, 0, time.UTC)
	fmt.Fprintf(&b, "  curl -s -H 'Authorization: Bearer %s' '%s/v1/reports/sessions?from=%s&to=%s&group_by=day,type'\n",
		admin.Key, base, month.Format(time.DateOnly), month.AddDate(0, 1, 0).Format(time.DateOnly))
	fmt.Fprintf(&b, "  curl -s %s/openapi.json | head\n", base)
	fmt.Fprintf(&b, "  curl -N -H 'Authorization: Bearer %s' %s/v1/events    # Alice's real-time events\n", alice.Key, base)
	if len(seed.Numbers) > 0 {
		fmt.Fprintf(&b, "  go run ./cmd/directsms fake-text --url %s --from +12025550199 --to %s --body 'Hi Alice'    # a customer texts Alice's direct number, signed as Twilio signs it\n",
			base, seed.Numbers[0].E164)
	}
	fmt.Fprintln(&b)
	fmt.Fprint(w, b.String())
}
