package scaler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"
)

// Process is one replica of a function: an OS process in the local runner.
type Process interface {
	// Run runs the replica until it exits (an error) or ctx ends (then it
	// stops it gracefully and returns nil). It calls ready once the replica
	// accepts calls at addr.
	Run(ctx context.Context, ready func(addr *url.URL)) error
	// Kill ends the replica at once, as a crash would.
	Kill() error
}

// NewProcess makes a replica of a function; Run may be called once on it.
type NewProcess func() Process

// Function keeps a function's replicas at the number asked for: it starts
// and stops them, replaces one that dies (with backoff) and picks a ready one
// for each call.
type Function struct {
	name       string
	policy     Policy
	newProcess NewProcess
	log        *slog.Logger
	ctx        context.Context // ends every replica

	mu       sync.Mutex
	replicas []*replica
	next     int // round-robin position
	restarts int
	// changed is closed and replaced whenever a replica becomes ready, or
	// exits before it listened, to wake the calls waiting for one.
	changed chan struct{}
	// heldUntil: a scale asked for through the API holds until then, and the
	// autoscaler leaves the function alone meanwhile.
	heldUntil time.Time
	// listened: a replica of the function has accepted calls at least once.
	// Until then, startErr keeps why the first replica that exited before
	// it listened did so.
	listened bool
	startErr error
	// failed counts replicas that exited before they listened, lastFail
	// the last one's error: a wake that sees one fails at once.
	failed   int
	lastFail error
	wg       sync.WaitGroup
}

type replica struct {
	id     int
	cancel context.CancelFunc
	addr   *url.URL // nil until ready
	proc   Process
	calls  uint64 // calls picked for it
	since  time.Time
}

func newFunction(ctx context.Context, name string, policy Policy, newProcess NewProcess, log *slog.Logger) *Function {
	return &Function{name: name, policy: policy, newProcess: newProcess, log: log, ctx: ctx, changed: make(chan struct{})}
}

// Policy returns the function's scaling labels.
func (f *Function) Policy() Policy { return f.policy }

// Scale sets the number of replicas, at most the policy's maximum; 0 stops
// them all. New replicas start in the background; removed ones stop taking
// calls at once and finish the calls they have (SIGTERM and drain).
func (f *Function) Scale(n int) int {
	n = min(max(n, 0), f.policy.Max)
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(f.replicas) < n {
		ctx, cancel := context.WithCancel(f.ctx)
		r := &replica{id: f.nextID(), cancel: cancel}
		f.replicas = append(f.replicas, r)
		f.wg.Go(func() { f.keep(ctx, r) })
	}
	for len(f.replicas) > n {
		last := f.replicas[len(f.replicas)-1]
		f.replicas = f.replicas[:len(f.replicas)-1]
		// Out of Pick at once; stopped a moment later, so a call picked just
		// before is already on its way (as Kubernetes takes a pod out of the
		// endpoints before it sends SIGTERM).
		time.AfterFunc(stopDelay, last.cancel)
	}
	return n
}

// stopDelay is how long a replica scaled away keeps running before SIGTERM.
const stopDelay = time.Second

func (f *Function) nextID() int {
	id := 0
	for _, r := range f.replicas {
		id = max(id, r.id+1)
	}
	return id
}

// keep runs replica r until ctx ends, replacing its process whenever it dies.
func (f *Function) keep(ctx context.Context, r *replica) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		p := f.newProcess()
		f.mu.Lock()
		r.proc = p
		f.mu.Unlock()
		started := time.Now()
		listened := false
		err := p.Run(ctx, func(addr *url.URL) {
			listened = true
			f.setReady(r, addr)
		})
		f.setReady(r, nil)
		if ctx.Err() != nil {
			return
		}
		f.mu.Lock()
		f.restarts++
		if !listened {
			if !f.listened && f.startErr == nil {
				f.startErr = err
			}
			f.failed, f.lastFail = f.failed+1, err
			f.signal()
		}
		f.mu.Unlock()
		if time.Since(started) > 10*time.Second {
			backoff = 100 * time.Millisecond
		}
		f.log.Warn("replica exited; replacing it", "function", f.name, "replica", r.id, "err", err, "restart_in_ms", backoff.Milliseconds())
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (f *Function) setReady(r *replica, addr *url.URL) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r.addr = addr
	if addr != nil {
		f.listened = true
		r.since = time.Now()
		f.signal()
	}
}

