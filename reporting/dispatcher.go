package reporting

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"directsms/sql/pg"
)

// SignatureHeader carries "sha256=" and the hex HMAC-SHA256 of the request body, keyed with the
// subscription's secret.
const SignatureHeader = "X-Directsms-Signature"

// Headers that repeat envelope fields, so receivers can route a delivery before parsing it.
const (
	EventTypeHeader = "X-Directsms-Event"
	EventIDHeader   = "X-Directsms-Event-Id"
	AttemptHeader   = "X-Directsms-Delivery-Attempt"
)

// Sign returns the X-Directsms-Signature value of body under secret.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// VerifySignature reports whether header is body's signature under secret, in constant time:
// what a receiver does with each delivery.
func VerifySignature(secret string, body []byte, header string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(header))
}

// DispatcherConfig tunes a Dispatcher; zero fields take the defaults named beside them.
type DispatcherConfig struct {
	// AllowPrivateURLs lets deliveries connect to private and loopback addresses (development
	// only); otherwise the address actually dialled is checked on every connection.
	AllowPrivateURLs bool
	// Timeout bounds one try, from connecting to reading the answer (DefaultDeliveryTimeout).
	Timeout time.Duration
	// BatchSize is how many due deliveries one RunOnce claims (50).
	BatchSize int
	// Concurrency is how many tries of one batch run at once (8), so one slow receiver does not
	// hold up the others.
	Concurrency int
	// MaxAttempts is how many tries a delivery gets before it fails for good (DefaultMaxAttempts).
	MaxAttempts int
	// Backoff is the wait after the attempt-th failed try (DefaultBackoff).
	Backoff func(attempt int) time.Duration
	// PollInterval is how often Run looks for due deliveries when there were none (1s).
	PollInterval time.Duration
	// Retention is how long finished events and their logs are kept (30 days).
	Retention time.Duration
	// Logger receives the errors Run handles.
	Logger *slog.Logger
	// NowFunc is the clock Run passes to RunOnce (time.Now).
	NowFunc func() time.Time
}

// Delivery defaults.
const (
	DefaultDeliveryTimeout = 10 * time.Second
	DefaultMaxAttempts     = 15
)

