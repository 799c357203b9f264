package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"directsms/directory"
	"directsms/sql/pgtest"
)

func TestSeedDemo_SecondRunFindsEverythingAndCreatesNothing(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx := context.Background()
	first, err := seedDemo(ctx, db)
	if err != nil {
		t.Fatalf("first seed: %v", err)
	}
	counts := func() map[string]int {
		t.Helper()
		out := map[string]int{}
		for _, table := range []string{"tenants", "users", "teams", "team_members", "queues", "queue_members"} {
			var n int
			if err := db.Get(&n, `SELECT count(*) FROM `+table); err != nil {
				t.Fatalf("count %s: %v", table, err)
			}
			out[table] = n
		}
		return out
	}
	before := counts()
	second, err := seedDemo(ctx, db)
	if err != nil {
		t.Fatalf("second seed: %v", err)
	}
	after := counts()
	for table, n := range before {
		if after[table] != n {
			t.Fatalf("got %d rows in %s after the second run, want %d", after[table], table, n)
		}
	}
	if first.TenantID != second.TenantID || first.TeamID != second.TeamID || first.QueueID != second.QueueID {
		t.Fatalf("got %+v then %+v, want the same tenant, team and queue", first, second)
	}
	if len(second.Keys) != 3 || second.Keys[1].Email != "alice@demo.example" || second.Keys[2].Email != "bob@demo.example" {
		t.Fatalf("got keys %+v, want admin, Alice and Bob", second.Keys)
	}
	if second.Keys[1].Key == first.Keys[1].Key {
		t.Fatalf("got the same key twice, want a fresh one per run")
	}

	dir := directory.NewStore(db, nil)
	members, err := dir.EligibleMembers(ctx, second.TenantID, second.QueueID, directory.ChannelSMS)
	if err != nil || len(members) != 2 {
		t.Fatalf("got %+v, %v; want Alice and Bob as Sales members", members, err)
	}
	for _, m := range members {
		if !m.Eligible {
			t.Fatalf("got %+v, want every demo agent eligible for sms", m)
		}
	}
	alice, err := dir.GetUser(ctx, second.TenantID, second.Keys[1].UserID)
	if err != nil || alice.Role != directory.RoleAgent || alice.Status != directory.StatusAvailable || alice.PrimaryTeamID != second.TeamID {
		t.Fatalf("got %+v, %v; want an available agent with Support as primary team", alice, err)
	}

	var out bytes.Buffer
	printDemo(&out, "http://localhost:8080", second)
	for _, want := range []string{"/v1/users\n", "/v1/users/" + alice.ID + "/status", `{"status": "away"}`, second.Keys[2].Key} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("got output\n%s\nwant it to contain %q", out.String(), want)
		}
	}
}
