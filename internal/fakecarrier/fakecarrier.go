// Package fakecarrier is a local stand-in for the parts of Twilio's and
// Telnyx's REST APIs that directsms uses, for tests and for `directsms dev`.
//
// A [Fake] knows the accounts and numbers registered on it, checks
// credentials as the carriers do (HTTP Basic for Twilio, a Bearer key for
// Telnyx), records every accepted send, fails sends on demand
// ([Fake.FailNext]), and posts signed status callbacks back, automatically
// ([WithAutoCallbacks]) or one at a time ([Fake.PostTwilioStatus],
// [Fake.PostTelnyxEvent]). It also builds signed inbound webhooks
// ([TwilioInbound], [Fake.TelnyxInbound]) so tests and load tools sign exactly
// as the carriers do.
//
// Point a carrier client's BaseURL at [Server.URL] (or serve [Fake.Handler]
// from any server); the same URL serves both carriers, whose paths do not
// overlap.
//
// It signs with gateway/twilio and gateway/telnyx, whose own tests pin both
// schemes independently of this package (Twilio's published test vector,
// Ed25519 over timestamp|body). It imports nothing else of directsms; only
// tests and the dev command may import it, never a production path.
package fakecarrier

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf16"
)

// Provider names a carrier.
type Provider string

// The carriers the fake imitates.
const (
	Twilio Provider = "twilio"
	Telnyx Provider = "telnyx"
)

// SentMessage is one send the fake accepted.
type SentMessage struct {
	Provider Provider
	// AccountSID is the Twilio account SID, or for Telnyx the API key that
	// authenticated the send (Telnyx accounts have no other id on the wire).
	AccountSID string
	// ID is the Twilio message SID or the Telnyx message id.
	ID   string
	From string
	To   string
	Body string
	// StatusCallback is Twilio's StatusCallback or Telnyx's webhook_url.
	StatusCallback string
}

// Option configures a Fake.
type Option func(*Fake)

// WithAutoCallbacks makes the fake post status callbacks for every send that
// has a callback URL: "sent" and then "delivered" (Twilio), message.sent and
// then message.finalized (Telnyx), each after delay. They run in the
// background; [Fake.Wait] waits for them. As with the real carriers, a
// callback can arrive before the sender has read the send's answer; a delay
// of a few hundred milliseconds makes that rare in demos.
func WithAutoCallbacks(delay time.Duration) Option {
	return func(f *Fake) { f.autoCallbacks, f.callbackDelay = true, delay }
}

// WithHTTPClient sets the client used to post callbacks; the default has a
// 10-second timeout.
func WithHTTPClient(c *http.Client) Option {
	return func(f *Fake) { f.client = c }
}

// WithClock sets the clock used for Telnyx webhook timestamps and for dates in
// responses, so tests can pin them.
func WithClock(now func() time.Time) Option {
	return func(f *Fake) { f.now = now }
}

// WithTelnyxKey sets the Ed25519 key the fake signs Telnyx webhooks with.
// Without it each Fake makes a new key, which a dev database seeded with the
// previous run's public key would refuse.
func WithTelnyxKey(priv ed25519.PrivateKey) Option {
	return func(f *Fake) { f.telnyxKey = priv }
}

// WithLogger sets where failed automatic callbacks are reported; the default
// discards them. Bodies and secrets are never logged.
func WithLogger(l *slog.Logger) Option {
	return func(f *Fake) { f.log = l }
}

// maxRequestBytes bounds request bodies, as the carriers do.
const maxRequestBytes = 64 << 10

// Fake is a fake Twilio and Telnyx. It is safe for concurrent use.
type Fake struct {
	autoCallbacks bool
	callbackDelay time.Duration
	client        *http.Client
	now           func() time.Time
	telnyxKey     ed25519.PrivateKey
	log           *slog.Logger
	mux           *http.ServeMux

	// stop cancels automatic callbacks when the fake is closed; pending
	// counts them for Wait.
	stop    context.Context
	cancel  context.CancelFunc
	pending sync.WaitGroup

	mu             sync.Mutex
	twilioAccounts map[string]*twilioAccount // by SID
	telnyxAccounts map[string]*telnyxAccount // by API key
	sent           []SentMessage
	failures       []failure
}

