package loadgen

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"

	"directsms/gateway/twilio"
)

// WebhookPath is the Twilio inbound path the load posts to.
const WebhookPath = "/webhooks/twilio/messages"

// Config is one load run.
type Config struct {
	// URL is where the server listens, such as http://127.0.0.1:8080.
	URL string
	// PublicURL is the base URL the server signs against (its PUBLIC_URL); URL when empty.
	PublicURL   string
	Duration    time.Duration
	Connections int
	// Contacts is how many different senders the texts come from; 10,000 when zero.
	Contacts int
	// Timeout bounds each request; 10 s when zero.
	Timeout time.Duration
	// AgentsOnline keeps an event stream (GET /v1/events) open for each bench agent during the
	// run, as their browsers would: offers reach a client, and the agents stay available.
	AgentsOnline bool
}

// Report is what a run measured and what the database holds afterwards.
type Report struct {
	Requests     int
	Acknowledged int
	Errors       int
	// ErrorKinds counts the errors by kind ("status 500", a transport error).
	ErrorKinds map[string]int
	Elapsed    time.Duration
	P50        time.Duration
	P95        time.Duration
	P99        time.Duration
	Max        time.Duration
	// Stored is how many of the run's texts the database holds, Duplicates how many of those
	// are a second copy of one id, Missing how many acknowledged ids it lacks.
	Stored     int
	Duplicates int
	Missing    int
	// Agents is how many agents' event streams were open, Streamed how many events they got,
	// Reconnects how often a stream the server ended was opened again.
	Agents     int
	Streamed   int64
	Reconnects int64
}

// RPS is acknowledged texts per second.
func (r Report) RPS() float64 { return float64(r.Acknowledged) / r.Elapsed.Seconds() }

// OK reports whether the run had no errors and stored every acknowledged text exactly once.
func (r Report) OK() bool { return r.Errors == 0 && r.Duplicates == 0 && r.Missing == 0 }

