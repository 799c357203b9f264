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
	"directsms/sql/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestRun_EveryAcknowledgedTextIsStoredOnce(t *testing.T) {
	db := pgtest.NewDB(t)
	rt := routing.NewService(db, routing.Options{})
	t.Cleanup(func() { rt.Close() })
	// The listener exists before the server starts, so the handler can know its public URL.
	srv := httptest.NewUnstartedServer(nil)
	url := "http://" + srv.Listener.Addr().String()
	srv.Config.Handler = gateway.New(gateway.Config{PublicURL: url}, gateway.Deps{
		DB: db, Directory: directory.NewStore(db, nil), Routing: rt, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
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
}
