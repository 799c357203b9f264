package gateway_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"directsms/directory"
	"directsms/gateway"
	"directsms/numbers"
	"directsms/sql/pgtest"
)

var update = flag.Bool("update", false, "rewrite golden files")

// postCSV sends body as text/csv to path, asking for accept ("" for JSON).
func postCSV(t testing.TB, client *http.Client, url, key, body, accept string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "text/csv")
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return response{Status: res.StatusCode, Header: res.Header, Body: b}
}

func (e *env) bulk(query, body, accept string) response {
	e.t.Helper()
	return postCSV(e.t, e.srv.Client(), e.srv.URL+"/v1/bulk/direct-numbers"+query, e.adminKey, body, accept)
}

// bulkFixture is the tenant the mixed file is written for: alice, bob, carol and a deactivated
// dave; numbers 0501-0511 in every state (bob owns 0506 and 0511); 0600 in another tenant. The
// limit is 2.
func bulkFixture(t *testing.T) (*env, map[string]string) {
	t.Helper()
	e := newEnv(t)
	mustExec(t, e.db, `UPDATE tenants SET max_direct_numbers_per_agent = 2 WHERE id = $1`, e.tenantID)
	users := map[string]string{}
	for _, name := range []string{"Alice", "Bob", "Carol", "Dave"} {
		users[strings.ToLower(name)] = e.newUser(name, "agent")
	}
	e.deactivate(users["dave"])
	c := e.startCarrier(num(501), num(502), num(503), num(504), num(506), num(507), num(509), num(511))
	for _, n := range []int{501, 502, 503, 506, 507, 509, 511} {
		e.addVerified(c, num(n), true)
	}
	e.addVerified(c, num(504), false)
	e.addNumber(c, num(505), true)
	expect(t, e.assignAgent(users["bob"], num(506)), http.StatusOK, "")
	expect(t, e.assignAgent(users["bob"], num(511)), http.StatusOK, "")
	expect(t, e.assignQueue(e.newQueue("Sales", "sms", ""), num(507)), http.StatusOK, "")

	other := newEnv(t)
	theirs := other.startCarrier()
	other.addNumber(theirs, num(600), true)
	return e, users
}

func TestBulk_MixedFileAppliesTheGoodCellsAndLogsTheRest(t *testing.T) {
	t.Parallel()
	e, users := bulkFixture(t)
	file, err := os.ReadFile(filepath.Join("testdata", "bulk_mixed.csv"))
	if err != nil {
		t.Fatalf("read file: %v", err)
	}
	r := e.bulk("", string(file), "")
	expect(t, r, http.StatusOK, "")
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, r.Body, "", "  "); err != nil {
		t.Fatalf("indent: %v", err)
	}
	golden := filepath.Join("testdata", "bulk_mixed.golden.json")
	if *update {
		if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
			t.Fatalf("write golden: %v", err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("read golden (run with -update to create it): %v", err)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Fatalf("got\n%s\nwant\n%s", pretty.Bytes(), want)
	}

	wantOwners := map[string]string{
		num(501): users["alice"], num(502): users["alice"], num(503): "", num(504): "", num(505): "",
		num(506): users["bob"], num(507): "", num(509): users["carol"], num(511): users["bob"],
	}
	for n, want := range wantOwners {
		if got, _, _ := e.owner(n); got != want {
			t.Errorf("got owner %q of %s, want %q", got, n, want)
		}
	}
	var personal int
	if err := e.db.Get(&personal, `SELECT count(*) FROM queues WHERE personal_user_id = ANY(ARRAY[$1, $2]::uuid[])`, users["alice"], users["carol"]); err != nil || personal != 2 {
		t.Fatalf("got %d personal queues (%v), want alice's and carol's", personal, err)
	}
}

func TestBulk_TheSameFileTwiceChangesNothing(t *testing.T) {
	t.Parallel()
	e, _ := bulkFixture(t)
	file := "email,direct_number,direct_number\nalice@acme.example,+14158670501,+14158670502\ncarol@acme.example,,(415) 867-0509\n"
	first := e.bulk("", file, "").JSON(t)
	if first["applied"] != 3.0 || first["unchanged"] != 0.0 || first["failed"] != 0.0 {
		t.Fatalf("first run: got %v, want 3 applied", first)
	}
	var updatedAt string
	if err := e.db.Get(&updatedAt, `SELECT max(updated_at)::text FROM numbers`); err != nil {
		t.Fatalf("read updated_at: %v", err)
	}
	second := e.bulk("", file, "").JSON(t)
	if second["applied"] != 0.0 || second["unchanged"] != 3.0 || second["failed"] != 0.0 || second["rows"] != 2.0 {
		t.Fatalf("second run: got %v, want 3 unchanged and nothing applied", second)
	}
	var after string
	if err := e.db.Get(&after, `SELECT max(updated_at)::text FROM numbers`); err != nil || after != updatedAt {
		t.Fatalf("got updated_at %s after %s (%v), want no write", after, updatedAt, err)
	}
}