// Print writes the report for people.
func (r Report) Print(w io.Writer) {
	fmt.Fprintf(w, "requests      %d in %s\n", r.Requests, r.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "acknowledged  %d (%.0f/s)\n", r.Acknowledged, r.RPS())
	fmt.Fprintf(w, "latency       p50 %s  p95 %s  p99 %s  max %s\n", ms(r.P50), ms(r.P95), ms(r.P99), ms(r.Max))
	fmt.Fprintf(w, "errors        %d\n", r.Errors)
	kinds := make([]string, 0, len(r.ErrorKinds))
	for k := range r.ErrorKinds {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	for _, k := range kinds {
		fmt.Fprintf(w, "  %6d  %s\n", r.ErrorKinds[k], k)
	}
	fmt.Fprintf(w, "stored        %d of the run's texts; %d duplicated, %d acknowledged but missing\n", r.Stored, r.Duplicates, r.Missing)
	if r.Agents > 0 {
		fmt.Fprintf(w, "streamed      %d events to %d agents' event streams (%d reconnects)\n", r.Streamed, r.Agents, r.Reconnects)
	}
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + "ms"
}

// bodies are the texts the load sends, ordinary ones: consent keywords are not the hot path.
var bodies = []string{
	"Hi, is anyone there? My order #4471 hasn't arrived.",
	"Can I move my appointment to Thursday afternoon?",
	"Thanks, that worked!",
	"What time do you open tomorrow?",
	"Je voudrais parler à quelqu'un, s'il vous plaît.",
	"ok",
}

// areaCodes are US area codes whose 555 numbers phonenumbers accepts as valid: the senders are
// +1 AAA 555 NNNN.
var areaCodes = []int{212, 213, 310, 312, 404, 415, 617, 646, 718, 917}

type worker struct {
	latencies []time.Duration
	acked     []string
	errors    map[string]int
}

// Run posts signed texts from cfg.Connections connections for cfg.Duration, then checks the
// database: every acknowledged text must be stored exactly once.
func Run(ctx context.Context, db *sqlx.DB, cfg Config, t Target) (Report, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" || u.Scheme != "http" {
		return Report{}, fmt.Errorf("url %q must be http://host:port", cfg.URL)
	}
	addr := u.Host
	if u.Port() == "" {
		addr += ":80"
	}
	if cfg.PublicURL == "" {
		cfg.PublicURL = strings.TrimRight(cfg.URL, "/")
	}
	if cfg.Contacts <= 0 {
		cfg.Contacts = 10000
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	signURL := strings.TrimRight(cfg.PublicURL, "/") + WebhookPath
	contacts := make([]string, min(cfg.Contacts, len(areaCodes)*10000))
	for i := range contacts {
		contacts[i] = fmt.Sprintf("+1%d555%04d", areaCodes[i/10000], i%10000)
	}
	var streams *agentStreams
	if cfg.AgentsOnline {
		if streams, err = openAgentStreams(ctx, db, cfg.URL, t); err != nil {
			return Report{}, err
		}
	}
	runID := randomHex(4)
	var seq atomic.Uint64
	workers := make([]*worker, cfg.Connections)
	deadline := time.Now().Add(cfg.Duration)
	runCtx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	var wg sync.WaitGroup
	start := time.Now()
	for i := range workers {
		w := &worker{errors: map[string]int{}}
		workers[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newConn(addr, u.Host, cfg.Timeout)
			defer c.close()
			rng := rand.New(rand.NewPCG(uint64(i), seq.Load()))
			for runCtx.Err() == nil {
				n := seq.Add(1)
				sid := fmt.Sprintf("SM%s%024x", runID, n)
				form := url.Values{
					"MessageSid": {sid}, "SmsMessageSid": {sid}, "SmsSid": {sid}, "AccountSid": {t.AccountSID},
					"From": {contacts[rng.IntN(len(contacts))]}, "To": {t.Numbers[int(n)%len(t.Numbers)]},
					"Body": {bodies[rng.IntN(len(bodies))]}, "NumMedia": {"0"}, "NumSegments": {"1"},
					"SmsStatus": {"received"}, "ApiVersion": {"2010-04-01"}, "FromCountry": {"US"}, "ToCountry": {"US"},
				}
				sig := twilio.Signature(t.AuthToken, signURL, form)
				began := time.Now()
				status, body, err := c.post(WebhookPath, "application/x-www-form-urlencoded",
					[][2]string{{twilio.SignatureHeader, sig}}, []byte(form.Encode()))
				elapsed := time.Since(began)
				switch {
				case err != nil:
					w.errors[err.Error()]++
				case status != 200 || string(body) != twilio.ResponseXML:
					w.errors["status "+strconv.Itoa(status)+": "+firstLine(body)]++
				default:
					w.latencies = append(w.latencies, elapsed)
					w.acked = append(w.acked, sid)
				}
			}
		}()
	}
	wg.Wait()
	rep := Report{Elapsed: time.Since(start), ErrorKinds: map[string]int{}}
	if streams != nil {
		if err := streams.close(); err != nil {
			return rep, err
		}
		rep.Agents, rep.Streamed, rep.Reconnects = len(t.Agents), streams.events.Load(), streams.reconnects.Load()
	}
	var all []time.Duration
	acked := map[string]bool{}
	for _, w := range workers {
		all = append(all, w.latencies...)
		for _, sid := range w.acked {
			acked[sid] = true
		}
		for k, n := range w.errors {
			rep.ErrorKinds[k] += n
			rep.Errors += n
		}
	}
	rep.Acknowledged = len(all)
	rep.Requests = rep.Acknowledged + rep.Errors
	if len(all) > 0 {
		slices.Sort(all)
		pct := func(p float64) time.Duration { return all[min(len(all)-1, int(p*float64(len(all))))] }
		rep.P50, rep.P95, rep.P99, rep.Max = pct(0.50), pct(0.95), pct(0.99), all[len(all)-1]
	}
	if err := check(ctx, db, runID, acked, &rep); err != nil {
		return rep, err
	}
	return rep, nil
}

const sqlRunMessages = `SELECT carrier_message_id FROM messages WHERE provider = 'twilio' AND direction = 'in' AND carrier_message_id LIKE $1
	UNION ALL
	SELECT carrier_message_id FROM unrouted_messages WHERE provider = 'twilio' AND carrier_message_id LIKE $1`

// check counts the run's texts in the database against the acknowledged ids.
func check(ctx context.Context, db *sqlx.DB, runID string, acked map[string]bool, rep *Report) error {
	var ids []string
	if err := db.SelectContext(ctx, &ids, sqlRunMessages, "SM"+runID+"%"); err != nil {
		return fmt.Errorf("read the run's messages: %w", err)
	}
	seen := make(map[string]int, len(ids))
	for _, id := range ids {
		seen[id]++
		if seen[id] == 2 {
			rep.Duplicates++
		}
	}
	rep.Stored = len(seen)
	for id := range acked {
		if seen[id] == 0 {
			rep.Missing++
		}
	}
	return nil
}

func firstLine(b []byte) string {
	s := string(b)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}
