package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"directsms/numbers"
	"directsms/sql/pg"
	"directsms/sql/pgtest"
)

func TestBulkAssign_AppliesTheFileAndWritesTheErrorLog(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDSN(t)
	ctx := context.Background()
	db, err := pg.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	seed, err := seedDemo(ctx, db)
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
	nums := numbers.NewStore(db, numbers.Config{})
	acct, err := nums.CreateAccount(ctx, seed.TenantID, numbers.NewAccount{Provider: numbers.ProviderTwilio, AccountSID: "AC" + strings.Repeat("1", 32), AuthToken: "t"})
	if err != nil {
		t.Fatalf("account: %v", err)
	}
	for _, n := range []string{"+14158670001", "+14158670002"} {
		if _, err := nums.CreateNumber(ctx, seed.TenantID, numbers.NewNumber{Number: n, Direct: true, CarrierAccountID: acct.ID}); err != nil {
			t.Fatalf("number: %v", err)
		}
	}
	// Verified by hand: this test is about the command, not the carrier.
	if _, err := db.Exec(`UPDATE numbers SET status = 'verified', verified_at = now(), verified_via = 'test' WHERE e164 = '+14158670001'`); err != nil {
		t.Fatalf("verify: %v", err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "agents.csv")
	csv := "email,direct_number\nalice@demo.example,(415) 867-0001\nbob@demo.example,+14158670002\n"
	if err := os.WriteFile(file, []byte(csv), 0o600); err != nil {
		t.Fatalf("write: %v", err)
	}
	errLog := filepath.Join(dir, "errors.csv")
	env := envFrom(map[string]string{"DATABASE_URL": dsn})

	cases := []struct {
		name        string
		args        []string
		wantOut     string
		wantOwner   bool
		wantErrLine string
	}{
		{"a dry run writes nothing", []string{"--tenant", seed.TenantID, file, "--dry-run", "--errors", errLog},
			"rows 2, applied 1, unchanged 0, failed 1 (dry run: nothing was written)", false, "3,2,+14158670002,number_unverified,"},
		{"the real run applies the valid row", []string{"--tenant", seed.TenantID, "--errors", errLog, file},
			"rows 2, applied 1, unchanged 0, failed 1", true, "3,2,+14158670002,number_unverified,"},
		{"the same file again changes nothing", []string{"--tenant", seed.TenantID, file},
			"rows 2, applied 0, unchanged 1, failed 1", true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(ctx, append([]string{"bulk-assign"}, tc.args...), env, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), "1 failed") {
				t.Fatalf("got %v, want the command to fail for the one bad row", err)
			}
			if got := strings.TrimSpace(stdout.String()); got != tc.wantOut {
				t.Fatalf("got stdout %q, want %q", got, tc.wantOut)
			}
			for _, line := range []string{"reading agents.csv (", "read 2 rows (", "done ("} {
				if !strings.Contains(stderr.String(), line) {
					t.Fatalf("got stderr %q, want plain progress lines with %q", stderr.String(), line)
				}
			}
			if strings.Contains(stderr.String(), "\r") {
				t.Fatalf("got stderr %q, want no terminal redraws when stderr is not a terminal", stderr.String())
			}
			var owner *string
			if err := db.Get(&owner, `SELECT sms_user_id FROM numbers WHERE e164 = '+14158670001'`); err != nil {
				t.Fatalf("owner: %v", err)
			}
			if (owner != nil) != tc.wantOwner {
				t.Fatalf("got owner %v, want assigned=%v", owner, tc.wantOwner)
			}
			if tc.wantErrLine != "" {
				b, err := os.ReadFile(errLog)
				if err != nil || !strings.Contains(string(b), tc.wantErrLine) {
					t.Fatalf("got error log %q (%v), want a line starting %q", b, err, tc.wantErrLine)
				}
			} else if !strings.Contains(stderr.String(), `row 3, column 2 ("+14158670002"): number_unverified`) {
				t.Fatalf("got stderr %q, want the error printed without --errors", stderr.String())
			}
		})
	}
}

func TestBulkAssign_RefusesBadInvocations(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDSN(t)
	file := filepath.Join(t.TempDir(), "a.csv")
	if err := os.WriteFile(file, []byte("email,direct_number\n"), 0o600); err != nil {
		t.Fatalf("write: %v", err)
	}
	env := envFrom(map[string]string{"DATABASE_URL": dsn})
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no tenant", []string{file}, "usage"},
		{"no file", []string{"--tenant", "3f1b6a62-3b8e-4b43-9d57-6a1c4bd5d9a1"}, "usage"},
		{"a missing file", []string{"--tenant", "3f1b6a62-3b8e-4b43-9d57-6a1c4bd5d9a1", file + ".nope"}, "no such file"},
		{"an unknown tenant", []string{"--tenant", "3f1b6a62-3b8e-4b43-9d57-6a1c4bd5d9a1", file}, "tenant not found"},
		{"a tenant that is not an id", []string{"--tenant", "acme", file}, "tenant not found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := run(context.Background(), append([]string{"bulk-assign"}, tc.args...), env, &bytes.Buffer{}, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

func TestProgress_RedrawsInPlaceOnATerminal(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	p := &progress{w: &out, tty: true}
	s := p.bytes("reading a.csv", 100)
	s.add(50)
	s.add(50)
	s.end("read 3 rows")
	w := p.wait("assigning")
	w.end("done")
	got := out.String()
	for _, want := range []string{"\rreading a.csv [" + strings.Repeat("#", 30) + "] 100%", "\r\033[Kread 3 rows (", "\rassigning |", "done ("} {
		if !strings.Contains(got, want) {
			t.Fatalf("got %q, want it to contain %q", got, want)
		}
	}
}
