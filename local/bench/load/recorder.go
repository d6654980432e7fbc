package load

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Refused wraps the error of a call that the system turned away at once, on
// purpose and with nothing done (a 503 or 429 with Retry-After): load
// shedding, which a Recorder counts apart from failures.
type Refused struct{ Err error }

func (r *Refused) Error() string { return "refused: " + r.Err.Error() }
func (r *Refused) Unwrap() error { return r.Err }

// Recorder collects the outcome of every call of a run. It is safe for
// concurrent use; Count, Failed, Refused and Dropped may be read while the
// run goes on (for a progress line).
type Recorder struct {
	ok, failed, refused, dropped atomic.Int64

	mu        sync.Mutex
	latencies []time.Duration // of successful calls only
	lastErr   error
	started   time.Time
	elapsed   time.Duration
}

// Record adds one call that took d and ended with err.
func (r *Recorder) Record(d time.Duration, err error) {
	if refused := (*Refused)(nil); errors.As(err, &refused) {
		r.refused.Add(1)
		return
	}
	if err != nil {
		r.failed.Add(1)
		r.mu.Lock()
		r.lastErr = err
		r.mu.Unlock()
		return
	}
	r.ok.Add(1)
	r.mu.Lock()
	r.latencies = append(r.latencies, d)
	r.mu.Unlock()
}

func (r *Recorder) drop() { r.dropped.Add(1) }

func (r *Recorder) begin() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.started = time.Now()
}

func (r *Recorder) end() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.elapsed = time.Since(r.started)
}

// Count is the number of successful calls so far.
func (r *Recorder) Count() int64 { return r.ok.Load() }

// Failed is the number of calls that returned an error so far.
func (r *Recorder) Failed() int64 { return r.failed.Load() }

// Refused is the number of calls turned away at once so far.
func (r *Recorder) Refused() int64 { return r.refused.Load() }

// Dropped is the number of open-loop calls not sent because too many were in flight.
func (r *Recorder) Dropped() int64 { return r.dropped.Load() }

// Summary is what a run measured. Latencies are of successful calls.
type Summary struct {
	OK      int64   `json:"ok"`
	Failed  int64   `json:"failed"`
	Refused int64   `json:"refused"`
	Dropped int64   `json:"dropped"`
	Seconds float64 `json:"seconds"`
	// PerSecond is successful calls per second of the run.
	PerSecond float64 `json:"perSecond"`
	Latency   Latency `json:"latency"`
	// LastError is the last failure's text, to tell what went wrong.
	LastError string `json:"lastError,omitempty"`
}

// Summary returns the figures of the run so far.
func (r *Recorder) Summary() Summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.counts()
	s.Latency = Distribution(r.latencies)
	return s
}

// Snapshot is Summary without the latencies, cheap enough for every tick of
// a progress line.
func (r *Recorder) Snapshot() Summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts()
}

// counts is the summary but for latencies; r.mu is held.
func (r *Recorder) counts() Summary {
	elapsed := r.elapsed
	if elapsed == 0 && !r.started.IsZero() {
		elapsed = time.Since(r.started)
	}
	s := Summary{
		OK: r.ok.Load(), Failed: r.failed.Load(), Refused: r.refused.Load(), Dropped: r.dropped.Load(),
		Seconds: elapsed.Seconds(),
	}
	if elapsed > 0 {
		s.PerSecond = float64(s.OK) / elapsed.Seconds()
	}
	if r.lastErr != nil {
		s.LastError = r.lastErr.Error()
	}
	return s
}

// Latency is a distribution in milliseconds.
type Latency struct {
	N    int     `json:"n"`
	Min  float64 `json:"minMs"`
	Mean float64 `json:"meanMs"`
	P50  float64 `json:"p50Ms"`
	P95  float64 `json:"p95Ms"`
	P99  float64 `json:"p99Ms"`
	Max  float64 `json:"maxMs"`
}

// Distribution summarises ds (which it does not modify). Percentiles are by
// the nearest-rank method: P99 is a value that was actually observed, with at
// least 99 % of the samples at or below it.
func Distribution(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	var sum time.Duration
	for _, d := range sorted {
		sum += d
	}
	return Latency{
		N:    len(sorted),
		Min:  ms(sorted[0]),
		Mean: ms(sum / time.Duration(len(sorted))),
		P50:  ms(rank(sorted, 50)),
		P95:  ms(rank(sorted, 95)),
		P99:  ms(rank(sorted, 99)),
		Max:  ms(sorted[len(sorted)-1]),
	}
}

// rank returns the nearest-rank p-th percentile of sorted.
func rank(sorted []time.Duration, p int) time.Duration {
	i := (p*len(sorted)+99)/100 - 1
	return sorted[max(i, 0)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