// signal wakes the calls waiting for a replica. f.mu must be held.
func (f *Function) signal() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// Pick returns a ready replica's address, taking them in turn, or false when
// none is ready.
func (f *Function) Pick() (*url.URL, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.replicas)
	for i := range n {
		r := f.replicas[(f.next+i)%n]
		if r.addr != nil {
			f.next = (f.next + i + 1) % n
			r.calls++
			addr := *r.addr
			return &addr, true
		}
	}
	return nil, false
}

// Replicas returns how many replicas are wanted and how many are ready.
func (f *Function) Replicas() (replicas, available int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.replicas {
		if r.addr != nil {
			available++
		}
	}
	return len(f.replicas), available
}

// Wake starts the function's starting replicas if it has none, and waits
// until one is ready or ctx ends.
func (f *Function) Wake(ctx context.Context) error {
	f.mu.Lock()
	empty, failedBefore := len(f.replicas) == 0, f.failed
	f.mu.Unlock()
	if empty {
		n := f.Scale(f.policy.Starting())
		f.log.Info("scaling from zero", "function", f.name, "replicas", n)
	}
	for {
		f.mu.Lock()
		changed := f.changed
		ready := false
		for _, r := range f.replicas {
			ready = ready || r.addr != nil
		}
		none := len(f.replicas) == 0
		failed, lastFail := f.failed > failedBefore, f.lastFail
		f.mu.Unlock()
		switch {
		case ready:
			return nil
		case none:
			return fmt.Errorf("%s was scaled to zero while waking", f.name)
		case failed:
			// It is replaced, but a function that could not start once
			// rarely starts on the next try: the caller hears it now, not
			// at the end of its wait.
			return fmt.Errorf("a replica of %s exited before it was ready: %w", f.name, lastFail)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("wait for a replica of %s: %w", f.name, ctx.Err())
		case <-time.After(100 * time.Millisecond): // notices a scale to zero meanwhile
		}
	}
}

// Kill crashes one ready replica (kill -9); it is replaced.
func (f *Function) Kill() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.replicas {
		if r.addr != nil && r.proc != nil {
			return r.proc.Kill()
		}
	}
	return errors.New(f.name + " has no ready replica")
}

// KillAll crashes every running replica (kill -9); each is replaced by a new
// process, which is how the local runner gives replicas a changed environment.
func (f *Function) KillAll() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var errs []error
	killed := 0
	for _, r := range f.replicas {
		if r.proc != nil {
			errs = append(errs, r.proc.Kill())
			killed++
		}
	}
	if killed == 0 {
		return errors.New(f.name + " has no running replica")
	}
	return errors.Join(errs...)
}

// StartErr is why a replica exited before it listened, when no replica of
// the function had listened yet, or nil. A function that cannot start once
// will not start on a retry either (a bad setting, a missing secret): the
// local runner fails its start-up with this error rather than wait while
// the replica is replaced again and again.
func (f *Function) StartErr() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.startErr
}

// Restarts counts replicas that died and were replaced.
func (f *Function) Restarts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.restarts
}

// ReplicaStatus is one replica as the System page shows it.
type ReplicaStatus struct {
	ID    int       `json:"id"`
	Ready bool      `json:"ready"`
	Addr  string    `json:"addr,omitempty"`
	Calls uint64    `json:"calls"`
	Since time.Time `json:"since,omitzero"`
}

// Status lists the function's replicas.
func (f *Function) Status() []ReplicaStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]ReplicaStatus, 0, len(f.replicas))
	for _, r := range f.replicas {
		st := ReplicaStatus{ID: r.id, Ready: r.addr != nil, Calls: r.calls}
		if r.addr != nil {
			st.Addr, st.Since = r.addr.Host, r.since
		}
		out = append(out, st)
	}
	return out
}

// hold keeps the autoscaler away from the function until t.
func (f *Function) hold(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.heldUntil = t
}

// Held reports whether a manual scale still holds at now.
func (f *Function) Held(now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return now.Before(f.heldUntil)
}