type twilioAccount struct {
	token   string
	numbers []string
}

type telnyxAccount struct {
	numbers []string
}

// failure is a scripted answer to the next remaining sends of provider, or of
// any provider when provider is empty.
type failure struct {
	provider   Provider
	remaining  int
	httpStatus int
	code       int
}

// New returns a Fake with no accounts.
func New(opts ...Option) *Fake {
	f := &Fake{
		client:         &http.Client{Timeout: 10 * time.Second},
		now:            time.Now,
		log:            slog.New(slog.DiscardHandler),
		twilioAccounts: map[string]*twilioAccount{},
		telnyxAccounts: map[string]*telnyxAccount{},
	}
	for _, opt := range opts {
		opt(f)
	}
	if f.telnyxKey == nil {
		_, f.telnyxKey, _ = ed25519.GenerateKey(rand.Reader)
	}
	f.stop, f.cancel = context.WithCancel(context.Background())
	f.mux = http.NewServeMux()
	f.mux.HandleFunc("POST /2010-04-01/Accounts/{sid}/Messages.json", f.twilioSend)
	f.mux.HandleFunc("GET /2010-04-01/Accounts/{sid}/IncomingPhoneNumbers.json", f.twilioNumbers)
	f.mux.HandleFunc("POST /v2/messages", f.telnyxSend)
	f.mux.HandleFunc("GET /v2/phone_numbers", f.telnyxNumbers)
	return f
}

// AddTwilioAccount registers a Twilio account and the numbers it owns. Called
// again for the same SID, it replaces the token and adds the numbers.
func (f *Fake) AddTwilioAccount(sid, token string, numbers ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	acct := f.twilioAccounts[sid]
	if acct == nil {
		acct = &twilioAccount{}
		f.twilioAccounts[sid] = acct
	}
	acct.token = token
	acct.numbers = append(acct.numbers, numbers...)
}

// AddTelnyxAccount registers a Telnyx API key and the numbers its account
// owns. Called again for the same key, it adds the numbers.
func (f *Fake) AddTelnyxAccount(apiKey string, numbers ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	acct := f.telnyxAccounts[apiKey]
	if acct == nil {
		acct = &telnyxAccount{}
		f.telnyxAccounts[apiKey] = acct
	}
	acct.numbers = append(acct.numbers, numbers...)
}

// Handler serves both carriers' APIs:
//
//	POST /2010-04-01/Accounts/{sid}/Messages.json
//	GET  /2010-04-01/Accounts/{sid}/IncomingPhoneNumbers.json?PhoneNumber=
//	POST /v2/messages
//	GET  /v2/phone_numbers?filter[phone_number]=
func (f *Fake) Handler() http.Handler {
	return f.mux
}

// Sent returns a copy of the sends accepted so far, oldest first.
func (f *Fake) Sent() []SentMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.sent)
}

// SentCount returns how many sends were accepted so far.
func (f *Fake) SentCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sent)
}

// FailNext makes the next n sends, to either carrier, fail with httpStatus
// and the carrier error code, after authentication succeeded; later sends
// behave normally. Scripts queue up in the order they were given.
//
// code 0 answers with a body that is not a carrier error, as a proxy in front
// of the carrier would. httpStatus 0 drops the connection without an answer,
// as a network failure would.
func (f *Fake) FailNext(n, httpStatus, code int) {
	f.FailNextFor("", n, httpStatus, code)
}

// FailNextFor is FailNext for one carrier's sends only; for example
// FailNextFor(Twilio, 1, 400, 21610) for an unsubscribed recipient, or
// FailNextFor(Telnyx, 1, 409, 40300) for one who replied STOP.
func (f *Fake) FailNextFor(p Provider, n, httpStatus, code int) {
	if n <= 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures = append(f.failures, failure{provider: p, remaining: n, httpStatus: httpStatus, code: code})
}