func TestBulk_DryRunValidatesWithoutWriting(t *testing.T) {
	t.Parallel()
	e, _ := bulkFixture(t)
	file := "email,direct_number\nalice@acme.example,+14158670501\nalice@acme.example,+14158670504\n"
	got := e.bulk("?dry_run=true", file, "").JSON(t)
	if got["applied"] != 1.0 || got["failed"] != 1.0 || got["dry_run"] != true {
		t.Fatalf("got %v, want 1 that would apply and 1 failure", got)
	}
	if owner, _, _ := e.owner(num(501)); owner != "" {
		t.Fatalf("got owner %s after a dry run, want none", owner)
	}
	expect(t, e.bulk("?dry_run=perhaps", file, ""), http.StatusUnprocessableEntity, "invalid_dry_run")
}

func TestBulk_ErrorLogAsCSV(t *testing.T) {
	t.Parallel()
	e, _ := bulkFixture(t)
	file := "email,direct_number\nalice@acme.example,\"415 867 0504\"\nnobody@acme.example,+14158670501\n"
	r := e.bulk("", file, "text/csv")
	expect(t, r, http.StatusOK, "")
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Fatalf("got Content-Type %q, want text/csv", ct)
	}
	rows, err := csv.NewReader(bytes.NewReader(r.Body)).ReadAll()
	if err != nil {
		t.Fatalf("read error log: %v", err)
	}
	want := [][]string{
		{"row", "column", "value", "code", "message"},
		{"2", "2", "415 867 0504", "number_not_direct", "+14158670504: only direct numbers can be assigned to an agent"},
		{"3", "1", "nobody@acme.example", "user_not_found", "no active user has the email nobody@acme.example"},
	}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Fatalf("got %q, want %q", rows, want)
	}
	if r.Header.Get("X-Bulk-Rows") != "2" || r.Header.Get("X-Bulk-Failed") != "2" || r.Header.Get("X-Bulk-Applied") != "0" {
		t.Fatalf("got headers %v, want the counts", r.Header)
	}
}

func TestBulk_AFileThatIsNotTheFormatIsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cases := []struct {
		name, body string
		status     int
		code       string
	}{
		{"empty", "", http.StatusUnprocessableEntity, "invalid_csv"},
		{"no number column", "email\nalice@acme.example\n", http.StatusUnprocessableEntity, "invalid_csv"},
		{"wrong first column", "user,direct_number\n", http.StatusUnprocessableEntity, "invalid_csv"},
		{"another column", "email,direct_number,team\n", http.StatusUnprocessableEntity, "invalid_csv"},
		{"unterminated quote", "email,direct_number\nalice@acme.example,\"+1415\n", http.StatusUnprocessableEntity, "invalid_csv"},
		{"header only", "email,direct_number\n", http.StatusOK, ""},
		{"spreadsheet byte-order mark and header case", "\ufeffEmail,Direct Number\n", http.StatusOK, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			expect(t, e.bulk("", tc.body, ""), tc.status, tc.code)
		})
	}
	t.Run("JSON is not a CSV", func(t *testing.T) {
		expect(t, e.do(http.MethodPost, "/v1/bulk/direct-numbers", e.adminKey, map[string]any{"rows": 1}), http.StatusBadRequest, "invalid_request")
	})
	t.Run("over the bulk limit", func(t *testing.T) {
		row := "someone@acme.example," + strings.Repeat(" ", 1000) + "\n" // blank cells: few rows, many bytes
		big := "email,direct_number\n" + strings.Repeat(row, gateway.DefaultMaxBulkBodyBytes/len(row)+10)
		expect(t, e.bulk("", big, ""), http.StatusRequestEntityTooLarge, "body_too_large")
	})
	t.Run("admins only", func(t *testing.T) {
		key := e.keyFor("supervisor")
		r := postCSV(t, e.srv.Client(), e.srv.URL+"/v1/bulk/direct-numbers", key, "email,direct_number\n", "")
		expect(t, r, http.StatusForbidden, "forbidden")
	})
}

