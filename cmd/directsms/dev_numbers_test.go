package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"directsms/gateway"
	"directsms/numbers"
	"directsms/sql/pgtest"
)

func TestSeedDemoNumbers_VerifiedThroughTheFakeCarrierAndAssignedOnce(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx := context.Background()
	seed, err := seedDemo(ctx, db)
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
	nums := numbers.NewStore(db, numbers.Config{
		Verifier: gateway.NewCarrierVerifier(true, slog.New(slog.NewTextHandler(io.Discard, nil))), AllowPrivateURLs: true,
	})
	// Two runs, each with its own fake carrier on a new port, as `directsms dev` twice.
	for run := 1; run <= 2; run++ {
		carrier, err := startDemoCarrier()
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		t.Cleanup(func() { carrier.Close() })
		if err := seedDemoNumbers(ctx, nums, &seed, carrier.URL()); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		acct, err := nums.GetAccount(ctx, seed.TenantID, seed.CarrierAccountID)
		if err != nil || acct.BaseURL != carrier.URL() {
			t.Fatalf("run %d: got account %v (%v), want it pointed at %s", run, acct, err, carrier.URL())
		}
	}
	want := map[string]string{
		"+12025550101": seed.Keys[1].UserID, // Alice
		"+12025550102": seed.Keys[2].UserID, // Bob
		"+12025550103": seed.QueueID,        // Sales
	}
	for e164, owner := range want {
		n, err := nums.GetNumber(ctx, seed.TenantID, e164)
		if err != nil {
			t.Fatalf("get %s: %v", e164, err)
		}
		if n.Status != numbers.StatusVerified || n.VerifiedVia != "twilio:IncomingPhoneNumbers" || !n.Direct || n.SMSOwner == nil ||
			n.SMSOwner.UserID+n.SMSOwner.QueueID != owner {
			t.Fatalf("got %+v, want %s verified through the fake carrier, direct, owned by %s", n, e164, owner)
		}
	}
	var count int
	if err := db.Get(&count, `SELECT count(*) FROM numbers`); err != nil || count != 3 {
		t.Fatalf("got %d numbers (%v), want 3 after two runs", count, err)
	}
	var out strings.Builder
	printDemo(&out, "http://localhost:8080", seed)
	for _, line := range []string{"+12025550101  Alice direct  owner Alice Agent", "+12025550103  Sales line    owner Sales", "/v1/bulk/direct-numbers?dry_run=true"} {
		if !strings.Contains(out.String(), line) {
			t.Fatalf("got output\n%s\nwant it to contain %q", out.String(), line)
		}
	}
}
