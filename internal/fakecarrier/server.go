package fakecarrier

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
)

// Server is a running fake on a local port. It is a plain net/http server, not
// package httptest, so the dev command can run one too.
type Server struct {
	fake *Fake
	srv  *http.Server
	url  string
	done chan struct{}

	mu sync.Mutex
	// fresh holds connections that have not sent a request yet. Shutdown
	// waits five seconds for those (a client may have dialled one it never
	// used), so Close closes them first.
	fresh map[net.Conn]bool
}

// Start serves the fake on a free port of 127.0.0.1.
func (f *Fake) Start() (*Server, error) {
	return f.Listen("127.0.0.1:0")
}

// Listen serves the fake on addr, such as "127.0.0.1:8081".
func (f *Fake) Listen(addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{fake: f, url: "http://" + ln.Addr().String(), done: make(chan struct{}), fresh: map[net.Conn]bool{}}
	s.srv = &http.Server{
		Handler:           f.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
		ConnState:         s.track,
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			f.log.Error("fake carrier stopped serving", "error", err)
		}
	}()
	return s, nil
}

func (s *Server) track(c net.Conn, state http.ConnState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if state == http.StateNew {
		s.fresh[c] = true
	} else {
		delete(s.fresh, c)
	}
}

// URL is the base URL to give carrier clients, such as
// "http://127.0.0.1:41234", without a trailing slash.
func (s *Server) URL() string {
	return s.url
}

// Close stops the server, letting requests in progress finish for up to five
// seconds, then stops the fake's pending callbacks.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.mu.Lock()
	for c := range s.fresh {
		c.Close()
	}
	s.mu.Unlock()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = s.srv.Close()
	}
	<-s.done
	s.fake.Close()
	return err
}
