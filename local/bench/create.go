package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/google/uuid"

	"handler/function/local/bench/load"
)

// requestTimeout bounds one create; anything slower is a failure.
const requestTimeout = 30 * time.Second

// create makes one payment through the gateway.
func (b *bench) create(ctx context.Context) (uuid.UUID, error) {
	return b.createAt(ctx, b.stack.GatewayURL+"/function/create-payment")
}

// createAt makes one payment at url (the gateway's route, or create-payment's
// own port) for a user of its own, so the per-user rate limit (10/s, bursts of
// 20) never applies, and returns its id.
func (b *bench) createAt(ctx context.Context, url string) (uuid.UUID, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	body := fmt.Appendf(nil, `{"userId":%q,"accountNumber":"40817810099910004312","amount":"125.50","description":"Rent"}`, uuid.New())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return uuid.Nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+b.stack.APIKey)
	resp, err := b.client.Do(req)
	if err != nil {
		return uuid.Nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return uuid.Nil, fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode != http.StatusCreated {
		err := fmt.Errorf("create: %d %s", resp.StatusCode, snippet(raw))
		if shed(resp) {
			return uuid.Nil, &load.Refused{Err: err}
		}
		return uuid.Nil, err
	}
	var created struct {
		PaymentID uuid.UUID `json:"paymentId"`
	}
	if err := json.Unmarshal(raw, &created); err != nil || created.PaymentID == uuid.Nil {
		return uuid.Nil, fmt.Errorf("create: answer without a payment id: %s", snippet(raw))
	}
	return created.PaymentID, nil
}

// shed tells a deliberate refusal (503 or 429 with Retry-After: nothing was
// done, come back later) from a failure.
func shed(resp *http.Response) bool {
	return (resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusTooManyRequests) &&
		resp.Header.Get("Retry-After") != ""
}

func (b *bench) createCall(ctx context.Context) error {
	_, err := b.create(ctx)
	return err
}

// measureThroughput creates payments through the gateway with a fixed number
// of clients, each sending its next request as soon as the last is answered.
// The connector's deliveries are paused meanwhile, so the phase measures what a
// create costs (as the issue measured the original's API alone); the payments
// are processed after it. The end-to-end phases measure the whole pipeline.
func (b *bench) measureThroughput(ctx context.Context) error {
	s, err := b.closedLoop(ctx, phaseThroughput, "through the gateway", b.createCall)
	b.results.Throughput = s
	return err
}

// measureDirect is measureThroughput on create-payment's own port: the
// difference is what the gateway's hop costs.
func (b *bench) measureDirect(ctx context.Context) error {
	url, ok := b.stack.FunctionURL("create-payment")
	if !ok {
		return fmt.Errorf("create-payment is not running")
	}
	s, err := b.closedLoop(ctx, phaseDirect, "on its own port", func(ctx context.Context) error {
		_, err := b.createAt(ctx, url)
		return err
	})
	b.results.Direct = s
	return err
}

func (b *bench) closedLoop(ctx context.Context, phase, how string, call func(context.Context) error) (*load.Summary, error) {
	if err := b.settle(ctx); err != nil {
		return nil, err
	}
	rec := &load.Recorder{}
	stopProfiles, err := b.startProfiles(ctx, phase, b.cfg.Duration)
	if err != nil {
		return nil, err
	}
	stop := b.progress.Track(func() string {
		return trackLine("create-payment "+how, rec, b.cfg.Duration)
	})
	b.stack.PauseDeliveries()
	b.measureCPU(phase, func() { load.Closed(ctx, b.cfg.Concurrency, b.cfg.Duration, call, rec) })
	b.stack.ResumeDeliveries()
	s := rec.Summary()
	b.results.countUnits(phase, "create", s.OK)
	stop(fmt.Sprintf("create-payment %s: %.0f creates/s with %d clients (p50 %.1f ms, p99 %.1f ms), %d failed",
		how, s.PerSecond, b.cfg.Concurrency, s.Latency.P50, s.Latency.P99, s.Failed))
	if err := stopProfiles(); err != nil {
		return &s, err
	}
	return &s, failures(s)
}

// measureLatency creates payments open-loop at a fixed rate: each request is
// due at its time whether or not earlier ones were answered, and its latency
// counts from then.
func (b *bench) measureLatency(ctx context.Context) error {
	if err := b.settle(ctx); err != nil {
		return err
	}
	rec := &load.Recorder{}
	stop := b.progress.Track(func() string {
		return trackLine(fmt.Sprintf("latency at %.0f/s", b.cfg.Rate), rec, b.cfg.Duration)
	})
	b.stack.PauseDeliveries() // as in measureThroughput: the create alone
	b.measureCPU(phaseLatency, func() { load.Open(ctx, b.cfg.Rate, b.cfg.Duration, maxInFlight, b.createCall, rec) })
	b.stack.ResumeDeliveries()
	s := rec.Summary()
	b.results.countUnits(phaseLatency, "create", s.OK)
	stop(fmt.Sprintf("latency at %.0f/s: %.0f/s served, p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, max %.1f ms; %d refused at once, %d failed, %d dropped",
		b.cfg.Rate, s.PerSecond, s.Latency.P50, s.Latency.P95, s.Latency.P99, s.Latency.Max, s.Refused, s.Failed, s.Dropped))
	b.results.Latency = &s
	return failures(s)
}

// maxInFlight bounds an open-loop run: past it the system is not keeping up
// and further requests are counted as dropped.
const maxInFlight = 10000

func trackLine(name string, rec *load.Recorder, total time.Duration) string {
	s := rec.Summary()
	return fmt.Sprintf("%s: %4.0fs/%.0fs  ok %d  refused %d  failed %d  dropped %d  %.0f/s",
		name, s.Seconds, total.Seconds(), s.OK, s.Refused, s.Failed, s.Dropped, s.PerSecond)
}

// failures turns failed or dropped calls into an error naming the last
// failure. Refused calls are not failures: the system said no at once and
// did nothing, which is what it should do past its capacity.
func failures(s load.Summary) error {
	if s.Failed == 0 && s.Dropped == 0 {
		return nil
	}
	return fmt.Errorf("%d calls failed and %d were dropped (last error: %s)", s.Failed, s.Dropped, s.LastError)
}
