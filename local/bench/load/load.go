// Package load drives a function with requests and records how long each took:
// closed-loop (a fixed number of workers, each sending its next request when
// the previous one is answered) for throughput, and open-loop (requests started
// on a timer whether or not earlier ones were answered) for latency at a rate.
//
// Open-loop latency is measured from the moment a request was due, not from
// when it was actually sent, so a stalled sender cannot hide the stall
// ("coordinated omission").
package load

import (
	"context"
	"sync"
	"time"
)

// Call is one request. It returns nil when the answer was the expected one.
type Call func(ctx context.Context) error

// Closed runs workers goroutines that call fn back to back until d has passed
// or ctx ends, recording every call in rec.
func Closed(ctx context.Context, workers int, d time.Duration, fn Call, rec *Recorder) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	rec.begin()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				start := time.Now()
				err := fn(ctx)
				if ctx.Err() != nil && err != nil {
					return // cut off by the end of the run, not a failure of the system
				}
				rec.Record(time.Since(start), err)
			}
		})
	}
	wg.Wait()
	rec.end()
}

// Open starts fn rate times a second for d, each call on its own goroutine,
// and waits for the calls in flight to finish (each is bounded by ctx and its
// own timeout). At most maxInFlight calls run at once: a call that falls due
// while that many are running is not sent and is recorded as Dropped, so an
// overloaded system shows up as drops and long latencies rather than as an
// unbounded pile of goroutines.
func Open(ctx context.Context, rate float64, d time.Duration, maxInFlight int, fn Call, rec *Recorder) {
	interval := time.Duration(float64(time.Second) / rate)
	total := int(d / interval)
	slots := make(chan struct{}, maxInFlight)
	var wg sync.WaitGroup
	start := time.Now()
	rec.begin()
	for next := 0; next < total; {
		// Sleeping once per request would be too coarse at 1,000/s on a busy
		// machine; instead start every call that is due, then sleep until the
		// next one is. The schedule never drifts: a late wake-up starts the
		// calls it missed at once, and their latency counts from when they
		// were due.
		due := min(int(time.Since(start)/interval)+1, total)
		for ; next < due; next++ {
			at := start.Add(time.Duration(next) * interval)
			select {
			case slots <- struct{}{}:
			default:
				rec.drop()
				continue
			}
			wg.Go(func() {
				defer func() { <-slots }()
				err := fn(ctx)
				rec.Record(time.Since(at), err)
			})
		}
		if next == total {
			break
		}
		select {
		case <-ctx.Done():
			next = total
		case <-time.After(time.Until(start.Add(time.Duration(next) * interval))):
		}
	}
	wg.Wait()
	rec.end()
}
