package scaler

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Input is what one scaling decision for a function is made from.
type Input struct {
	Policy   Policy
	Replicas int // wanted now
	// RPS is calls per second over the window (gateway_function_invocation_total).
	RPS float64
	// InFlight is the most calls in flight seen over the window
	// (gateway_function_invocation_started minus _total).
	InFlight float64
	// Idle is how long no call has started or been in flight.
	Idle time.Duration
	// MachineMax, when positive, bounds the replicas below the policy's max:
	// what this machine can use (Autoscaler.MachineMax).
	MachineMax int
}

// Decision is the replicas a function should have, and why.
type Decision struct {
	Replicas int
	Want     int     // what the load asks for, before min and max
	Load     float64 // the load the decision used: RPS or InFlight by the policy's type
	Reason   string
}

// Decide is the OpenFaaS autoscaler's rule: with a target load per replica,
//
//	desired = ceil(load / (target × target-proportion))
//
// kept within [min, max] (min at least 1), max lowered to MachineMax when
// that is lower (but never below min). A function labelled
// com.openfaas.scale.zero goes to zero once idle for zero-duration with
// nothing in flight. At zero it stays there: the next call wakes it
// (Scaler.Wake), not the autoscaler.
func Decide(in Input) Decision {
	p := in.Policy
	load := in.RPS
	if p.Type == TypeCapacity {
		load = in.InFlight
	}
	switch {
	case in.Replicas == 0:
		return Decision{Replicas: 0, Load: load, Reason: "at zero until a call wakes it"}
	case p.Zero && in.Idle >= p.ZeroDuration && in.InFlight == 0:
		return Decision{Replicas: 0, Load: load, Reason: fmt.Sprintf("idle for %s (zero-duration %s)", in.Idle.Round(time.Second), p.ZeroDuration)}
	}
	perReplica := p.Target * p.TargetProportion
	want := int(math.Ceil(load / perReplica))
	lo, hi := max(p.Min, 1), p.Max
	machine := in.MachineMax > 0 && in.MachineMax < hi
	if machine {
		hi = max(in.MachineMax, lo)
	}
	replicas := min(max(want, lo), hi)
	reason := fmt.Sprintf("%s load %.2f / (target %g × proportion %g) = %d", p.Type, load, p.Target, p.TargetProportion, want)
	switch {
	case want < lo:
		reason += fmt.Sprintf(", raised to min %d", lo)
	case want > hi && machine:
		reason += fmt.Sprintf(", capped at %d, what this machine's cores can use (max %d)", hi, p.Max)
	case want > hi:
		reason += fmt.Sprintf(", capped at max %d", hi)
	}
	return Decision{Replicas: replicas, Want: want, Load: load, Reason: reason}
}

// Autoscaler sets each function's replicas every Interval from the gateway's
// own metrics, the numbers /metrics exports.
type Autoscaler struct {
	Scaler   *Scaler
	Metrics  prometheus.Gatherer
	Interval time.Duration // how often it decides; 2 s when zero
	Window   time.Duration // how far back load is measured; 10 s when zero
	// MachineMax, when positive, is the most replicas it gives any function,
	// below the function's max: on one machine a replica past the cores adds
	// no CPU, only processes contending for it (see MachineMax).
	MachineMax int
	Log        *slog.Logger
	Now        func() time.Time

	history    map[string][]sample
	lastActive map[string]time.Time
}

// sample is a function's gateway counters at one moment.
type sample struct {
	at       time.Time
	total    float64 // finished calls, every code
	inFlight float64
	started  float64
}

// Run decides every Interval until ctx ends.
func (a *Autoscaler) Run(ctx context.Context) {
	if a.Interval == 0 {
		a.Interval = 2 * time.Second
	}
	if a.Window == 0 {
		a.Window = 10 * time.Second
	}
	if a.Now == nil {
		a.Now = time.Now
	}
	a.Log = a.Log.With("component", "autoscaler")
	t := time.NewTicker(a.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := a.Tick(); err != nil {
				a.Log.Warn("read metrics", "err", err)
			}
		}
	}
}

// Tick reads the metrics once and applies a decision to every function.
func (a *Autoscaler) Tick() error {
	now := a.Now()
	counters, err := gatewayCounters(a.Metrics)
	if err != nil {
		return err
	}
	if a.history == nil {
		a.history, a.lastActive = map[string][]sample{}, map[string]time.Time{}
	}
	for _, name := range a.Scaler.Names() {
		f := a.Scaler.Function(name)
		c := counters[name]
		s := sample{at: now, total: c.total, started: c.started, inFlight: max(c.started-c.total, 0)}
		h := append(a.history[name], s)
		for len(h) > 1 && now.Sub(h[0].at) > a.Window {
			h = h[1:]
		}
		a.history[name] = h

		last, seen := a.lastActive[name]
		if !seen || s.inFlight > 0 || (len(h) > 1 && s.started > h[len(h)-2].started) {
			last = now
			a.lastActive[name] = now
		}
		in := Input{Policy: f.Policy(), Idle: now.Sub(last), MachineMax: a.MachineMax}
		in.Replicas, _ = f.Replicas()
		if span := now.Sub(h[0].at).Seconds(); span > 0 {
			in.RPS = (s.total - h[0].total) / span
		}
		for _, past := range h {
			in.InFlight = max(in.InFlight, past.inFlight)
		}
		if f.Held(now) {
			a.Log.Debug("held by a manual scale", "function", name, "replicas", in.Replicas)
			continue
		}
		d := Decide(in)
		attrs := []any{"function", name, "replicas", in.Replicas, "desired", d.Replicas, "type", in.Policy.Type,
			"rps", round(in.RPS), "in_flight", in.InFlight, "idle", in.Idle.Round(time.Second), "reason", d.Reason}
		if d.Replicas == in.Replicas {
			a.Log.Debug("no change", attrs...)
			continue
		}
		a.Log.Info("scaling", attrs...)
		f.Scale(d.Replicas)
	}
	return nil
}

// MachineMax is what a machine with cores CPUs can use of any function's
// replicas: one per core. Nothing else is gained by more processes here: a
// function's calls in flight are bounded per function, not per replica (the
// gateway's connections, the connector's in-flight bound), and a call waiting
// on a timer, as process-payment's do, costs memory, not a process. At least
// two, so that scaling out still shows on a one-core machine.
func MachineMax(cores int) int { return max(cores, 2) }

func round(f float64) float64 { return math.Round(f*100) / 100 }

type counter struct{ total, started float64 }

// gatewayCounters sums gateway_function_invocation_total over its codes and
// reads gateway_function_invocation_started, by function.
func gatewayCounters(g prometheus.Gatherer) (map[string]counter, error) {
	families, err := g.Gather()
	if err != nil {
		return nil, err
	}
	out := map[string]counter{}
	for _, mf := range families {
		name := mf.GetName()
		if name != "gateway_function_invocation_total" && name != "gateway_function_invocation_started" {
			continue
		}
		for _, m := range mf.GetMetric() {
			fn := ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "function_name" {
					fn = l.GetValue()
				}
			}
			c := out[fn]
			if name == "gateway_function_invocation_total" {
				c.total += m.GetCounter().GetValue()
			} else {
				c.started += m.GetCounter().GetValue()
			}
			out[fn] = c
		}
	}
	return out, nil
}
