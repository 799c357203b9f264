package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"directsms/directory"
	"directsms/gateway"
	"directsms/internal/fakecarrier"
	"directsms/numbers"
	"directsms/routing"
	"directsms/sql/pg"
	"directsms/sql/pgtest"
)

// The outbound benchmarks: the API accepting texts, and the outbox handing them to a fake
// carrier on loopback. Each reports texts per second. Run them with
//
//	go test ./gateway/ -run '^$' -bench 'Outbound' -benchtime 10000x

// benchTexting is a tenant with agents who each own a direct number at a running fake carrier,
// served by the real router; it is built with the stores, not the API, because benchmarks have
// no *testing.T for the env helpers.
type benchTexting struct {
	dsn     string
	db      *sqlx.DB
	srv     *httptest.Server
	client  *http.Client
	fake    *fakecarrier.Fake
	nums    *numbers.Store
	carrier *gateway.Carriers
	keys    []string // one per agent
	from    []string // the agent's number, by the same index
}

func newBenchTexting(b *testing.B, agents int) *benchTexting {
	b.Helper()
	ctx := context.Background()
	dsn := pgtest.NewDSN(b)
	db, err := pg.Open(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(64)
	db.SetMaxIdleConns(64)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := directory.NewStore(db, nil)
	nums := numbers.NewStore(db, numbers.Config{Verifier: gateway.NewCarrierVerifier(true, log), AllowPrivateURLs: true})
	srv := httptest.NewUnstartedServer(nil)
	publicURL := "http://" + srv.Listener.Addr().String()
	srv.Config.Handler = gateway.New(gateway.Config{PublicURL: publicURL}, gateway.Deps{
		DB: db, Directory: dir, Numbers: nums, Outbound: routing.NewOutbound(db, routing.OutboundConfig{Logger: log}), Logger: log,
	})
	srv.Start()
	b.Cleanup(srv.Close)

	fake := fakecarrier.New()
	sid, token := "AC"+hexID(16), "tw-"+hexID(8)
	fake.AddTwilioAccount(sid, token)
	fakeSrv, err := fake.Start()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { fakeSrv.Close() })

	tenant, err := dir.CreateTenant(ctx, directory.NewTenant{Name: "Bench", AdminEmail: "admin@bench.example"})
	if err != nil {
		b.Fatal(err)
	}
	admin := directory.Principal{TenantID: tenant.TenantID, UserID: tenant.AdminUserID, Role: directory.RoleAdmin}
	acct, err := nums.CreateAccount(ctx, tenant.TenantID, numbers.NewAccount{Provider: numbers.ProviderTwilio, AccountSID: sid, AuthToken: token, BaseURL: fakeSrv.URL()})
	if err != nil {
		b.Fatal(err)
	}
	team, err := dir.CreateTeam(ctx, admin, directory.NewTeam{Name: "Agents"})
	if err != nil {
		b.Fatal(err)
	}
	bt := &benchTexting{dsn: dsn, db: db, srv: srv, fake: fake, nums: nums, carrier: gateway.NewCarriers(publicURL, true),
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}}
	for i := range agents {
		user, err := dir.CreateUser(ctx, admin, directory.NewUser{Name: fmt.Sprintf("Agent %d", i), Email: fmt.Sprintf("agent%d@bench.example", i),
			Role: directory.RoleAgent, TeamIDs: []string{team.ID}, Status: directory.StatusAvailable})
		if err != nil {
			b.Fatal(err)
		}
		n := fmt.Sprintf("+1415867%04d", i)
		fake.AddTwilioAccount(sid, token, n)
		if _, err := nums.CreateNumber(ctx, tenant.TenantID, numbers.NewNumber{Number: n, Direct: true, CarrierAccountID: acct.ID}); err != nil {
			b.Fatal(err)
		}
		if _, err := nums.Verify(ctx, tenant.TenantID, n); err != nil {
			b.Fatal(err)
		}
		if _, err := nums.AssignToUser(ctx, tenant.TenantID, user.ID, n); err != nil {
			b.Fatal(err)
		}
		key, err := dir.CreateAPIKey(ctx, tenant.TenantID, user.ID, "bench")
		if err != nil {
			b.Fatal(err)
		}
		bt.keys, bt.from = append(bt.keys, key.Key), append(bt.from, n)
	}
	return bt
}

// analyze gives the planner the statistics of the tables the warm-up filled, as autovacuum does
// within a minute of a real server's start. Without it, every plan cached while the tables were
// empty (sequential scans, in the function's statements and in the foreign-key checks) stays in
// use for the whole run and the cost of a text grows with the tables.
func (bt *benchTexting) analyze(b *testing.B) {
	b.Helper()
	if _, err := bt.db.Exec(`ANALYZE`); err != nil {
		b.Fatal(err)
	}
}

// post sends one text as agent i to a contact no one texted before: the heaviest path, which
// creates the contact and opens a session.
func (bt *benchTexting) post(i int, seq int64) error {
	body := fmt.Sprintf(`{"to": "+1312%03d%04d", "body": "Your order %d is ready for pickup."}`, 200+(seq/10000)%800, seq%10000, seq)
	req, err := http.NewRequest(http.MethodPost, bt.srv.URL+"/v1/messages", bytes.NewReader([]byte(body)))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+bt.keys[i])
	req.Header.Set("Content-Type", "application/json")
	res, err := bt.client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	io.Copy(io.Discard, res.Body) //nolint:errcheck // only the status matters
	if res.StatusCode != http.StatusAccepted {
		return fmt.Errorf("got %s, want 202", res.Status)
	}
	return nil
}

