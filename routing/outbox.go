package routing

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mathrand "math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"directsms/numbers"
	"directsms/sql/pg"
)

// Waker tells a process's outbox worker that texts were queued, so they go out at once rather
// than at its next poll. Whoever queues texts (Outbound, inbound routing's replies) calls Wake
// after committing; a Worker given C runs a pass when it fires. Workers of other processes
// find the texts at their next poll. It is in-process on purpose: a PostgreSQL NOTIFY would
// serialize the commits of every transaction that queues a text.
type Waker struct {
	ch chan struct{}
}

// NewWaker returns a waker; one per process, shared by the queuers and the worker.
func NewWaker() *Waker {
	return &Waker{ch: make(chan struct{}, 1)}
}

// Wake signals that texts were queued. It never blocks: signals that arrive while one is
// pending fold into it.
func (w *Waker) Wake() {
	select {
	case w.ch <- struct{}{}:
	default:
	}
}

// C fires after Wake.
func (w *Waker) C() <-chan struct{} { return w.ch }

// Sender hands one text to the carrier of acct. It is implemented over the carriers' REST
// clients outside this package, which must not know them. A refusal the carrier explained, or
// no answer at all, is a *SendError saying whether a retry may help; any other error means the
// text or the account cannot be sent with, and is final.
type Sender interface {
	Send(ctx context.Context, acct numbers.Account, text CarrierText) (CarrierReceipt, error)
}

// CarrierText is one text as a carrier takes it. MessageID is directsms's id, for the
// sender's logs.
type CarrierText struct {
	MessageID string
	From      string
	To        string
	Body      string
}

// CarrierReceipt is the carrier's acceptance: its id for the message, which its status
// callbacks will name.
type CarrierReceipt struct {
	ID string
}

// SendError is a carrier's refusal of a send, or the lack of any answer.
type SendError struct {
	// Code is the carrier's error code ("21211", "40300"), else "http_<status>", else
	// "no_response".
	Code    string
	Message string
	// Retry says sending the same text later may succeed.
	Retry bool
	// OptOut says the recipient opted out at the carrier (Twilio 21610, Telnyx 40300).
	OptOut bool
}

// Error describes the refusal without the text.
func (e *SendError) Error() string { return "carrier refused (" + e.Code + "): " + e.Message }

// Retryable reports whether sending the same text later may succeed.
func (e *SendError) Retryable() bool { return e.Retry }

// OptedOut reports whether the carrier refused because the recipient opted out.
func (e *SendError) OptedOut() bool { return e.OptOut }

// AccountSource gives the carrier account, with its secrets, that a number sends through;
// *numbers.Store is one.
type AccountSource interface {
	GetAccount(ctx context.Context, tenantID, id string) (numbers.Account, error)
}

// WorkerConfig tunes a Worker; zero fields take the defaults in brackets.
type WorkerConfig struct {
	// BatchSize is how many messages one claim takes [200].
	BatchSize int
	// Concurrency is how many sends of a batch are in flight at once [64].
	Concurrency int
	// Loops is how many claim-send-record loops Run keeps going, so one batch is claimed
	// while another is being sent [2].
	Loops int
	// MaxAttempts is how many tries a message gets before it is failed for good [8].
	MaxAttempts int
	// ClaimTimeout is how long a claim lasts: a worker that dies mid-send leaves messages that
	// other workers take again after it [1m].
	ClaimTimeout time.Duration
	// SendTimeout bounds one carrier call; it is kept under ClaimTimeout so a slow send is
	// recorded while its claim still holds [20s].
	SendTimeout time.Duration
	// BaseBackoff and MaxBackoff shape the wait before a retry: BaseBackoff doubled for each
	// earlier try, capped at MaxBackoff, of which a random half is waited [2s, 10m].
	BaseBackoff time.Duration
	MaxBackoff  time.Duration
	// PollInterval is how often Run looks for due messages when nothing woke it: texts queued
	// by other processes, retries coming due [500ms].
	PollInterval time.Duration
	// Wake, when set, makes Run start a pass at once (the C of this process's Waker).
	Wake <-chan struct{}
	// NowFunc is the clock for Run; time.Now when nil.
	NowFunc func() time.Time
	// Logger gets send failures; slog.Default when nil. Bodies are never logged and numbers
	// are masked.
	Logger *slog.Logger
}