// DefaultBackoff waits 10 s after the first failed try and doubles each time up to an hour,
// give or take a fifth so that deliveries which failed together spread out: fifteen tries span
// about six and a half hours.
func DefaultBackoff(attempt int) time.Duration {
	d := 10 * time.Second
	for i := 1; i < attempt && d < time.Hour; i++ {
		d *= 2
	}
	d = min(d, time.Hour)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// Dispatcher delivers enqueued events to their subscriptions: signed POSTs, retried with
// backoff, every try logged. Any number of dispatchers, in any number of processes, can run
// against one database: each claims its own deliveries.
type Dispatcher struct {
	db     *sqlx.DB
	cfg    DispatcherConfig
	client *http.Client
	log    *slog.Logger
}

// NewDispatcher returns a dispatcher over db.
func NewDispatcher(db *sqlx.DB, cfg DispatcherConfig) *Dispatcher {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultDeliveryTimeout
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 50
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 8
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.Backoff == nil {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.Retention <= 0 {
		cfg.Retention = 30 * 24 * time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.NowFunc == nil {
		cfg.NowFunc = time.Now
	}
	transport := &http.Transport{
		// No proxy: a proxy would be dialled instead of the receiver, bypassing the address check.
		Proxy:                 nil,
		DialContext:           dialer(cfg.AllowPrivateURLs).DialContext,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: cfg.Timeout,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	client := &http.Client{
		Timeout:   cfg.Timeout,
		Transport: transport,
		// A redirect is an answer, not a 2xx: following it could lead anywhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &Dispatcher{db: db, cfg: cfg, client: client, log: cfg.Logger.With("component", "webhooks")}
}

// claimed is one delivery a dispatcher holds for one try.
type claimed struct {
	DeliveryID     int64           `db:"delivery_id"`
	Attempt        int             `db:"attempts"`
	SubscriptionID string          `db:"subscription_id"`
	TenantID       string          `db:"tenant_id"`
	EventID        string          `db:"event_id"`
	EventType      EventType       `db:"type"`
	OccurredAt     time.Time       `db:"occurred_at"`
	Data           json.RawMessage `db:"data"`
	URL            string          `db:"url"`
	Secret         string          `db:"secret"`
}

// sqlClaimDeliveries takes due deliveries: SKIP LOCKED lets concurrent claimers pass each
// other by, and moving next_attempt_at past the lease makes the claim outlive this statement,
// so the try itself runs outside any transaction. A claimer that dies mid-try loses the lease
// and the delivery is tried again: at least once.
const sqlClaimDeliveries = `WITH due AS (
		SELECT id FROM webhook_deliveries
		WHERE status = 'pending' AND next_attempt_at <= $1
		ORDER BY next_attempt_at
		LIMIT $2
		FOR UPDATE SKIP LOCKED
	), claimed AS (
		UPDATE webhook_deliveries d SET attempts = d.attempts + 1, next_attempt_at = $3
		FROM due WHERE d.id = due.id
		RETURNING d.id, d.attempts, d.tenant_id, d.event_id, d.subscription_id
	)
	SELECT c.id AS delivery_id, c.attempts, c.subscription_id, c.tenant_id, c.event_id,
	       e.type, e.occurred_at, e.data, s.url, s.secret
	FROM claimed c
	JOIN webhook_events e ON e.id = c.event_id
	JOIN event_subscriptions s ON s.id = c.subscription_id`

// sqlFinishTry settles a delivery after a try, only if this try still holds it (attempts
// unchanged): a try that overran its lease leaves the delivery to whoever claimed it next.
const (
	sqlFinishTry = `UPDATE webhook_deliveries
		SET status = $3, next_attempt_at = $4, finished_at = CASE WHEN $3 = 'pending' THEN NULL ELSE CAST($5 AS timestamptz) END
		WHERE id = $1 AND attempts = $2 AND status = 'pending'`
	sqlInsertAttempt = `INSERT INTO webhook_attempts (tenant_id, delivery_id, subscription_id, attempt, at, status_code, error, duration_ms, outcome)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`
	sqlPruneEvents = `DELETE FROM webhook_events WHERE id IN (
		SELECT e.id FROM webhook_events e
		WHERE e.occurred_at < $1
		  AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id AND d.status = 'pending')
		LIMIT $2)`
)

// The outcomes of a try, as the delivery log shows them.
const (
	OutcomeDelivered = "delivered"
	OutcomeRetrying  = "retrying"
	OutcomeFailed    = "failed"
)

// maxErrorLength bounds the error text kept in the log per try.
const maxErrorLength = 300

// RunOnce claims the deliveries due at now, tries each once, and records the tries; it returns
// how many it tried. Tries run concurrently, up to Concurrency at a time.
func (d *Dispatcher) RunOnce(ctx context.Context, now time.Time) (int, error) {
	now = now.UTC()
	lease := now.Add(2*d.cfg.Timeout + 30*time.Second)
	var batch []claimed
	if err := d.db.SelectContext(ctx, &batch, sqlClaimDeliveries, now, d.cfg.BatchSize, lease); err != nil {
		return 0, fmt.Errorf("claim webhook deliveries: %w", err)
	}
	start := time.Now()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, d.cfg.Concurrency)
	)
	for _, c := range batch {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			// Each try's time is the run's time plus how long the run has taken so far, so
			// an injected clock stays in charge and tries still read in the order they ran.
			if err := d.try(ctx, c, now.Add(time.Since(start))); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return len(batch), errors.Join(errs...)
}

// try makes one POST of c and records it.
func (d *Dispatcher) try(ctx context.Context, c claimed, at time.Time) error {
	body, err := json.Marshal(Envelope{ID: c.EventID, Type: c.EventType, TenantID: c.TenantID, OccurredAt: c.OccurredAt.UTC(), Data: c.Data})
	if err != nil {
		return fmt.Errorf("encode event %s: %w", c.EventID, err)
	}
	began := time.Now()
	status, tryErr := d.post(ctx, c, body)
	took := time.Since(began)
	end := at.Add(took)

	outcome, next := OutcomeDelivered, end
	switch {
	case tryErr == nil && status >= 200 && status < 300:
	case ctx.Err() != nil:
		// Shutting down: this try says nothing about the receiver, so try again at once.
		outcome, tryErr = OutcomeRetrying, errors.New("interrupted: directsms was shutting down")
	case c.Attempt >= d.cfg.MaxAttempts:
		outcome = OutcomeFailed
	default:
		outcome, next = OutcomeRetrying, end.Add(d.cfg.Backoff(c.Attempt))
	}
	return d.record(context.WithoutCancel(ctx), c, at, end, next, status, tryErr, took, outcome)
}

// post sends body to c's URL and returns the status code, or an error when no answer came or
// the answer cannot count as one.
func (d *Dispatcher) post(ctx context.Context, c claimed, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "directsms-webhooks/1")
	req.Header.Set(SignatureHeader, Sign(c.Secret, body))
	req.Header.Set(EventTypeHeader, string(c.EventType))
	req.Header.Set(EventIDHeader, c.EventID)
	req.Header.Set(AttemptHeader, strconv.Itoa(c.Attempt))
	res, err := d.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	// Read a little of the answer so the connection can be reused; the rest is not ours.
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10)) //nolint:errcheck // the status is what counts
	if res.StatusCode >= 300 && res.StatusCode < 400 {
		return res.StatusCode, errors.New("redirects are not followed; register the final URL")
	}
	return res.StatusCode, nil
}

// describe turns a transport error into a short sentence for the delivery log: no URLs (the
// log already belongs to one), no wrapping.
func (d *Dispatcher) describe(err error) string {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		if uerr.Timeout() {
			return fmt.Sprintf("timed out after %s", d.cfg.Timeout)
		}
		err = uerr.Err
	}
	msg := err.Error()
	if errors.Is(err, errPrivateAddress) {
		msg = errPrivateAddress.Error()
	}
	if len(msg) > maxErrorLength {
		msg = msg[:maxErrorLength]
	}
	return msg
}