// takeFailure consumes one scripted failure for p, if any is queued.
func (f *Fake) takeFailure(p Provider) (failure, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.failures {
		fl := &f.failures[i]
		if fl.provider != "" && fl.provider != p {
			continue
		}
		got := *fl
		if fl.remaining--; fl.remaining == 0 {
			f.failures = slices.Delete(f.failures, i, i+1)
		}
		return got, true
	}
	return failure{}, false
}

// dropConnection answers a scripted failure with httpStatus 0: the client sees
// the connection close with no response.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// HTTP/2 cannot be hijacked; an aborted handler resets the stream.
		panic(http.ErrAbortHandler)
	}
	conn.Close()
}

// record stores an accepted send and starts its automatic callbacks.
func (f *Fake) record(m SentMessage) {
	f.mu.Lock()
	f.sent = append(f.sent, m)
	f.mu.Unlock()
	if !f.autoCallbacks || m.StatusCallback == "" {
		return
	}
	f.pending.Add(1)
	go func() {
		defer f.pending.Done()
		f.runCallbacks(m)
	}()
}

// runCallbacks posts the automatic status updates of one message in order.
func (f *Fake) runCallbacks(m SentMessage) {
	type step struct{ status, eventType string }
	steps := []step{{"sent", ""}, {"delivered", ""}}
	if m.Provider == Telnyx {
		steps = []step{{"sent", "message.sent"}, {"delivered", "message.finalized"}}
	}
	for _, s := range steps {
		timer := time.NewTimer(f.callbackDelay)
		select {
		case <-f.stop.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		var err error
		if m.Provider == Twilio {
			err = f.PostTwilioStatus(f.stop, m.ID, s.status, "")
		} else {
			err = f.PostTelnyxEvent(f.stop, m.ID, s.eventType, s.status, "")
		}
		if err != nil {
			f.log.Warn("fake carrier callback failed", "provider", string(m.Provider), "message_id", m.ID, "status", s.status, "error", err)
		}
	}
}

// Wait blocks until the automatic callbacks of every send accepted so far
// have been posted (or have failed).
func (f *Fake) Wait() {
	f.pending.Wait()
}

// Close stops automatic callbacks that have not been posted yet and waits for
// those in flight. The fake still answers API calls afterwards.
func (f *Fake) Close() {
	f.cancel()
	f.pending.Wait()
}

// findSent returns the recorded send of provider p with id.
func (f *Fake) findSent(p Provider, id string) (SentMessage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range f.sent {
		if m.Provider == p && m.ID == id {
			return m, nil
		}
	}
	return SentMessage{}, fmt.Errorf("fakecarrier: no %s message %q was sent", p, id)
}

// post sends a callback and wants a 2xx answer.
func (f *Fake) post(ctx context.Context, target, contentType string, body []byte, header http.Header) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("fakecarrier: callback to %s: %w", target, err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := f.client.Do(req)
	if err != nil {
		return fmt.Errorf("fakecarrier: callback: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return fmt.Errorf("fakecarrier: callback to %s answered %s", target, resp.Status)
	}
	return nil
}

// randomHex returns n random bytes as hex.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// newUUID returns a random (version 4) UUID, the shape of Telnyx ids.
func newUUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// segments estimates how many parts a carrier splits body into: the GSM-7
// limits (160, then 153 per part) for ASCII text, the UCS-2 ones (70, then 67
// UTF-16 units) otherwise. The fake needs only a plausible number; directsms
// counts segments itself.
func segments(body string) (n int, encoding string) {
	units, single, multi, encoding := len(body), 160, 153, "GSM-7"
	for _, r := range body {
		if r >= 0x80 {
			units, single, multi, encoding = len(utf16.Encode([]rune(body))), 70, 67, "UCS-2"
			break
		}
	}
	if units <= single {
		return 1, encoding
	}
	return (units + multi - 1) / multi, encoding
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func isE164(s string) bool {
	return len(s) >= 8 && len(s) <= 16 && s[0] == '+' && s[1] != '0' && digits(s[1:]) == s[1:]
}

func isShortCode(s string) bool {
	return len(s) >= 3 && len(s) <= 8 && digits(s) == s
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// digits returns the ASCII digits of s.
func digits(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if '0' <= c && c <= '9' {
			b.WriteByte(c)
		}
	}
	return b.String()
}