func (c *WorkerConfig) defaults() {
	setInt := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	setDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	setInt(&c.BatchSize, 200)
	setInt(&c.Concurrency, 64)
	setInt(&c.Loops, 2)
	setInt(&c.MaxAttempts, 8)
	setDur(&c.ClaimTimeout, time.Minute)
	setDur(&c.SendTimeout, 20*time.Second)
	setDur(&c.BaseBackoff, 2*time.Second)
	setDur(&c.MaxBackoff, 10*time.Minute)
	setDur(&c.PollInterval, 500*time.Millisecond)
	if c.SendTimeout > c.ClaimTimeout/2 {
		c.SendTimeout = c.ClaimTimeout / 2
	}
	if c.NowFunc == nil {
		c.NowFunc = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Worker sends the outbox: every outbound message in status queued, whoever queued it. Claims
// use FOR UPDATE SKIP LOCKED and carry a token, so any number of workers in any number of
// processes hand each message to the carrier once; only a worker that loses its claim mid-send
// (it outlived ClaimTimeout, or died) can cause a second send, which carriers' APIs give no way
// to rule out.
type Worker struct {
	db       *sqlx.DB
	sender   Sender
	accounts AccountSource
	cfg      WorkerConfig
	log      *slog.Logger
	notify   *notifier
	id       string
	seq      atomic.Uint64
}

// NewWorker returns a worker sending through sender with the accounts of accounts.
func NewWorker(db *sqlx.DB, sender Sender, accounts AccountSource, cfg WorkerConfig) *Worker {
	cfg.defaults()
	id := make([]byte, 6)
	rand.Read(id) //nolint:errcheck // crypto/rand does not fail
	log := cfg.Logger.With("component", "outbox")
	return &Worker{db: db, sender: sender, accounts: accounts, cfg: cfg, log: log, notify: newNotifier(db, log),
		id: hex.EncodeToString(id)}
}

const (
	// sqlClaim takes the due messages, oldest first, skipping those another worker holds, and
	// marks them sending under this claim's token. A message is due when queued and its
	// retry time has come, or when the claim of a worker that never answered has expired.
	sqlClaim = `WITH due AS (
			SELECT m.id, m.status AS old_status, s.assignee_id, s.queue_id, s.contact_id, c.opted_out, n.carrier_account_id
			FROM messages m
			JOIN sessions s ON s.id = m.session_id
			JOIN contacts c ON c.id = s.contact_id
			LEFT JOIN numbers n ON n.tenant_id = m.tenant_id AND n.e164 = m.from_address
			WHERE m.direction = 'out' AND m.status IN ('queued', 'sending') AND m.carrier_message_id IS NULL
				AND COALESCE(m.claimed_until, m.next_attempt_at, m.created_at) <= $1
			ORDER BY COALESCE(m.claimed_until, m.next_attempt_at, m.created_at)
			LIMIT $2
			FOR UPDATE OF m SKIP LOCKED
		)
		UPDATE messages m SET status = 'sending', status_changed_at = $1, claimed_until = $3, claimed_by = $4,
			attempts = m.attempts + 1
		FROM due WHERE m.id = due.id
		RETURNING m.id, m.tenant_id, m.session_id, m.kind, m.from_address, m.to_address, m.body, m.attempts,
			m.sender_user_id, due.old_status, due.assignee_id, due.queue_id, due.contact_id, due.opted_out,
			due.carrier_account_id`
	// sqlRecord writes what the carrier answered, only for messages this claim still holds.
	sqlRecord = `UPDATE messages m SET
			status = r.status,
			status_changed_at = CASE WHEN r.status <> 'sending' THEN $2 ELSE m.status_changed_at END,
			provider = COALESCE(NULLIF(r.provider, ''), m.provider),
			carrier_message_id = NULLIF(r.carrier_id, ''),
			accepted_at = CASE WHEN r.carrier_id <> '' THEN $2 END,
			next_attempt_at = CAST(NULLIF(r.next_at, '') AS timestamptz),
			error_code = NULLIF(r.error_code, ''),
			error_message = NULLIF(r.error_message, ''),
			last_error = COALESCE(NULLIF(r.last_error, ''), m.last_error),
			claimed_until = NULL, claimed_by = NULL
		FROM unnest(CAST($3 AS uuid[]), CAST($4 AS text[]), CAST($5 AS text[]), CAST($6 AS text[]), CAST($7 AS text[]),
			CAST($8 AS text[]), CAST($9 AS text[]), CAST($10 AS text[]))
			AS r(id, status, provider, carrier_id, next_at, error_code, error_message, last_error)
		WHERE m.id = r.id AND m.claimed_by = $1
		RETURNING m.id`
)

// claimedMessage is a message a claim took, with what sending it needs.
type claimedMessage struct {
	ID           string        `db:"id"`
	TenantID     string        `db:"tenant_id"`
	SessionID    string        `db:"session_id"`
	Kind         string        `db:"kind"`
	From         string        `db:"from_address"`
	To           string        `db:"to_address"`
	Body         string        `db:"body"`
	Attempts     int           `db:"attempts"`
	SenderUserID *string       `db:"sender_user_id"`
	OldStatus    MessageStatus `db:"old_status"`
	AssigneeID   *string       `db:"assignee_id"`
	QueueID      *string       `db:"queue_id"`
	ContactID    string        `db:"contact_id"`
	OptedOut     bool          `db:"opted_out"`
	AccountID    *string       `db:"carrier_account_id"`
}

// result is what became of one claimed message.
type result struct {
	msg          *claimedMessage
	status       MessageStatus // sending (accepted), queued (retry) or failed
	provider     numbers.Provider
	carrierID    string
	nextAt       time.Time
	errorCode    string
	errorMessage string
	optedOut     bool
}

// RunOnce claims one batch of due messages as of now, sends them and records the answers,
// treating the whole pass as happening at now. It answers how many the carriers accepted.
// Tests drive it with their own clock; Run calls it in a loop.
func (w *Worker) RunOnce(ctx context.Context, now time.Time) (sent int, err error) {
	_, sent, err = w.runOnce(ctx, now.UTC())
	return sent, err
}

func (w *Worker) runOnce(ctx context.Context, now time.Time) (claimed, sent int, err error) {
	token := w.id + "/" + strconv.FormatUint(w.seq.Add(1), 10)
	batch, err := w.claim(ctx, now, token)
	if err != nil || len(batch) == 0 {
		return 0, 0, err
	}
	// The carrier calls and the recording go on when ctx ends (a shutdown): a send cut off
	// mid-way may have reached the carrier, and its answer must be kept.
	work := context.WithoutCancel(ctx)
	results := w.sendAll(work, batch, now)
	recordCtx, cancel := context.WithTimeout(work, w.cfg.ClaimTimeout/2)
	defer cancel()
	if err := w.record(recordCtx, now, token, results); err != nil {
		return len(batch), 0, err
	}
	for _, r := range results {
		if r.status == MessageSending {
			sent++
		}
	}
	return len(batch), sent, nil
}

// claim takes up to BatchSize due messages under token and tells their followers they are
// being sent. Events are written without a NOTIFY inside the transaction (PostgreSQL would hold
// every notifying commit behind one lock); the notifier sends one after the commit.
func (w *Worker) claim(ctx context.Context, now time.Time, token string) ([]claimedMessage, error) {
	var batch []claimedMessage
	var notify bool
	err := pg.InTx(ctx, w.db, func(tx *sqlx.Tx) error {
		if err := tx.SelectContext(ctx, &batch, sqlClaim, now, w.cfg.BatchSize, now.Add(w.cfg.ClaimTimeout), token); err != nil {
			return err
		}
		var events []Event
		for _, m := range batch {
			if m.OldStatus != MessageQueued {
				continue
			}
			data := MessageStatusEvent{MessageID: m.ID, SessionID: m.SessionID, Status: MessageSending, At: now}
			if ev, ok := statusEvent(m.TenantID, m.SenderUserID, m.AssigneeID, m.QueueID, data); ok {
				events = append(events, ev)
			}
		}
		notify = len(events) > 0
		return insertEvents(ctx, tx, now, events)
	})
	if err != nil {
		return nil, fmt.Errorf("claim outbox batch: %w", err)
	}
	if notify {
		w.notify.wake()
	}
	return batch, nil
}

// sendAll sends a batch with at most Concurrency carrier calls in flight.
func (w *Worker) sendAll(ctx context.Context, batch []claimedMessage, now time.Time) []result {
	accounts := w.loadAccounts(ctx, batch)
	results := make([]result, len(batch))
	sem := make(chan struct{}, w.cfg.Concurrency)
	var wg sync.WaitGroup
	for i := range batch {
		m := &batch[i]
		if r, done := w.precheck(m, accounts); done {
			results[i] = r
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			results[i] = w.send(ctx, m, accounts[*m.AccountID], now)
		}()
	}
	wg.Wait()
	return results
}

// accountRef is a carrier account as a batch looks it up; err is why it could not be.
type accountRef struct {
	acct numbers.Account
	err  error
}

// loadAccounts reads each carrier account the batch sends through once.
func (w *Worker) loadAccounts(ctx context.Context, batch []claimedMessage) map[string]accountRef {
	out := map[string]accountRef{}
	for _, m := range batch {
		if m.AccountID == nil {
			continue
		}
		if _, done := out[*m.AccountID]; done {
			continue
		}
		acct, err := w.accounts.GetAccount(ctx, m.TenantID, *m.AccountID)
		out[*m.AccountID] = accountRef{acct: acct, err: err}
	}
	return out
}

// precheck fails, without calling a carrier, a message that must not or cannot be sent.
func (w *Worker) precheck(m *claimedMessage, accounts map[string]accountRef) (result, bool) {
	fail := func(code, msg string) (result, bool) {
		return result{msg: m, status: MessageFailed, errorCode: code, errorMessage: msg}, true
	}
	switch {
	case m.Attempts > w.cfg.MaxAttempts:
		return fail("attempts_exhausted", fmt.Sprintf("no carrier answer after %d tries", w.cfg.MaxAttempts))
	// Only the consent confirmations may reach a contact who opted out: the one confirmation
	// carriers require after STOP, and the one after START.
	case m.OptedOut && m.Kind != "opt_out_confirmation" && m.Kind != "opt_in_confirmation":
		return fail("recipient_opted_out", "the recipient opted out; nothing is sent to them until they opt back in")
	case m.AccountID == nil:
		return fail("number_not_in_inventory", "the number "+m.From+" is no longer in the tenant's inventory")
	}
	if ref := accounts[*m.AccountID]; ref.err != nil {
		return fail("carrier_account_unavailable", "the number's carrier account could not be read: "+ref.err.Error())
	}
	return result{}, false
}

// send hands one message to its carrier and classifies the answer.
func (w *Worker) send(ctx context.Context, m *claimedMessage, ref accountRef, now time.Time) result {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.SendTimeout)
	defer cancel()
	r := result{msg: m, provider: ref.acct.Provider}
	receipt, err := w.sender.Send(ctx, ref.acct, CarrierText{MessageID: m.ID, From: m.From, To: m.To, Body: m.Body})
	if err == nil {
		r.status, r.carrierID = MessageSending, receipt.ID
		return r
	}
	var se *SendError
	if !errors.As(err, &se) {
		se = &SendError{Code: "send_error", Message: err.Error()}
	}
	r.errorCode, r.errorMessage, r.optedOut = se.Code, se.Message, se.OptOut
	log := w.log.With("message_id", m.ID, "tenant_id", m.TenantID, "from", numbers.E164(m.From), "to", numbers.E164(m.To),
		"provider", string(ref.acct.Provider), "attempt", m.Attempts, "error_code", se.Code)
	switch {
	case se.Retry && m.Attempts < w.cfg.MaxAttempts:
		r.status, r.nextAt = MessageQueued, now.Add(w.backoff(m.Attempts))
		log.Warn("carrier send failed; will retry", "retry_at", r.nextAt, "err", se.Message)
	case se.Retry:
		r.status = MessageFailed
		r.errorMessage = fmt.Sprintf("gave up after %d tries: %s", m.Attempts, se.Message)
		log.Error("carrier send failed; no tries left", "err", se.Message)
	default:
		r.status = MessageFailed
		log.Warn("carrier refused send", "opted_out", se.OptOut, "err", se.Message)
	}
	return r
}

// backoff is how long to wait after the attempt-th try failed: BaseBackoff doubled per
// earlier try, capped at MaxBackoff, of which a random half is waited, so that messages failed
// together by one outage do not all come back at the same moment.
func (w *Worker) backoff(attempt int) time.Duration {
	d := w.cfg.MaxBackoff
	if attempt <= 30 {
		if exp := w.cfg.BaseBackoff << (attempt - 1); exp > 0 && exp < d {
			d = exp
		}
	}
	half := d / 2
	return half + time.Duration(mathrand.Int64N(int64(d-half)+1))
}

// record writes a batch's answers, applies status callbacks that arrived before them, marks
// contacts the carrier said opted out, and tells followers, in one transaction.
func (w *Worker) record(ctx context.Context, now time.Time, token string, results []result) error {
	n := len(results)
	ids, statuses, providers, carrierIDs := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	nextAts, codes, messages, lastErrors := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	var lockKeys, pendTenants, pendProviders, pendIDs, optedOut []string
	for i, r := range results {
		ids[i], statuses[i], providers[i], carrierIDs[i] = r.msg.ID, string(r.status), string(r.provider), r.carrierID
		if r.status == MessageQueued {
			nextAts[i] = r.nextAt.Format(time.RFC3339Nano)
			lastErrors[i] = r.errorCode + ": " + r.errorMessage
		}
		if r.status == MessageFailed {
			codes[i], messages[i], lastErrors[i] = r.errorCode, r.errorMessage, r.errorCode+": "+r.errorMessage
		}
		if r.carrierID != "" {
			lockKeys = append(lockKeys, carrierKey(r.provider, r.carrierID))
			pendTenants, pendProviders, pendIDs = append(pendTenants, r.msg.TenantID), append(pendProviders, string(r.provider)), append(pendIDs, r.carrierID)
		}
		if r.optedOut {
			optedOut = append(optedOut, r.msg.ContactID)
		}
	}
	var notify bool
	err := pg.InTx(ctx, w.db, func(tx *sqlx.Tx) error {
		if len(lockKeys) > 0 {
			if _, err := tx.ExecContext(ctx, sqlLockCarrierMessages, lockCarrierMessage, pq.Array(lockKeys)); err != nil {
				return fmt.Errorf("lock carrier ids: %w", err)
			}
		}
		var held []string
		if err := tx.SelectContext(ctx, &held, sqlRecord, token, now, pq.Array(ids), pq.Array(statuses), pq.Array(providers),
			pq.Array(carrierIDs), pq.Array(nextAts), pq.Array(codes), pq.Array(messages), pq.Array(lastErrors)); err != nil {
			return fmt.Errorf("write answers: %w", err)
		}
		if len(optedOut) > 0 {
			if _, err := tx.ExecContext(ctx, sqlMarkContactsOptedOut, pq.Array(optedOut), now); err != nil {
				return fmt.Errorf("mark contacts opted out: %w", err)
			}
		}
		events := w.recordEvents(results, held, now)
		if len(pendIDs) > 0 {
			applied, err := applyPending(ctx, tx, pendTenants, pendProviders, pendIDs, now)
			if err != nil {
				return err
			}
			events = append(events, applied...)
		}
		notify = len(events) > 0
		return insertEvents(ctx, tx, now, events)
	})
	if err != nil {
		return fmt.Errorf("record outbox batch %s: %w", token, err)
	}
	if notify {
		w.notify.wake()
	}
	if len(results) > 0 {
		w.log.Debug("outbox batch recorded", "claim", token, "messages", len(results))
	}
	return nil
}

// recordEvents are the status changes of a recorded batch: retries (back to queued) and
// failures. A message the carrier accepted stays sending until the carrier reports more.
func (w *Worker) recordEvents(results []result, held []string, now time.Time) []Event {
	stillHeld := make(map[string]bool, len(held))
	for _, id := range held {
		stillHeld[id] = true
	}
	var events []Event
	for _, r := range results {
		if r.status == MessageSending || !stillHeld[r.msg.ID] {
			continue
		}
		data := MessageStatusEvent{MessageID: r.msg.ID, SessionID: r.msg.SessionID, Status: r.status, ErrorCode: r.errorCode, At: now}
		if ev, ok := statusEvent(r.msg.TenantID, r.msg.SenderUserID, r.msg.AssigneeID, r.msg.QueueID, data); ok {
			events = append(events, ev)
		}
	}
	return events
}

// pendingStatus is a status callback that came before its message had the carrier's id.
type pendingStatus struct {
	ID               int64            `db:"id"`
	TenantID         string           `db:"tenant_id"`
	Provider         numbers.Provider `db:"provider"`
	CarrierMessageID string           `db:"carrier_message_id"`
	Status           MessageStatus    `db:"status"`
	ErrorCode        string           `db:"error_code"`
	ErrorMessage     string           `db:"error_message"`
	OptedOut         bool             `db:"opted_out"`
}

// applyPending applies, in arrival order, the status callbacks that came for these carrier
// ids before their messages had them.
func applyPending(ctx context.Context, tx *sqlx.Tx, tenants, providers, carrierIDs []string, now time.Time) ([]Event, error) {
	var pending []pendingStatus
	if err := tx.SelectContext(ctx, &pending, sqlTakePendingStatuses, pq.Array(tenants), pq.Array(providers), pq.Array(carrierIDs)); err != nil {
		return nil, fmt.Errorf("take early status callbacks: %w", err)
	}
	slices.SortFunc(pending, func(a, b pendingStatus) int { return cmp.Compare(a.ID, b.ID) })
	var events []Event
	for _, p := range pending {
		_, evs, err := applyStatus(ctx, tx, StatusUpdate{TenantID: p.TenantID, Provider: p.Provider, CarrierMessageID: p.CarrierMessageID,
			Status: p.Status, ErrorCode: p.ErrorCode, ErrorMessage: p.ErrorMessage, OptedOut: p.OptedOut}, now)
		if err != nil {
			return nil, err
		}
		events = append(events, evs...)
	}
	return events, nil
}

// keepFor is how long idempotency keys and unmatched status callbacks are kept: a client
// retrying a day later sends again, and a callback no message claimed in a day never will be.
const keepFor = 24 * time.Hour

// sweepEvery is how often Run sweeps what is older than keepFor.
const sweepEvery = 10 * time.Minute

// lockOutboxSweep is the advisory-lock class that makes one process of the cluster sweep.
const lockOutboxSweep int32 = 0x6f757473 // "outs"

const (
	sqlSweepIdempotencyKeys = `DELETE FROM idempotency_keys WHERE created_at < $1`
	sqlSweepPendingStatuses = `DELETE FROM message_status_callbacks WHERE received_at < $1`
)

// Run sends the outbox until ctx ends: Loops loops each claim a batch, send it and record it,
// at once again after a full batch, else after PollInterval or when Wake fires. Once ctx ends,
// the batches in flight are still sent and recorded before Run returns. Every sweepEvery it
// also removes idempotency keys and unmatched callbacks older than a day, in one process of
// the cluster at a time.
func (w *Worker) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for range w.cfg.Loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.loop(ctx)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		w.sweepLoop(ctx)
	}()
	wg.Wait()
	w.notify.close()
}

