package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"directsms/sql/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// syncBuffer is a bytes.Buffer safe for the server's logger and the test to share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func envFrom(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

var servingAddr = regexp.MustCompile(`"msg":"serving","addr":"([^"]+)"`)

// startServe runs `directsms serve` in-process on a free port and returns its base URL, a
// function that sends it SIGTERM (cancels its context), and the channel run's result arrives on.
func startServe(t *testing.T) (base string, stop func(), done <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	errc := make(chan error, 1)
	env := envFrom(map[string]string{"DATABASE_URL": pgtest.NewDSN(t), "LISTEN_ADDR": "127.0.0.1:0"})
	go func() { errc <- run(ctx, []string{"serve"}, env, &bytes.Buffer{}, logs) }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := servingAddr.FindStringSubmatch(logs.String()); m != nil {
			return "http://" + m[1], cancel, errc
		}
		select {
		case err := <-errc:
			t.Fatalf("serve exited early: %v\n%s", err, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	t.Fatalf("serve did not start:\n%s", logs.String())
	return "", nil, nil
}

func TestServe_StopsCleanlyOnSIGTERM(t *testing.T) {
	t.Parallel()
	base, stop, done := startServe(t)
	res, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatalf("readyz: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("got readyz %d, want 200", res.StatusCode)
	}
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("got %v from serve after SIGTERM, want nil (exit 0)", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop within 20s of SIGTERM")
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Fatal("server still accepts connections after shutdown")
	}
}

func TestTenantCreate_PrintsIDsAndAWorkingKey(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	env := envFrom(map[string]string{"DATABASE_URL": pgtest.NewDSN(t)})
	args := []string{"tenant", "create", "--name", "Acme", "--admin-email", "admin@acme.example", "--region", "GB", "--timezone", "Europe/London"}
	if err := run(context.Background(), args, env, &out, &errOut); err != nil {
		t.Fatalf("tenant create: %v\n%s", err, errOut.String())
	}
	var got struct {
		TenantID    string `json:"tenant_id"`
		AdminUserID string `json:"admin_user_id"`
		APIKey      string `json:"api_key"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("stdout %q is not the JSON object: %v", out.String(), err)
	}
	if got.TenantID == "" || got.AdminUserID == "" || !strings.HasPrefix(got.APIKey, "dsk_") {
		t.Fatalf("got %+v, want tenant id, admin id and a dsk_ key", got)
	}
}

func TestTenantCreate_RejectsBadInput(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDSN(t)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"missing name", []string{"tenant", "create", "--admin-email", "a@b.example"}, "--name"},
		{"bad email", []string{"tenant", "create", "--name", "X", "--admin-email", "nope"}, "email"},
		{"bad time zone", []string{"tenant", "create", "--name", "X", "--admin-email", "a@b.example", "--timezone", "Mars/Base"}, "time zone"},
		{"bad region", []string{"tenant", "create", "--name", "X", "--admin-email", "a@b.example", "--region", "ZZ"}, "region"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := run(context.Background(), tc.args, envFrom(map[string]string{"DATABASE_URL": dsn}), &bytes.Buffer{}, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

func TestServe_RefusesToStartWithoutDatabaseURL(t *testing.T) {
	t.Parallel()
	err := run(context.Background(), []string{"serve"}, envFrom(nil), &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Fatalf("got %v, want an error naming DATABASE_URL", err)
	}
}
