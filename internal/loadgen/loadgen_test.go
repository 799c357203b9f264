package loadgen_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"directsms/directory"
	"directsms/gateway"
	"directsms/internal/loadgen"
	"directsms/routing"
	"directsms/sql/pg"
	"directsms/sql/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestRun_EveryAcknowledgedTextIsStoredOnce(t *testing.T) {
	dsn := pgtest.NewDSN(t)
	db, err := pg.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	rt := routing.NewService(db, routing.Options{})
	t.Cleanup(func() { rt.Close() })
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	hub := routing.NewHub(db, dsn, logger)
	hubCtx, stopHub := context.WithCancel(context.Background())
	hubDone := make(chan error, 1)
	go func() { hubDone <- hub.Run(hubCtx) }()
	t.Cleanup(func() {
		stopHub()
		if err := <-hubDone; err != nil {
			t.Errorf("hub: %v", err)
		}
	})
	// The listener exists before the server starts, so the handler can know its public URL.
	srv := httptest.NewUnstartedServer(nil)
	url := "http://" + srv.Listener.Addr().String()
	srv.Config.Handler = gateway.New(gateway.Config{PublicURL: url}, gateway.Deps{
		DB: db, Directory: directory.NewStore(db, nil), Routing: rt, Hub: hub, Logger: logger,
	})
	srv.Start()
	t.Cleanup(srv.Close)
	ctx := context.Background()
	target, err := loadgen.Prepare(ctx, db)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	// A second Prepare finds the same tenant.
	again, err := loadgen.Prepare(ctx, db)
	if err != nil || again.TenantID != target.TenantID || again.AuthToken != target.AuthToken {
		t.Fatalf("Prepare again: got %+v, %v, want the same tenant and token", again.TenantID, err)
	}
	rep, err := loadgen.Run(ctx, db, loadgen.Config{URL: url, Duration: time.Second, Connections: 4, Contacts: 50}, target)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !rep.OK() || rep.Acknowledged == 0 || rep.Stored != rep.Acknowledged {
		t.Fatalf("got %+v, want every request acknowledged and stored once", rep)
	}
	var sessions int
	if err := db.Get(&sessions, `SELECT count(DISTINCT type) FROM sessions`); err != nil || sessions != 2 {
		t.Errorf("got %d session types, %v, want direct and non-direct", sessions, err)
	}

	// With the agents online, new sessions' offers reach their streams and are marked delivered.
	rep, err = loadgen.Run(ctx, db, loadgen.Config{URL: url, Duration: time.Second, Connections: 4, Contacts: 500, AgentsOnline: true}, target)
	if err != nil {
		t.Fatalf("Run with the agents online: %v", err)
	}
	if !rep.OK() || rep.Agents != 2 || rep.Streamed == 0 {
		t.Fatalf("got %+v, want every request acknowledged and stored once, and events on both agents' streams", rep)
	}
	var delivered int
	if err := db.Get(&delivered, `SELECT count(*) FROM offers WHERE delivered_at IS NOT NULL`); err != nil || delivered == 0 {
		t.Errorf("got %d offers marked delivered, %v, want some", delivered, err)
	}
	var live int
	if err := db.Get(&live, `SELECT count(*) FROM api_keys WHERE revoked_at IS NULL AND label = 'directsms bench'`); err != nil || live != 0 {
		t.Errorf("got %d bench agent keys still live, %v, want them revoked", live, err)
	}
}
