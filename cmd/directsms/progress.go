package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// progress shows what a long command is doing: on a terminal a bar or spinner redrawn in place,
// otherwise (a log file, a CI job) one plain line per step.
type progress struct {
	w   io.Writer
	tty bool
}

func newProgress(w io.Writer) *progress { return &progress{w: w, tty: isTerminal(w)} }

// isTerminal reports whether w is a character device, such as an interactive stderr.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// step is one phase of the work: measured (bytes of a known total) or not (a spinner).
type step struct {
	p     *progress
	label string
	start time.Time

	mu       sync.Mutex
	total    int64
	done     int64
	lastDraw time.Time

	stop    chan struct{}
	stopped sync.WaitGroup
}

// bytes starts a step that will go through total bytes; add reports them.
func (p *progress) bytes(label string, total int64) *step {
	s := &step{p: p, label: label, start: time.Now(), total: total}
	if p.tty {
		s.draw()
	} else {
		fmt.Fprintf(p.w, "%s (%d bytes)\n", label, total)
	}
	return s
}

// add counts n more bytes done, redrawing the bar at most every 50 ms.
func (s *step) add(n int64) {
	if !s.p.tty {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done += n
	if now := time.Now(); now.Sub(s.lastDraw) >= 50*time.Millisecond || s.done >= s.total {
		s.lastDraw = now
		s.draw()
	}
}

func (s *step) draw() {
	const width = 30
	frac := 1.0
	if s.total > 0 {
		frac = min(1, float64(s.done)/float64(s.total))
	}
	filled := int(frac * width)
	fmt.Fprintf(s.p.w, "\r%s [%s%s] %3.0f%%", s.label, strings.Repeat("#", filled), strings.Repeat(".", width-filled), frac*100)
}

// wait starts a step of unknown length: a spinner with the time so far, on a terminal.
func (p *progress) wait(label string) *step {
	s := &step{p: p, label: label, start: time.Now()}
	if !p.tty {
		fmt.Fprintln(p.w, label)
		return s
	}
	s.stop = make(chan struct{})
	s.stopped.Add(1)
	go func() {
		defer s.stopped.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			fmt.Fprintf(p.w, "\r%s %c %.1fs", label, `|/-\`[i%4], time.Since(s.start).Seconds())
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

// end finishes the step: on a terminal its line is cleared; result, when set, is printed with
// the time the step took.
func (s *step) end(result string) {
	if s.stop != nil {
		close(s.stop)
		s.stopped.Wait()
	}
	if s.p.tty {
		fmt.Fprint(s.p.w, "\r\033[K")
	}
	if result != "" {
		fmt.Fprintf(s.p.w, "%s (%s)\n", result, time.Since(s.start).Round(time.Millisecond))
	}
}
