package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"directsms/directory"
	"directsms/routing"
	"directsms/sql/pg"
	"directsms/sql/pgtest"
)

// process is one running directsms server, as serve runs it.
type process struct {
	base string
	db   *sqlx.DB
	stop context.CancelFunc
	done chan error
}

// startProcess runs serve on a free port over dsn until the test ends or stop is called.
func startProcess(t *testing.T, dsn string) *process {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	cfg := config{DatabaseURL: dsn, ListenAddr: ln.Addr().String(), LogFormat: "text", LogLevel: "error", ShutdownTimeout: 10 * time.Second}
	if err := cfg.validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	db, err := openAndMigrate(ctx, dsn, log)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	p := &process{db: db, stop: cancel, done: make(chan error, 1)}
	ready := make(chan string, 1)
	go func() {
		p.done <- serve(ctx, cfg, db, ln, log, func(addr string) { ready <- addr })
	}()
	select {
	case addr := <-ready:
		p.base = "http://" + addr
	case err := <-p.done:
		t.Fatalf("serve: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		<-p.done
		db.Close()
	})
	return p
}

func TestServe_EventStreamCrossesProcessesAndEndsOnShutdown(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDSN(t)
	a, b := startProcess(t, dsn), startProcess(t, dsn)
	created, err := directory.NewStore(a.db, nil).CreateTenant(context.Background(), directory.NewTenant{Name: "Acme", AdminEmail: "admin@acme.example"})
	if err != nil {
		t.Fatalf("tenant: %v", err)
	}

	req, err := http.NewRequest(http.MethodGet, b.base+"/v1/events", nil)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+created.APIKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /v1/events: %v", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/events: got %d, want 200", res.StatusCode)
	}
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()

	// Process A's transaction publishes; the client of process B hears of it.
	err = pg.InTx(context.Background(), a.db, func(tx *sqlx.Tx) error {
		return routing.Publish(context.Background(), tx, time.Now(), routing.Event{
			TenantID: created.TenantID, UserID: created.AdminUserID, Type: routing.EventAgentStatus, Data: map[string]string{"status": "available"},
		})
	})
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	deadline := time.After(10 * time.Second)
	for got := false; !got; {
		select {
		case line, open := <-lines:
			if !open {
				t.Fatalf("stream ended before the event")
			}
			got = strings.HasPrefix(line, "event: agent.status")
		case <-deadline:
			t.Fatalf("no agent.status event within 10s")
		}
	}

	b.stop()
	select {
	case err := <-b.done:
		b.done <- err
		if err != nil {
			t.Fatalf("serve B: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("process B did not stop within 10s with a stream open")
	}
	for range lines {
	}
	ok, err := routing.HasConnectedClient(context.Background(), a.db, created.TenantID, created.AdminUserID, time.Now())
	if err != nil || ok {
		t.Fatalf("connected after B stopped: got %v, %v, want false", ok, err)
	}
}