func (w *Worker) loop(ctx context.Context) {
	timer := time.NewTimer(w.cfg.PollInterval)
	defer timer.Stop()
	for {
		claimed, _, err := w.runOnce(ctx, w.cfg.NowFunc().UTC())
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			w.log.Error("outbox pass failed", "err", err)
		}
		if err == nil && claimed == w.cfg.BatchSize {
			continue
		}
		timer.Reset(w.cfg.PollInterval)
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-w.cfg.Wake:
		}
	}
}

func (w *Worker) sweepLoop(ctx context.Context) {
	ticker := time.NewTicker(sweepEvery)
	defer ticker.Stop()
	for {
		if err := w.Sweep(ctx, w.cfg.NowFunc().UTC()); err != nil && ctx.Err() == nil {
			w.log.Error("outbox sweep failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// Sweep removes idempotency keys and unmatched status callbacks older than a day as of now,
// unless another process is sweeping.
func (w *Worker) Sweep(ctx context.Context, now time.Time) error {
	err := pg.InTx(ctx, w.db, func(tx *sqlx.Tx) error {
		got, err := pg.TryXactLock(ctx, tx, lockOutboxSweep, "outbox")
		if err != nil || !got {
			return err
		}
		if _, err := tx.ExecContext(ctx, sqlSweepIdempotencyKeys, now.Add(-keepFor)); err != nil {
			return fmt.Errorf("idempotency keys: %w", err)
		}
		if _, err := tx.ExecContext(ctx, sqlSweepPendingStatuses, now.Add(-keepFor)); err != nil {
			return fmt.Errorf("status callbacks: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sweep outbox: %w", err)
	}
	return nil
}
