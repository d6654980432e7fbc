package postgres

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"handler/function/functions/pkg/payment"
)

// channel is the NOTIFY channel of the payments trigger (db/migrations).
const channel = "payment_changed"

// listener holds one LISTEN connection per process and fans notifications out
// to in-memory subscribers, so a thousand waiting long-polls cost the database
// one idle connection and no queries.
type listener struct {
	config *pgx.ConnConfig
	// timeout bounds waiting for LISTEN to be in effect, and the LISTEN itself.
	timeout time.Duration

	mu     sync.Mutex
	subs   map[uuid.UUID]map[chan struct{}]struct{}
	ready  chan struct{} // closed while a connection is listening
	cancel context.CancelFunc
	failed error // why the last connection attempt failed, while not ready
}

func newListener(config *pgx.ConnConfig, timeout time.Duration) *listener {
	return &listener{config: config, timeout: timeout, subs: map[uuid.UUID]map[chan struct{}]struct{}{}}
}

// Subscribe returns a channel that receives a value when the payment changes
// (and when the listener reconnects, since notifications may have been missed
// meanwhile). It returns only once LISTEN is in effect, so a change committed
// after Subscribe returns is never missed. Call stop when done.
func (s *Store) Subscribe(ctx context.Context, id uuid.UUID) (changed <-chan struct{}, stop func(), err error) {
	return s.listener.subscribe(ctx, id)
}

func (l *listener) subscribe(ctx context.Context, id uuid.UUID) (<-chan struct{}, func(), error) {
	ch := make(chan struct{}, 1)
	l.mu.Lock()
	if l.subs[id] == nil {
		l.subs[id] = map[chan struct{}]struct{}{}
	}
	l.subs[id][ch] = struct{}{}
	if l.cancel == nil {
		l.start()
	}
	ready := l.ready
	l.mu.Unlock()

	stop := func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		delete(l.subs[id], ch)
		if len(l.subs[id]) == 0 {
			delete(l.subs, id)
		}
	}
	wait, cancelWait := context.WithTimeout(ctx, l.timeout)
	defer cancelWait()
	select {
	case <-ready:
		return ch, stop, nil
	case <-wait.Done():
		stop()
		l.mu.Lock()
		cause := l.failed
		l.mu.Unlock()
		if cause == nil {
			cause = wait.Err()
		}
		return nil, nil, payment.Unavailable("database", fmt.Errorf("listen for payment changes: %w", cause))
	}
}

// start runs the connection loop; l.mu is held.
func (l *listener) start() {
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.ready = make(chan struct{})
	go l.run(ctx)
}

func (l *listener) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cancel != nil {
		l.cancel()
	}
}

// run keeps a LISTEN connection up, reconnecting with backoff, until ctx ends.
func (l *listener) run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := l.listen(ctx)
		if ctx.Err() != nil {
			return
		}
		l.mu.Lock()
		l.failed = err
		select {
		case <-l.ready: // was listening: make a fresh not-ready signal
			l.ready = make(chan struct{})
			backoff = 100 * time.Millisecond
		default:
		}
		l.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// listen connects, listens, wakes every subscriber (anything may have changed
// while no connection was listening) and then delivers notifications until the
// connection fails.
func (l *listener) listen(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, l.config)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	listenCtx, cancel := context.WithTimeout(ctx, l.timeout)
	_, err = conn.Exec(listenCtx, "LISTEN "+channel)
	cancel()
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	l.mu.Lock()
	l.failed = nil
	close(l.ready)
	for _, chans := range l.subs {
		for ch := range chans {
			wake(ch)
		}
	}
	l.mu.Unlock()

	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("wait for notification: %w", err)
		}
		id, err := uuid.Parse(n.Payload)
		if err != nil {
			continue // not ours to understand
		}
		l.mu.Lock()
		for ch := range l.subs[id] {
			wake(ch)
		}
		l.mu.Unlock()
	}
}

// wake signals ch without blocking; one pending signal is enough.
func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
