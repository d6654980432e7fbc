package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"handler/function/local/bench/load"
	"handler/function/local/bench/loadgen"
)

// EndToEnd is what the end-to-end run measured: payments offered at a fixed
// rate for a fixed time, each followed until apply-result recorded its result.
type EndToEnd struct {
	OfferedPerSecond float64      `json:"offeredPerSecond"`
	Seconds          float64      `json:"seconds"`
	Create           load.Summary `json:"create"`
	// AppliedInWindow counts the payments applied before the window closed;
	// AppliedPerSecond is that over the window's length.
	AppliedInWindow  int64   `json:"appliedInWindow"`
	AppliedPerSecond float64 `json:"appliedPerSecond"`
	// SlowestSecond is the fewest payments applied in one second of the
	// window, leaving out the first five (the pipeline filling up).
	SlowestSecond int64 `json:"slowestSecond"`
	// Unfinished counts created payments still pending when the drain timed
	// out (or 0 when every one was applied).
	Unfinished int64 `json:"unfinished"`
	// DrainSeconds is how long after the window the last payment was applied.
	DrainSeconds float64 `json:"drainSeconds"`
	// SteadyFromSecond and SteadyPerSecond: payments applied per second from
	// that second of the window to its end (with a slow provider the pipeline
	// first fills for the longest delay).
	SteadyFromSecond float64 `json:"steadyFromSecond,omitempty"`
	SteadyPerSecond  float64 `json:"steadyPerSecond,omitempty"`
	// ProviderDelay is the provider's delay range, "0" for the instant one.
	ProviderDelay string `json:"providerDelay"`
	// ProviderPeakRSSMB is process-payment's peak resident memory over the
	// run (VmHWM), taken before it is restarted: what the calls waiting on
	// the provider cost.
	ProviderPeakRSSMB float64 `json:"providerPeakRssMB,omitempty"`
	// Latency runs from sending the create request to the commit of its
	// result (seen as the payment_changed notification).
	Latency load.Latency `json:"latency"`
}

// timeline records when each payment was created and applied.
type timeline struct {
	mu      sync.Mutex
	sent    map[uuid.UUID]time.Time
	applied map[uuid.UUID]time.Time
}

func (t *timeline) sentAt(id uuid.UUID, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sent[id] = at
}

func (t *timeline) appliedAt(id uuid.UUID, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, seen := t.applied[id]; !seen {
		t.applied[id] = at
	}
}

// counts returns how many payments were created and how many of those applied.
func (t *timeline) counts() (sent, applied int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id := range t.sent {
		if _, ok := t.applied[id]; ok {
			applied++
		}
	}
	return len(t.sent), applied
}

// measureEndToEnd runs the end-to-end measure with the instant provider, at
// the target's rate unless told otherwise: a run offering less could not show
// the target met, one offering more shows refusals that are not the target's.
func (b *bench) measureEndToEnd(ctx context.Context) error {
	e, err := b.endToEnd(ctx, phaseE2E, b.e2eRate(), b.cfg.DrainTimeout, 5*time.Second)
	if e != nil {
		e.ProviderDelay = "0"
	}
	b.results.EndToEnd = e
	return err
}

// e2eRate is the configured rate, or 0.1× this run's pgbench, or 1,000/s.
func (b *bench) e2eRate() float64 {
	switch pg := b.results.Limits.PGBench; {
	case b.cfg.E2ERate > 0:
		return b.cfg.E2ERate
	case pg != nil && pg.TPS > 0:
		return math.Ceil(0.1 * pg.TPS)
	default:
		return 1000
	}
}

// measureDelayed runs it with the provider's real delay (stack.yml's range for
// process-payment), then gives the stack its instant provider back.
func (b *bench) measureDelayed(ctx context.Context) error {
	env := b.fns.Functions["process-payment"].Environment
	real := map[string]string{"PAYMENT_PROVIDER_MIN_DELAY": env["PAYMENT_PROVIDER_MIN_DELAY"], "PAYMENT_PROVIDER_MAX_DELAY": env["PAYMENT_PROVIDER_MAX_DELAY"]}
	if err := b.settle(ctx); err != nil {
		return err
	}
	if err := b.restart(ctx, "process-payment", real); err != nil {
		return err
	}
	e, err := b.endToEnd(ctx, phaseDelay, b.cfg.DelayRate, b.cfg.DelayDrain, b.cfg.SteadyFrom)
	if e != nil {
		e.ProviderDelay = real["PAYMENT_PROVIDER_MIN_DELAY"] + "–" + real["PAYMENT_PROVIDER_MAX_DELAY"]
		var rssErr error
		e.ProviderPeakRSSMB, rssErr = b.peakRSS("process-payment")
		err = errors.Join(err, rssErr)
	}
	b.results.Delayed = e
	return errors.Join(err, b.restart(ctx, "process-payment", instantProvider))
}

// peakRSS is a function process's peak resident memory so far, in MB.
func (b *bench) peakRSS(function string) (float64, error) {
	pids, err := processesOf(b.stateDir)
	if err != nil {
		return 0, err
	}
	pid, ok := pids[b.binary(function)]
	if !ok {
		return 0, fmt.Errorf("no process for %s", function)
	}
	status, err := procStatus(pid)
	return status["VmHWM"], err
}

