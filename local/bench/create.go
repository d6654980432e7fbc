package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"handler/function/local/bench/load"
	"handler/function/local/bench/loadgen"
)

// generate runs spec against create-payment in a load generator process of
// its own (so that its CPU is not the stack's), keeping its latest progress in
// prog and passing the payments it created to created (which may be nil).
func (b *bench) generate(ctx context.Context, spec loadgen.Spec, prog *lastProgress, created func([]loadgen.Created)) (loadgen.Result, error) {
	spec.APIKey = b.stack.APIKey
	return loadgen.Run(ctx, b.exe, spec, func(m loadgen.Message) {
		if m.Progress != nil {
			prog.Store(m.Progress)
		}
		if created != nil && len(m.Created) > 0 {
			created(m.Created)
		}
	})
}

// lastProgress is the latest progress a load generator reported.
type lastProgress struct{ atomic.Pointer[load.Summary] }

func (p *lastProgress) get() load.Summary {
	if s := p.Load(); s != nil {
		return *s
	}
	return load.Summary{}
}

// gatewayCreate is create-payment's route through the gateway.
func (b *bench) gatewayCreate() string { return b.stack.GatewayURL + "/function/create-payment" }

// measureThroughput creates payments through the gateway with a fixed number
// of clients, each sending its next request as soon as the last is answered.
// The connector's deliveries are paused meanwhile, so the phase measures what a
// create costs (as the issue measured the original's API alone); the payments
// are processed after it. The end-to-end phases measure the whole pipeline.
func (b *bench) measureThroughput(ctx context.Context) error {
	s, err := b.closedLoop(ctx, phaseThroughput, "through the gateway", b.gatewayCreate())
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
	s, err := b.closedLoop(ctx, phaseDirect, "on its own port", url)
	b.results.Direct = s
	return err
}

func (b *bench) closedLoop(ctx context.Context, phase, how, url string) (*load.Summary, error) {
	if err := b.settle(ctx); err != nil {
		return nil, err
	}
	stopProfiles, err := b.startProfiles(ctx, phase, b.cfg.Duration)
	if err != nil {
		return nil, err
	}
	var prog lastProgress
	stop := b.progress.Track(func() string {
		return trackLine("create-payment "+how, prog.get(), b.cfg.Duration)
	})
	b.stack.PauseDeliveries()
	var res loadgen.Result
	b.measureCPU(phase, func() time.Duration {
		res, err = b.generate(ctx, loadgen.Spec{URL: url, Mode: loadgen.Closed, Workers: b.cfg.Concurrency, Duration: b.cfg.Duration}, &prog, nil)
		return res.CPU
	})
	b.stack.ResumeDeliveries()
	if err != nil {
		stop("create-payment " + how + ": the load generator failed")
		return nil, errors.Join(err, stopProfiles())
	}
	s := res.Summary
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
	var prog lastProgress
	stop := b.progress.Track(func() string {
		return trackLine(fmt.Sprintf("latency at %.0f/s", b.cfg.Rate), prog.get(), b.cfg.Duration)
	})
	b.stack.PauseDeliveries() // as in measureThroughput: the create alone
	var res loadgen.Result
	var err error
	b.measureCPU(phaseLatency, func() time.Duration {
		res, err = b.generate(ctx, loadgen.Spec{URL: b.gatewayCreate(), Mode: loadgen.Open, Rate: b.cfg.Rate, Duration: b.cfg.Duration, MaxInFlight: maxInFlight}, &prog, nil)
		return res.CPU
	})
	b.stack.ResumeDeliveries()
	if err != nil {
		stop(fmt.Sprintf("latency at %.0f/s: the load generator failed", b.cfg.Rate))
		return err
	}
	s := res.Summary
	b.results.countUnits(phaseLatency, "create", s.OK)
	stop(fmt.Sprintf("latency at %.0f/s: %.0f/s served, p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, max %.1f ms; %d refused at once, %d failed, %d dropped",
		b.cfg.Rate, s.PerSecond, s.Latency.P50, s.Latency.P95, s.Latency.P99, s.Latency.Max, s.Refused, s.Failed, s.Dropped))
	b.results.Latency = &s
	return failures(s)
}

// maxInFlight bounds an open-loop run: past it the system is not keeping up
// and further requests are counted as dropped.
const maxInFlight = 10000

func trackLine(name string, s load.Summary, total time.Duration) string {
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
