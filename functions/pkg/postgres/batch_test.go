package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"handler/function/functions/pkg/payment"
)

// A batcher that doubles numbers and records the size of every batch.
func doubler(release <-chan struct{}) (*batcher[int, int], *[]int, *sync.Mutex) {
	var mu sync.Mutex
	var sizes []int
	b := &batcher[int, int]{max: 100, run: func(ctx context.Context, calls []*call[int, int]) {
		<-release
		mu.Lock()
		sizes = append(sizes, len(calls))
		mu.Unlock()
		for _, c := range calls {
			c.res = 2 * c.req
		}
	}}
	return b, &sizes, &mu
}

// batchRunning holds while a batch runs with no call queued behind it.
func batchRunning(b *batcher[int, int]) bool { return b.running && len(b.queue) == 0 }

// waitBatcher polls until cond, read under the batcher's lock, holds.
func waitBatcher(b *batcher[int, int], cond func(*batcher[int, int]) bool) {
	for {
		b.mu.Lock()
		ok := cond(b)
		b.mu.Unlock()
		if ok {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

func TestBatcherGroupsCallsThatWaitWhileABatchRuns(t *testing.T) {
	release := make(chan struct{})
	b, sizes, mu := doubler(release)
	first := make(chan int, 1)
	go func() { r, _ := b.do(t.Context(), 1); first <- r }()
	// Wait until the first call's batch is running, then queue 50 more.
	waitBatcher(b, batchRunning)
	var wg sync.WaitGroup
	results := make([]int, 50)
	for i := range results {
		wg.Go(func() { results[i], _ = b.do(t.Context(), i) })
	}
	for {
		b.mu.Lock()
		queued := len(b.queue)
		b.mu.Unlock()
		if queued == 50 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if r := <-first; r != 2 {
		t.Fatalf("first call: %d, want 2", r)
	}
	for i, r := range results {
		if r != 2*i {
			t.Fatalf("call %d got %d, want %d", i, r, 2*i)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(*sizes) != 2 || (*sizes)[0] != 1 || (*sizes)[1] != 50 {
		t.Fatalf("batch sizes %v, want [1 50]", *sizes)
	}
}

func TestBatcherLeavesOutCallsWhoseContextEndedWhileQueued(t *testing.T) {
	release := make(chan struct{})
	b, sizes, mu := doubler(release)
	go b.do(context.Background(), 1) // holds the batcher busy until release
	waitBatcher(b, batchRunning)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { _, err := b.do(ctx, 2); done <- err }()
	for {
		b.mu.Lock()
		queued := len(b.queue)
		b.mu.Unlock()
		if queued == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	// It answers while the running batch still holds the batcher.
	if err := <-done; !errors.Is(err, context.Canceled) || payment.ErrorCode(err) != payment.EUNAVAILABLE {
		t.Fatalf("err = %v, want unavailable wrapping context.Canceled", err)
	}
	close(release)
	// Until the batcher has run everything queued.
	waitBatcher(b, func(b *batcher[int, int]) bool { return !b.running })
	mu.Lock()
	defer mu.Unlock()
	if len(*sizes) != 1 {
		t.Fatalf("batch sizes %v: the cancelled call ran", *sizes)
	}
}

func TestBatcherRespectsTheBatchBound(t *testing.T) {
	release := make(chan struct{})
	close(release)
	b, sizes, mu := doubler(release)
	b.max = 3
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if r, err := b.do(t.Context(), i); err != nil || r != 2*i {
				t.Errorf("call %d: %d, %v", i, r, err)
			}
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	total := 0
	for _, n := range *sizes {
		if n > 3 {
			t.Fatalf("batch of %d, bound 3", n)
		}
		total += n
	}
	if total != 20 {
		t.Fatalf("%d calls ran, want 20", total)
	}
}

// A caller whose deadline passes while its own batch runs (a stalled
// database) answers at once; the batch goes on for the others.
func TestBatcherCallerLeavesARunningBatchAtItsDeadline(t *testing.T) {
	release := make(chan struct{})
	b, sizes, mu := doubler(release)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	other := make(chan int, 1)
	var leaver, stayer sync.WaitGroup
	leaver.Add(1)
	stayer.Add(1)
	var err error
	go func() { defer leaver.Done(); _, err = b.do(ctx, 1) }()
	waitBatcher(b, batchRunning) // the leaver's batch
	go func() { defer stayer.Done(); r, _ := b.do(t.Context(), 2); other <- r }()
	leaver.Wait() // returns while release is still open: the batch has not finished
	if !errors.Is(err, context.DeadlineExceeded) || payment.ErrorCode(err) != payment.EUNAVAILABLE {
		t.Fatalf("err = %v, want unavailable wrapping the deadline", err)
	}
	close(release)
	stayer.Wait()
	if r := <-other; r != 4 {
		t.Fatalf("the other caller got %d, want 4", r)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(*sizes) != 2 || (*sizes)[0] != 1 {
		t.Fatalf("batch sizes %v, want [1 1]: the leaver's batch ran to its end", *sizes)
	}
}

// A caller that leaves while its batch runs may have had its work done; one
// that leaves while still queued has not: only the first is "in doubt".
func TestBatcherTellsCallersInDoubtFromCallersLeftOut(t *testing.T) {
	release := make(chan struct{})
	b, _, _ := doubler(release)
	errInDoubt := errors.New("in doubt")
	b.inDoubt = func(err error) error { return fmt.Errorf("%w: %w", errInDoubt, err) }
	running, cancelRunning := context.WithCancel(t.Context())
	queued, cancelQueued := context.WithCancel(t.Context())
	errs := make(chan error, 2)
	go func() { _, err := b.do(running, 1); errs <- err }()
	waitBatcher(b, batchRunning)
	go func() { _, err := b.do(queued, 2); errs <- err }()
	waitBatcher(b, func(b *batcher[int, int]) bool { return len(b.queue) == 1 })
	cancelQueued()
	if err := <-errs; errors.Is(err, errInDoubt) || payment.ErrorCode(err) != payment.EUNAVAILABLE {
		t.Fatalf("queued caller that left: %v, want unavailable and not in doubt", err)
	}
	cancelRunning()
	if err := <-errs; !errors.Is(err, errInDoubt) {
		t.Fatalf("caller that left its running batch: %v, want in doubt", err)
	}
	close(release)
}
