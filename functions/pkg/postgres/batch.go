package postgres

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"handler/function/functions/pkg/payment"
)

// batcher runs concurrent calls of one kind together: the first call runs at
// once as a batch of one; calls that arrive while a batch is running wait and
// then run together as the next batch. Under no load nothing waits; under
// load one transaction (one round trip, one WAL flush, one NOTIFY lock) serves
// many calls, which is what lets Postgres keep up. It is Postgres's own group
// commit, done where the transactions are made.
type batcher[Req, Res any] struct {
	// op names the calls in errors ("get payment").
	op string
	// max bounds one batch.
	max int
	// run performs a batch: it sets res or err of every call, and must not
	// keep them.
	run func(ctx context.Context, calls []*call[Req, Res])
	// inDoubt, when set, rewrites the error of a caller that left while its
	// batch was running, whose work may then have been done (a create:
	// "retry with the same Idempotency-Key"). A caller that left before its
	// batch started knows nothing was done for it.
	inDoubt func(error) error

	mu      sync.Mutex
	queue   []*call[Req, Res]
	running bool
}

// call is one caller's part of a batch.
type call[Req, Res any] struct {
	ctx  context.Context
	req  Req
	res  Res
	err  error
	done chan struct{}
	// waitsOn names what the batch waits on for this call outside the
	// database ("kafka" while its events are published), "" otherwise: a
	// caller that leaves at its deadline then blames that, not the database.
	waitsOn atomic.Value // string
	// started is set when the call's batch begins to run.
	started atomic.Bool
}

// do queues req and returns its result once its batch has run, or an
// EUNAVAILABLE error as soon as ctx ends, whichever comes first: a caller
// never waits past its deadline, for a running batch (a stalled database)
// or for its own.
//
// A caller that leaves before its batch starts is left out of it: nothing is
// done for it. A caller that leaves while its batch runs does not know the
// outcome: the batch goes on for its other callers and may commit the
// leaver's part too. That is safe because each kind of call here may be
// retried: a read changes nothing, a result applied twice is refused as
// already applied (UpdatePayment's fn must be pure), and an event published
// twice is what at-least-once delivery allows. A kind of call whose retry
// could do the work twice must not be batched. The batch's own context
// ends only when every caller's has.
func (b *batcher[Req, Res]) do(ctx context.Context, req Req) (Res, error) {
	c := &call[Req, Res]{ctx: ctx, req: req, done: make(chan struct{})}
	b.mu.Lock()
	b.queue = append(b.queue, c)
	if !b.running {
		b.running = true
		go b.loop()
	}
	b.mu.Unlock()
	select {
	case <-c.done:
		return c.res, c.err
	case <-ctx.Done():
	}
	select {
	case <-c.done: // finished as the deadline passed: the real outcome wins
		return c.res, c.err
	default:
	}
	// c stays queued or in its batch; the batch skips or finishes it, and
	// nobody reads its result.
	var zero Res
	return zero, b.late(c)
}

// late is the error of a call whose caller left at its deadline.
func (b *batcher[Req, Res]) late(c *call[Req, Res]) error {
	if b.inDoubt != nil && c.started.Load() {
		return b.inDoubt(b.lateError(c))
	}
	return b.lateError(c)
}

func (b *batcher[Req, Res]) lateError(c *call[Req, Res]) error {
	if what, _ := c.waitsOn.Load().(string); what != "" {
		return payment.Unavailable(what, fmt.Errorf("%s: no answer from %s in time: %w", b.op, what, c.ctx.Err()))
	}
	return classify(b.op, fmt.Errorf("no answer from the database in time: %w", c.ctx.Err()))
}

// loop runs batches until the queue is empty.
func (b *batcher[Req, Res]) loop() {
	for {
		b.mu.Lock()
		n := min(len(b.queue), b.max)
		if n == 0 {
			b.running = false
			b.queue = nil // let a large backing array go
			b.mu.Unlock()
			return
		}
		batch := b.queue[:n:n]
		b.queue = b.queue[n:]
		b.mu.Unlock()
		b.runBatch(batch)
	}
}

func (b *batcher[Req, Res]) runBatch(batch []*call[Req, Res]) {
	live := batch[:0:0]
	for _, c := range batch {
		if c.ctx.Err() != nil { // its caller has left
			// Its do may yet read the result (both of its waits end at
			// once): never a success for work that was not done.
			c.err = b.late(c)
			close(c.done)
			continue
		}
		c.started.Store(true)
		live = append(live, c)
	}
	if len(live) == 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	remaining := atomic.Int64{}
	remaining.Store(int64(len(live)))
	for _, c := range live {
		stop := context.AfterFunc(c.ctx, func() {
			if remaining.Add(-1) == 0 {
				cancel()
			}
		})
		defer stop()
	}
	b.run(ctx, live)
	for _, c := range live {
		close(c.done)
	}
}
