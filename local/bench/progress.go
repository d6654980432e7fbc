package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// progress keeps one status line up to date on a terminal; elsewhere (make
// output piped to a file, CI) it prints a plain line every few seconds.
type progress struct {
	w     io.Writer
	tty   bool
	every time.Duration

	mu      sync.Mutex
	printed time.Time
	open    bool // a status line is on the screen without its newline
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w, every: 5 * time.Second}
	if f, ok := w.(*os.File); ok {
		if info, err := f.Stat(); err == nil && info.Mode()&os.ModeCharDevice != 0 {
			p.tty, p.every = true, 250*time.Millisecond
		}
	}
	return p
}

// Status replaces the status line, at most every so often.
func (p *progress) Status(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.printed) < p.every {
		return
	}
	p.printed = time.Now()
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K"+format, args...)
		p.open = true
		return
	}
	fmt.Fprintf(p.w, format+"\n", args...)
}

// Line prints a line that stays.
func (p *progress) Line(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open {
		fmt.Fprint(p.w, "\r\033[K")
		p.open = false
	}
	fmt.Fprintf(p.w, format+"\n", args...)
	p.printed = time.Time{}
}

// Track calls status every tick until the returned stop is called; stop
// prints the final line.
func (p *progress) Track(status func() string) (stop func(final string)) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(p.every / 2)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				p.Status("%s", status())
			}
		}
	}()
	return func(final string) {
		close(done)
		<-finished
		p.Line("%s", final)
	}
}