// BenchmarkOutboundAccept posts texts from 256 clients at once; the figures are texts accepted
// (committed to the outbox) per second, and the CPU each text cost this process (server and
// clients) and the database.
func BenchmarkOutboundAccept(b *testing.B) {
	bt := newBenchTexting(b, 20)
	var seq atomic.Int64
	// Warm up: every connection of the pool opened, every plan cached, as in a server that has
	// been running.
	var warm sync.WaitGroup
	for c := range 64 {
		warm.Add(1)
		go func() {
			defer warm.Done()
			for range 20 {
				n := seq.Add(1)
				if err := bt.post(c%len(bt.keys), n); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	warm.Wait()
	bt.analyze(b)
	b.SetParallelism(128) // × GOMAXPROCS clients
	cpu := bt.startCPU(b)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := seq.Add(1)
			if err := bt.post(int(n)%len(bt.keys), n); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "texts/s")
	cpu.report(b, b.N)
}

// BenchmarkOutboundSend queues b.N texts, then runs two outbox workers, in two pools as two
// processes would, each with two loops as Run has; the figure is texts the fake carrier
// accepted per second.
func BenchmarkOutboundSend(b *testing.B) {
	bt := newBenchTexting(b, 20)
	// Sessions to queue into: one per agent, opened through the API.
	for i := range bt.keys {
		if err := bt.post(i, int64(i)); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := bt.db.Exec(`INSERT INTO messages (tenant_id, session_id, direction, from_address, to_address, body, sender_user_id, status, created_at, status_changed_at)
		SELECT s.tenant_id, s.id, 'out', s.number, c.address, 'Your order ' || i || ' is ready for pickup.', s.assignee_id, 'queued', now(), now()
		FROM generate_series(1, $1) AS i
		JOIN LATERAL (SELECT id, tenant_id, number, assignee_id, contact_id FROM sessions ORDER BY id OFFSET i % $2 LIMIT 1) s ON true
		JOIN contacts c ON c.id = s.contact_id`, b.N, len(bt.keys)); err != nil {
		b.Fatal(err)
	}
	bt.analyze(b)
	other, err := pg.Open(context.Background(), bt.dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer other.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	workers := []*routing.Worker{
		routing.NewWorker(bt.db, bt.carrier, bt.nums, routing.WorkerConfig{Logger: log}),
		routing.NewWorker(other, bt.carrier, bt.nums, routing.WorkerConfig{Logger: log}),
	}
	total := b.N + len(bt.keys)
	cpu := bt.startCPU(b)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for _, w := range workers {
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for bt.fake.SentCount() < total {
					if _, err := w.RunOnce(context.Background(), time.Now()); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	b.ReportMetric(float64(total)/time.Since(start).Seconds(), "texts/s")
	cpu.report(b, total)
}

// cpuMeter measures the CPU time this process and the benchmark database's server processes
// spend, so a run on a shared machine still tells what a text costs: throughput there depends
// on what else runs, the cost per text does not.
type cpuMeter struct {
	bt       *benchTexting
	self     time.Duration
	backends map[int]time.Duration
}

func (bt *benchTexting) startCPU(b *testing.B) *cpuMeter {
	b.Helper()
	return &cpuMeter{bt: bt, self: selfCPU(), backends: bt.backendCPU(b)}
}

// report adds microseconds of CPU per text: in this process (the server, and the clients or
// the fake carrier, which a deployment does not carry), and in PostgreSQL. Server processes
// that could not be read leave the second out.
func (m *cpuMeter) report(b *testing.B, texts int) {
	b.Helper()
	self := selfCPU() - m.self
	b.ReportMetric(float64(self.Microseconds())/float64(texts), "go-cpu-µs/text")
	end := m.bt.backendCPU(b)
	if len(end) == 0 {
		return
	}
	var db time.Duration
	for pid, t := range end {
		db += t - m.backends[pid]
	}
	b.ReportMetric(float64(db.Microseconds())/float64(texts), "pg-cpu-µs/text")
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// backendCPU reads the CPU time of the server processes connected to the benchmark's
// database from /proc (Linux, server on this machine).
func (bt *benchTexting) backendCPU(b *testing.B) map[int]time.Duration {
	b.Helper()
	var pids []int
	if err := bt.db.Select(&pids, `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`); err != nil {
		b.Fatal(err)
	}
	out := map[int]time.Duration{}
	for _, pid := range pids {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// Fields after the parenthesised command: utime and stime are the 12th and 13th.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) < 13 {
			continue
		}
		utime, _ := strconv.ParseInt(fields[11], 10, 64)
		stime, _ := strconv.ParseInt(fields[12], 10, 64)
		out[pid] = time.Duration(utime+stime) * time.Second / clockTicks
	}
	return out
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times: 100 on every Linux platform Go
// supports.
const clockTicks = 100
