package load

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

func TestDistributionNearestRank(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	got := Distribution(ds)
	want := Latency{N: 100, Min: 1, Mean: 50.5, P50: 50, P95: 95, P99: 99, Max: 100}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if ds[0] != 100*time.Millisecond {
		t.Fatal("Distribution sorted its argument in place")
	}
	if one := Distribution([]time.Duration{7 * time.Millisecond}); one.P50 != 7 || one.P99 != 7 || one.Max != 7 {
		t.Fatalf("one sample: %+v", one)
	}
	if empty := Distribution(nil); empty != (Latency{}) {
		t.Fatalf("no samples: %+v", empty)
	}
}

func TestRecorderCountsRefusalsApart(t *testing.T) {
	rec := &Recorder{}
	rec.begin()
	rec.Record(time.Millisecond, nil)
	rec.Record(time.Second, &Refused{Err: errors.New("503")})
	rec.Record(time.Second, fmt.Errorf("create: %w", &Refused{Err: errors.New("429")}))
	rec.Record(time.Second, errors.New("502"))
	rec.end()
	s := rec.Summary()
	if s.OK != 1 || s.Refused != 2 || s.Failed != 1 || s.Latency.N != 1 || s.LastError != "502" {
		t.Fatalf("summary %+v, want 1 ok, 2 refused, 1 failed, one latency", s)
	}
}

func TestClosedCountsSuccessesAndFailures(t *testing.T) {
	var calls atomic.Int64
	boom := errors.New("boom")
	rec := &Recorder{}
	Closed(t.Context(), 4, 100*time.Millisecond, func(ctx context.Context) error {
		if calls.Add(1)%2 == 0 {
			return boom
		}
		return nil
	}, rec)
	s := rec.Summary()
	// A failure that coincides with the end of the run is not counted: at most
	// one per worker.
	if n := s.OK + s.Failed; s.OK == 0 || s.Failed == 0 || n > calls.Load() || n < calls.Load()-4 {
		t.Fatalf("summary %+v after %d calls", s, calls.Load())
	}
	if s.LastError != "boom" || s.Latency.N != int(s.OK) || s.PerSecond <= 0 {
		t.Fatalf("summary %+v", s)
	}
}

func TestClosedDoesNotCountCallsCutByTheEnd(t *testing.T) {
	rec := &Recorder{}
	Closed(t.Context(), 2, 50*time.Millisecond, func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	}, rec)
	if s := rec.Summary(); s.OK != 0 || s.Failed != 0 {
		t.Fatalf("calls cut off by the end of the run were recorded: %+v", s)
	}
}

func TestOpenSchedulesEveryCallOnce(t *testing.T) {
	var calls atomic.Int64
	rec := &Recorder{}
	Open(t.Context(), 400, 250*time.Millisecond, 1000, func(ctx context.Context) error {
		calls.Add(1)
		return nil
	}, rec)
	s := rec.Summary()
	if calls.Load() != 100 || s.OK != 100 || s.Dropped != 0 {
		t.Fatalf("%d calls, summary %+v; want exactly 100 (400/s for 250 ms)", calls.Load(), s)
	}
}

func TestOpenDropsCallsBeyondTheInFlightBound(t *testing.T) {
	release := make(chan struct{})
	var started atomic.Int64
	rec := &Recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Open(t.Context(), 1000, 50*time.Millisecond, 3, func(ctx context.Context) error {
			started.Add(1)
			<-release
			return nil
		}, rec)
	}()
	// Every call blocks until all are due, so exactly three run and the rest drop.
	deadline := time.After(time.Minute)
	for rec.Dropped() < 47 {
		select {
		case <-deadline:
			t.Fatalf("dropped %d of 50 with 3 slots", rec.Dropped())
		case <-time.After(5 * time.Millisecond):
		}
	}
	close(release)
	<-done
	if s := rec.Summary(); started.Load() != 3 || s.OK != 3 || s.Dropped != 47 {
		t.Fatalf("started %d, summary %+v", started.Load(), s)
	}
}
