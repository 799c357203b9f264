package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"directsms/internal/apperr"
	"directsms/routing"
)

const (
	// streamRetry is how long an EventSource client waits before reconnecting (the SSE retry
	// field): long enough not to hammer a restarting server, short enough to miss little.
	streamRetry = 3 * time.Second
	// streamWriteTimeout bounds each write, so a client that stops reading is cut off rather
	// than holding its connection forever; it reconnects with Last-Event-ID.
	streamWriteTimeout = 30 * time.Second
)

// streamEvents serves GET /v1/events: the caller's events (addressed to them, or to a queue
// they see) as Server-Sent Events, resumed after Last-Event-ID (or ?last_event_id=), until the
// client goes, the server shuts down, or the client falls too far behind.
func (s *Server) streamEvents(w http.ResponseWriter, r *http.Request) {
	if s.deps.Hub == nil {
		s.writeError(w, r, routing.ErrStreamUnavailable)
		return
	}
	after, err := lastEventID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	p := principal(r)
	queues, err := routing.UserQueueIDs(ctx, s.deps.DB, p.TenantID, p.UserID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	sub, err := s.deps.Hub.Subscribe(ctx, routing.Audience{TenantID: p.TenantID, UserID: p.UserID, QueueIDs: queues}, after)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer sub.Close()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	out := &sseWriter{w: w, rc: http.NewResponseController(w)}
	if out.write([]byte("retry: "+strconv.FormatInt(streamRetry.Milliseconds(), 10)+"\n\n")) != nil {
		return
	}

	heartbeat := time.NewTicker(s.cfg.EventHeartbeat)
	defer heartbeat.Stop()
	// Events already waiting go out together, with one flush. written is what the next flush
	// sends; only once it has left the server does an offer among it count as delivered.
	var written []routing.StreamEvent
	delivered := func() {
		if err := sub.Delivered(ctx, written...); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "record offer delivery", "user_id", p.UserID, "events", len(written), "err", err)
		}
		written = written[:0]
	}
	events := sub.Events()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				s.streamEnded(ctx, p.UserID, sub.Err())
				return
			}
			written = append(written, ev)
			flush := len(events) == 0
			if out.event(ev, flush) != nil {
				return
			}
			if flush {
				delivered()
			}
		case <-heartbeat.C:
			if out.write([]byte(": heartbeat\n\n")) != nil {
				return
			}
			delivered()
		}
	}
}

// streamEnded logs why the hub ended a stream when it was not the client leaving.
func (s *Server) streamEnded(ctx context.Context, userID string, reason error) {
	switch {
	case ctx.Err() != nil, errors.Is(reason, routing.ErrStreamStopped):
	case errors.Is(reason, routing.ErrSlowSubscriber):
		s.log.InfoContext(ctx, "event stream dropped a client that fell behind; it resumes on reconnect", "user_id", userID)
	default:
		s.log.WarnContext(ctx, "event stream ended", "user_id", userID, "err", reason)
	}
}

// lastEventID is where the client resumes: the Last-Event-ID header an EventSource sends on
// reconnect, else the last_event_id parameter a client can set on its first connection; 0
// means "from now on".
func lastEventID(r *http.Request) (int64, error) {
	field, v := "Last-Event-ID", r.Header.Get("Last-Event-ID")
	if v == "" {
		field, v = "last_event_id", r.URL.Query().Get("last_event_id")
	}
	if v == "" {
		return 0, nil
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id < 0 {
		return 0, apperr.BadRequest(field, field+" must be an event id (a whole number, 0 or more)")
	}
	return id, nil
}

// sseWriter writes Server-Sent Events and flushes them.
type sseWriter struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	buf bytes.Buffer
}

// event writes one event: its id, its type and its data on one line; flush sends it, with
// those written before it.
func (o *sseWriter) event(ev routing.StreamEvent, flush bool) error {
	o.buf.Reset()
	o.buf.WriteString("id: ")
	o.buf.WriteString(strconv.FormatInt(ev.ID, 10))
	o.buf.WriteString("\nevent: ")
	o.buf.WriteString(string(ev.Type))
	o.buf.WriteString("\n")
	var data bytes.Buffer
	if json.Compact(&data, ev.Data) != nil {
		data.Reset()
		data.Write(ev.Data)
	}
	// Compact JSON has no line breaks; anything else is cut at every CR, LF or CRLF, which all
	// end an SSE line, so no text in the data can end the event or add a field.
	for _, line := range sseLines(data.Bytes()) {
		o.buf.WriteString("data: ")
		o.buf.Write(line)
		o.buf.WriteString("\n")
	}
	o.buf.WriteString("\n")
	return o.send(o.buf.Bytes(), flush)
}

// write sends b and flushes it.
func (o *sseWriter) write(b []byte) error { return o.send(b, true) }

// send writes b, and flushes it with anything written before when flush is set, within
// streamWriteTimeout. Each write moves the deadline, so the server's WriteTimeout, meant for
// whole ordinary responses, does not end a stream.
func (o *sseWriter) send(b []byte, flush bool) error {
	o.rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout)) //nolint:errcheck // writers without deadlines cannot time out
	if _, err := o.w.Write(b); err != nil || !flush {
		return err
	}
	return o.rc.Flush()
}

// sseLines splits b at CRLF, LF and CR, the line ends of Server-Sent Events.
func sseLines(b []byte) [][]byte {
	var lines [][]byte
	for {
		i := bytes.IndexAny(b, "\r\n")
		if i < 0 {
			return append(lines, b)
		}
		lines = append(lines, b[:i])
		if b[i] == '\r' && i+1 < len(b) && b[i+1] == '\n' {
			i++
		}
		b = b[i+1:]
	}
}
