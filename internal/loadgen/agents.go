package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"

	"directsms/directory"
)

// agentStreams are the bench agents' event streams, open for a run as their browsers would
// keep them: offers reach a client, so the offer sweep finds them delivered and the agents
// stay available.
type agentStreams struct {
	dir    *directory.Store
	tenant string
	url    string
	keys   []string
	cancel context.CancelFunc
	wg     sync.WaitGroup
	events atomic.Int64
	// reconnects counts the streams opened again after the server ended one.
	reconnects atomic.Int64
}

// openAgentStreams gives each agent a key and opens its stream, answering once every stream
// is connected; end them with close.
func openAgentStreams(ctx context.Context, db *sqlx.DB, baseURL string, t Target) (*agentStreams, error) {
	ctx, cancel := context.WithCancel(ctx)
	a := &agentStreams{dir: directory.NewStore(db, nil), tenant: t.TenantID, cancel: cancel,
		url: strings.TrimRight(baseURL, "/") + "/v1/events"}
	for _, agent := range t.Agents {
		key, err := a.dir.CreateAPIKey(ctx, t.TenantID, agent, "directsms bench")
		if err != nil {
			return nil, errors.Join(fmt.Errorf("key for bench agent: %w", err), a.close())
		}
		a.keys = append(a.keys, key.ID)
		resp, err := a.connect(ctx, key.Key, "")
		if err != nil {
			return nil, errors.Join(err, a.close())
		}
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			a.follow(ctx, key.Key, resp)
		}()
	}
	return a, nil
}

// connect opens a stream with key, resuming after lastID when there is one.
func (a *agentStreams) connect(ctx context.Context, key, lastID string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Accept", "text/event-stream")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("open an agent's event stream: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("open an agent's event stream: status %d", resp.StatusCode)
	}
	return resp, nil
}

// follow reads a stream until ctx ends, counting its events, and reconnects as a browser's
// EventSource does when the server ends it (a client too far behind is disconnected and
// resumes with Last-Event-ID).
func (a *agentStreams) follow(ctx context.Context, key string, resp *http.Response) {
	var lastID string
	for {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			switch {
			case bytes.HasPrefix(line, []byte("event:")):
				a.events.Add(1)
			case bytes.HasPrefix(line, []byte("id:")):
				lastID = strings.TrimSpace(string(line[3:]))
			}
		}
		resp.Body.Close()
		for {
			if ctx.Err() != nil {
				return
			}
			var err error
			if resp, err = a.connect(ctx, key, lastID); err == nil {
				a.reconnects.Add(1)
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// close ends the streams and revokes the keys.
func (a *agentStreams) close() error {
	a.cancel()
	a.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var errs []error
	for _, id := range a.keys {
		if err := a.dir.RevokeAPIKey(ctx, a.tenant, id); err != nil {
			errs = append(errs, fmt.Errorf("revoke a bench agent's key: %w", err))
		}
	}
	return errors.Join(errs...)
}
