package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"handler/function/local/bench/load"
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

// measureEndToEnd offers payments open-loop at E2ERate for E2EDuration and
// follows each to its applied result through the same NOTIFY that wakes
// long-polls, then waits up to DrainTimeout for the rest.
func (b *bench) measureEndToEnd(ctx context.Context) error {
	if err := b.settle(ctx); err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, b.stack.DatabaseURL)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN payment_changed"); err != nil {
		return fmt.Errorf("listen: %w", err)
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

	rec := &load.Recorder{}
	call := func(ctx context.Context) error {
		at := time.Now()
		id, err := b.create(ctx)
		if err == nil {
			tl.sentAt(id, at)
		}
		return err
	}
	start := time.Now()
	windowEnd := start.Add(b.cfg.E2EDuration)
	stop := b.progress.Track(func() string {
		sent, applied := tl.counts()
		return fmt.Sprintf("end to end at %.0f/s: %4.0fs/%.0fs  created %d  applied %d  refused %d  failed %d",
			b.cfg.E2ERate, time.Since(start).Seconds(), b.cfg.E2EDuration.Seconds(), sent, applied, rec.Refused(), rec.Failed())
	})
	stopProfiles, err := b.startProfiles(ctx, phaseE2E, b.cfg.E2EDuration)
	if err != nil {
		return err
	}
	b.measureCPU(phaseE2E, func() { load.Open(ctx, b.cfg.E2ERate, b.cfg.E2EDuration, maxInFlight, call, rec) })
	if err := stopProfiles(); err != nil {
		return err
	}
	drainDeadline := time.Now().Add(b.cfg.DrainTimeout)
	for ctx.Err() == nil && time.Now().Before(drainDeadline) {
		if sent, applied := tl.counts(); applied == sent {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	stopListening()
	<-listening

	e := EndToEnd{OfferedPerSecond: b.cfg.E2ERate, Seconds: b.cfg.E2EDuration.Seconds(), Create: rec.Summary()}
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
	if len(perSecond) > 5 {
		e.SlowestSecond = perSecond[5]
		for _, n := range perSecond[5:] {
			e.SlowestSecond = min(e.SlowestSecond, n)
		}
	}
	if !last.IsZero() {
		e.DrainSeconds = max(last.Sub(windowEnd).Seconds(), 0)
	}
	// The database has the last word on what did not finish: a notification
	// missed by this listener must not count as a lost payment.
	if err := b.db.QueryRow(ctx, `SELECT count(*) FROM payments WHERE payment_id = ANY($1) AND state = 'pending'`, ids).Scan(&e.Unfinished); err != nil {
		return fmt.Errorf("count unfinished payments: %w", err)
	}
	stop(fmt.Sprintf("end to end: %d created (%.0f/s offered, %d refused at once), %.0f applied/s in the window (slowest second %d), %d unfinished; created→applied p50 %.0f ms, p99 %.0f ms",
		len(ids), b.cfg.E2ERate, e.Create.Refused, e.AppliedPerSecond, e.SlowestSecond, e.Unfinished, e.Latency.P50, e.Latency.P99))
	b.results.EndToEnd = &e
	if e.Unfinished > 0 {
		return fmt.Errorf("%d payments did not finish within %s of the last create", e.Unfinished, b.cfg.DrainTimeout)
	}
	return failures(e.Create)
}
