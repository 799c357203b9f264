package routing

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestBackoff_DoublesFromTheBaseWithAHalfOfJitterUpToTheCap(t *testing.T) {
	t.Parallel()
	w := NewWorker(nil, nil, nil, WorkerConfig{BaseBackoff: 2 * time.Second, MaxBackoff: 10 * time.Minute})
	tests := []struct {
		attempt  int
		min, max time.Duration
	}{
		{attempt: 1, min: time.Second, max: 2 * time.Second},
		{attempt: 2, min: 2 * time.Second, max: 4 * time.Second},
		{attempt: 5, min: 16 * time.Second, max: 32 * time.Second},
		{attempt: 9, min: 256 * time.Second, max: 512 * time.Second},
		{attempt: 10, min: 5 * time.Minute, max: 10 * time.Minute},
		{attempt: 40, min: 5 * time.Minute, max: 10 * time.Minute},
		{attempt: 64, min: 5 * time.Minute, max: 10 * time.Minute},
	}
	for _, tc := range tests {
		t.Run("attempt "+strconv.Itoa(tc.attempt), func(t *testing.T) {
			t.Parallel()
			seen := map[time.Duration]bool{}
			for range 200 {
				d := w.backoff(tc.attempt)
				if d < tc.min || d > tc.max {
					t.Fatalf("backoff(%d): got %s, want between %s and %s", tc.attempt, d, tc.min, tc.max)
				}
				seen[d] = true
			}
			if len(seen) < 100 {
				t.Errorf("backoff(%d): got %d distinct waits in 200, want jitter", tc.attempt, len(seen))
			}
		})
	}
}

func TestWorkerConfig_SendTimeoutStaysUnderTheClaim(t *testing.T) {
	t.Parallel()
	cfg := WorkerConfig{ClaimTimeout: 10 * time.Second, SendTimeout: time.Minute}
	cfg.defaults()
	if cfg.SendTimeout != 5*time.Second {
		t.Errorf("got send timeout %s with a 10s claim, want 5s: a send must be recorded while its claim holds", cfg.SendTimeout)
	}
}

func TestCheckIdempotencyKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		key  string
		ok   bool
	}{
		{name: "none", key: "", ok: true},
		{name: "a UUID", key: "3f1b6a62-3b8e-4b43-9d57-6a1c4bd5d9a1", ok: true},
		{name: "255 characters", key: strings.Repeat("k", 255), ok: true},
		{name: "256 characters", key: strings.Repeat("k", 256)},
		{name: "only spaces", key: "   "},
		{name: "a control character", key: "a\tb"},
		{name: "not ASCII", key: "clé"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := checkIdempotencyKey(tc.key); (err == nil) != tc.ok {
				t.Errorf("checkIdempotencyKey(%q): got %v, want ok %v", tc.key, err, tc.ok)
			}
		})
	}
}

func TestStatusEvent_GoesToTheSenderElseTheAssigneeElseTheQueue(t *testing.T) {
	t.Parallel()
	sender, assignee, queue := "u-sender", "u-assignee", "q-1"
	tests := []struct {
		name                    string
		sender, assignee, queue *string
		wantUser, wantQueue     string
		wantNone                bool
	}{
		{name: "an agent's text", sender: &sender, assignee: &assignee, queue: &queue, wantUser: sender},
		{name: "directsms's text in an assigned session", assignee: &assignee, queue: &queue, wantUser: assignee},
		{name: "directsms's text in a waiting queue session", queue: &queue, wantQueue: queue},
		{name: "nobody follows it", wantNone: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ev, ok := statusEvent("t", tc.sender, tc.assignee, tc.queue, MessageStatusEvent{Status: MessageSent})
			if ok == tc.wantNone || ev.UserID != tc.wantUser || ev.QueueID != tc.wantQueue {
				t.Errorf("got %+v (%v), want user %q queue %q", ev, ok, tc.wantUser, tc.wantQueue)
			}
		})
	}
}

func TestBatcher_ConcurrentTextsShareTransactionsAndGetTheirOwnAnswers(t *testing.T) {
	t.Parallel()
	var batches, largest atomic.Int64
	b := newBatcher(func(_ context.Context, items []*queueItem) []outcome[queueResult] {
		batches.Add(1)
		if n := int64(len(items)); n > largest.Load() {
			largest.Store(n)
		}
		time.Sleep(5 * time.Millisecond) // a commit's flush
		out := make([]outcome[queueResult], len(items))
		for i, it := range items {
			if strings.HasPrefix(it.Body, "refuse") {
				out[i] = outcome[queueResult]{res: queueResult{Refusal: "recipient_opted_out"}}
				continue
			}
			out[i] = outcome[queueResult]{res: queueResult{Answer: []byte(it.Body)}}
		}
		return out
	})
	const requests = 300
	var wg sync.WaitGroup
	errs := make(chan error, requests)
	for i := range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := "text " + strconv.Itoa(i)
			if i%3 == 0 {
				body = "refuse " + strconv.Itoa(i)
			}
			res, err := b.do(context.Background(), &queueItem{Body: body})
			switch {
			case err != nil:
				errs <- err
			case i%3 == 0 && res.Refusal != "recipient_opted_out":
				errs <- errors.New(body + ": got no refusal")
			case i%3 != 0 && string(res.Answer) != body:
				errs <- errors.New(body + ": got the answer " + string(res.Answer))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := batches.Load(); n >= requests/2 || largest.Load() > maxBatch {
		t.Errorf("got %d batches, the largest of %d, for %d concurrent texts; want far fewer batches, none over %d", n, largest.Load(), requests, maxBatch)
	}
}

func TestBatcher_ATextWithdrawnBeforeItsBatchIsNeverRun(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var ran sync.Map
	b := newBatcher(func(_ context.Context, items []*queueItem) []outcome[queueResult] {
		for _, it := range items {
			ran.Store(it.Body, true)
		}
		<-release
		return make([]outcome[queueResult], len(items))
	})
	// Fill every slot with a batch that waits, so the next text waits for a slot. The fillers
	// start one at a time, each only once the one before is running, so no two share a batch
	// and leave a slot free.
	running := func() int {
		n := 0
		ran.Range(func(_, _ any) bool { n++; return true })
		return n
	}
	var busy sync.WaitGroup
	for i := range batchSlots {
		busy.Add(1)
		go func() {
			defer busy.Done()
			b.do(context.Background(), &queueItem{Body: "busy " + strconv.Itoa(i)}) //nolint:errcheck // only fills the slots
		}()
		deadline := time.Now().Add(5 * time.Second)
		for running() != i+1 {
			if time.Now().After(deadline) {
				t.Fatal("the slots did not fill")
			}
			time.Sleep(time.Millisecond)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := b.do(ctx, &queueItem{Body: "withdrawn"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v for a text whose request gave up, want the context's error", err)
	}
	close(release)
	busy.Wait()
	if _, err := b.do(context.Background(), &queueItem{Body: "after"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := ran.Load("withdrawn"); ok {
		t.Errorf("the withdrawn text was run, want it dropped")
	}
}