func TestBulk_TenThousandRowsFitTheBodyLimit(t *testing.T) {
	t.Parallel()
	b := newBulkBench(t, 10_000)
	r := postCSV(t, b.srv.Client(), b.srv.URL+"/v1/bulk/direct-numbers", b.key, b.file, "")
	expect(t, r, http.StatusOK, "")
	got := r.JSON(t)
	if got["applied"] != 10000.0 || got["failed"] != 0.0 {
		t.Fatalf("got %v, want 10000 applied", map[string]any{"applied": got["applied"], "failed": got["failed"], "rows": got["rows"]})
	}
}

// BenchmarkBulkAssign10k posts a 10,000-row file (one new direct number for each of 10,000
// agents, each getting a personal queue) through the API.
func BenchmarkBulkAssign10k(b *testing.B) {
	bb := newBulkBench(b, 10_000)
	for b.Loop() {
		b.StopTimer()
		for _, q := range []string{
			`UPDATE numbers SET sms_user_id = NULL`,
			`DELETE FROM queues WHERE personal_user_id IS NOT NULL`,
			`VACUUM ANALYZE numbers, queues, queue_members`,
		} {
			if _, err := bb.db.Exec(q); err != nil {
				b.Fatalf("reset: %s: %v", q, err)
			}
		}
		b.StartTimer()
		r := postCSV(b, bb.srv.Client(), bb.srv.URL+"/v1/bulk/direct-numbers", bb.key, bb.file, "")
		if r.Status != http.StatusOK || !bytes.Contains(r.Body, []byte(`"applied":10000`)) {
			b.Fatalf("got %d %.200s, want 10000 applied", r.Status, r.Body)
		}
	}
}

// bulkBench is a server over a tenant with n agents and n verified direct numbers, and the
// file giving one number to each.
type bulkBench struct {
	db   *sqlx.DB
	srv  *httptest.Server
	key  string
	file string
}

func newBulkBench(tb testing.TB, n int) *bulkBench {
	tb.Helper()
	db := pgtest.NewDB(tb)
	dir := directory.NewStore(db, nil)
	api := gateway.New(gateway.Config{PublicURL: "https://sms.example.com"}, gateway.Deps{
		DB: db, Directory: dir, Numbers: numbers.NewStore(db, numbers.Config{}), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	srv := httptest.NewServer(api)
	tb.Cleanup(srv.Close)
	created, err := dir.CreateTenant(context.Background(), directory.NewTenant{Name: "Bulk", AdminEmail: "admin@bulk.example"})
	if err != nil {
		tb.Fatalf("create tenant: %v", err)
	}
	const account = "00000000-0000-0000-0000-00000000b01c"
	seed := []struct {
		query string
		args  []any
	}{
		{`WITH team AS (SELECT id FROM teams WHERE tenant_id = $1),
			u AS (INSERT INTO users (tenant_id, name, email, role, primary_team_id)
				SELECT $1, 'Agent ' || g, 'agent' || g || '@bulk.example', 'agent', team.id FROM generate_series(1, $2) g, team
				RETURNING id, primary_team_id)
			INSERT INTO team_members (tenant_id, team_id, user_id) SELECT $1, primary_team_id, id FROM u`, []any{created.TenantID, n}},
		{`INSERT INTO carrier_accounts (id, tenant_id, provider, account_sid, auth_token, sends_own_opt_out_confirmation, created_at, updated_at)
			VALUES ($2, $1, 'twilio', $3, 'tok', true, now(), now())`, []any{created.TenantID, account, newSID()}},
		{`INSERT INTO numbers (tenant_id, e164, region, direct, status, verified_at, verified_via, carrier_account_id, created_at, updated_at)
			SELECT $1, '+1415867' || lpad(g::text, 4, '0'), 'US', true, 'verified', now(), 'test', $3, now(), now()
			FROM generate_series(0, $2 - 1) g`, []any{created.TenantID, n, account}},
	}
	for _, q := range seed {
		if _, err := db.Exec(q.query, q.args...); err != nil {
			tb.Fatalf("seed: %v", err)
		}
	}
	if _, err := db.Exec(`ANALYZE users, numbers`); err != nil {
		tb.Fatalf("analyze: %v", err)
	}
	var file strings.Builder
	file.WriteString("email,direct_number\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&file, "agent%d@bulk.example,%s\n", i+1, num(i))
	}
	return &bulkBench{db: db, srv: srv, key: created.APIKey, file: file.String()}
}