// restart restarts a function with vars in its environment and waits until
// it is up again.
func (b *bench) restart(ctx context.Context, function string, vars map[string]string) error {
	before := b.stack.Restarts(function)
	if err := b.stack.Restart(function, vars); err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for b.stack.Restarts(function) == before || !b.stack.Ready(function) {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not up again within 30 s of its restart", function)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// endToEnd offers payments open-loop at rate for E2EDuration and follows each
// to its applied result through the same NOTIFY that wakes long-polls, then
// waits up to drain for the rest. Applied/s is counted from steadyFrom on.
func (b *bench) endToEnd(ctx context.Context, phase string, rate float64, drain, steadyFrom time.Duration) (*EndToEnd, error) {
	if err := b.settle(ctx); err != nil {
		return nil, err
	}
	conn, err := pgx.Connect(ctx, b.stack.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN payment_changed"); err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	tl := &timeline{sent: map[uuid.UUID]time.Time{}, applied: map[uuid.UUID]time.Time{}}
	listenCtx, stopListening := context.WithCancel(ctx)
	listening := make(chan struct{})
	go func() {
		defer close(listening)
		for {
			n, err := conn.WaitForNotification(listenCtx)
			if err != nil {
				return
			}
			if id, err := uuid.Parse(n.Payload); err == nil {
				tl.appliedAt(id, time.Now())
			}
		}
	}()
	defer func() { stopListening(); <-listening }()

	var prog lastProgress
	sent := func(batch []loadgen.Created) {
		for _, c := range batch {
			tl.sentAt(c.ID, c.Sent)
		}
	}
	shown := time.Now()
	stop := b.progress.Track(func() string {
		created, applied := tl.counts()
		p := prog.get()
		return fmt.Sprintf("%s at %.0f/s: %4.0fs/%.0fs  created %d  applied %d  refused %d  failed %d",
			phase, rate, time.Since(shown).Seconds(), b.cfg.E2EDuration.Seconds(), created, applied, p.Refused, p.Failed)
	})
	stopProfiles, err := b.startProfiles(ctx, phase, b.cfg.E2EDuration)
	if err != nil {
		stop(phase + ": profiling failed")
		return nil, err
	}
	// The CPU of the whole run, the drain included: every payment's cost.
	// The load generator reports each payment it created, with when its
	// request was sent, while the run goes on; it has reported them all when
	// it ends.
	var res loadgen.Result
	var runErr error
	b.measureCPU(phase, func() time.Duration {
		spec := loadgen.Spec{URL: b.gatewayCreate(), Mode: loadgen.Open, Rate: rate, Duration: b.cfg.E2EDuration, MaxInFlight: maxInFlight, IDs: true}
		if res, runErr = b.generate(ctx, spec, &prog, sent); runErr != nil {
			return res.CPU
		}
		drainDeadline := time.Now().Add(drain)
		for ctx.Err() == nil && time.Now().Before(drainDeadline) {
			if created, applied := tl.counts(); applied == created {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		return res.CPU
	})
	if err := errors.Join(runErr, stopProfiles()); err != nil {
		stop(fmt.Sprintf("%s failed: %v", phase, err))
		return nil, err
	}
	stopListening()
	<-listening

	// The window is the load generator's run (the parent's and the child's
	// clocks are the same wall clock).
	start := res.Started
	windowEnd := start.Add(b.cfg.E2EDuration)
	e := EndToEnd{OfferedPerSecond: rate, Seconds: b.cfg.E2EDuration.Seconds(), Create: res.Summary, SteadyFromSecond: steadyFrom.Seconds()}
	var ids []uuid.UUID
	var latencies []time.Duration
	perSecond := make([]int64, int(b.cfg.E2EDuration/time.Second))
	var last time.Time
	tl.mu.Lock()
	for id, sentAt := range tl.sent {
		ids = append(ids, id)
		at, ok := tl.applied[id]
		if !ok {
			continue
		}
		latencies = append(latencies, at.Sub(sentAt))
		if at.After(last) {
			last = at
		}
		if at.Before(windowEnd) {
			e.AppliedInWindow++
			if i := int(at.Sub(start) / time.Second); i >= 0 && i < len(perSecond) {
				perSecond[i]++
			}
		}
	}
	tl.mu.Unlock()
	e.AppliedPerSecond = float64(e.AppliedInWindow) / b.cfg.E2EDuration.Seconds()
	e.Latency = load.Distribution(latencies)
	if from := int(steadyFrom / time.Second); len(perSecond) > from {
		e.SlowestSecond = perSecond[from]
		var steady int64
		for _, n := range perSecond[from:] {
			e.SlowestSecond = min(e.SlowestSecond, n)
			steady += n
		}
		e.SteadyPerSecond = float64(steady) / float64(len(perSecond)-from)
	}
	if !last.IsZero() {
		e.DrainSeconds = max(last.Sub(windowEnd).Seconds(), 0)
	}
	// The database has the last word on what did not finish: a notification
	// missed by this listener must not count as a lost payment.
	if err := b.db.QueryRow(ctx, `SELECT count(*) FROM payments WHERE payment_id = ANY($1) AND state = 'pending'`, ids).Scan(&e.Unfinished); err != nil {
		return nil, fmt.Errorf("count unfinished payments: %w", err)
	}
	b.results.countUnits(phase, "settled payment", int64(len(ids))-e.Unfinished)
	stop(fmt.Sprintf("%s: %d created (%.0f/s offered, %d refused at once), %.0f applied/s in the window, %.0f/s from second %.0f (slowest second %d), %d unfinished; created→applied p50 %.0f ms, p99 %.0f ms",
		phase, len(ids), rate, e.Create.Refused, e.AppliedPerSecond, e.SteadyPerSecond, steadyFrom.Seconds(), e.SlowestSecond, e.Unfinished, e.Latency.P50, e.Latency.P99))
	if e.Unfinished > 0 {
		return &e, fmt.Errorf("%d payments did not finish within %s of the last create", e.Unfinished, drain)
	}
	return &e, failures(e.Create)
}