func (d *Dispatcher) record(ctx context.Context, c claimed, at, end, next time.Time, status int, tryErr error, took time.Duration, outcome string) error {
	var code *int
	if status != 0 {
		code = &status
	}
	var errText *string
	if tryErr != nil {
		s := d.describe(tryErr)
		errText = &s
	} else if status < 200 || status >= 300 {
		s := fmt.Sprintf("the receiver answered %d %s", status, http.StatusText(status))
		errText = &s
	}
	deliveryStatus := "pending"
	switch outcome {
	case OutcomeDelivered:
		deliveryStatus = "delivered"
	case OutcomeFailed:
		deliveryStatus = "failed"
	}
	err := pg.InTx(ctx, d.db, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, sqlFinishTry, c.DeliveryID, c.Attempt, deliveryStatus, next, end); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, sqlInsertAttempt, c.TenantID, c.DeliveryID, c.SubscriptionID, c.Attempt, at,
			code, errText, took.Milliseconds(), outcome)
		return err
	})
	if err != nil && pg.Code(err) == pg.CodeForeignKeyViolation {
		// The subscription was deleted during the try; its log went with it.
		return nil
	}
	if err != nil {
		return fmt.Errorf("record try %d of delivery %d: %w", c.Attempt, c.DeliveryID, err)
	}
	return nil
}

// Prune deletes events older than the retention whose deliveries are all finished, with their
// deliveries and logs, a bounded batch at a time; it returns how many events went.
func (d *Dispatcher) Prune(ctx context.Context, now time.Time) (int, error) {
	res, err := d.db.ExecContext(ctx, sqlPruneEvents, now.Add(-d.cfg.Retention), 1000)
	if err != nil {
		return 0, fmt.Errorf("prune webhook events: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune webhook events: %w", err)
	}
	return int(n), nil
}

// pruneEvery is how often Run prunes old events.
const pruneEvery = time.Hour

// Run delivers until ctx ends: it runs RunOnce again at once while batches come back full,
// else every PollInterval, and prunes old events every hour. Errors are logged here and the
// loop goes on; a panic in one round is logged and does not stop the next.
func (d *Dispatcher) Run(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	var lastPrune time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		n := d.round(ctx, &lastPrune)
		if n >= d.cfg.BatchSize {
			timer.Reset(0)
		} else {
			timer.Reset(d.cfg.PollInterval)
		}
	}
}

func (d *Dispatcher) round(ctx context.Context, lastPrune *time.Time) (n int) {
	defer func() {
		if p := recover(); p != nil {
			d.log.ErrorContext(ctx, "webhook dispatch panicked", "panic", p)
		}
	}()
	now := d.cfg.NowFunc().UTC()
	n, err := d.RunOnce(ctx, now)
	if err != nil && ctx.Err() == nil {
		d.log.ErrorContext(ctx, "dispatch webhook deliveries", "err", err)
	}
	if now.Sub(*lastPrune) >= pruneEvery {
		*lastPrune = now
		if _, err := d.Prune(ctx, now); err != nil && ctx.Err() == nil {
			d.log.ErrorContext(ctx, "prune webhook events", "err", err)
		}
	}
	return n
}
