package scaler

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestDecide(t *testing.T) {
	rps := Policy{Min: 1, Max: 10, Type: TypeRPS, Target: 50, TargetProportion: 0.9, ZeroDuration: 15 * time.Minute}
	capacity := Policy{Min: 2, Max: 5, Type: TypeCapacity, Target: 5, TargetProportion: 1}
	zero := rps
	zero.Zero, zero.ZeroDuration = true, time.Minute
	waiting := Policy{Min: 1, Max: 3, Type: TypeCapacity, Target: 1700, TargetProportion: 0.9}
	tests := []struct {
		name string
		in   Input
		want int
	}{
		{"rps: 100 rps over 45 per replica → 3", Input{Policy: rps, Replicas: 1, RPS: 100}, 3},
		{"rps: exactly 45 → 1", Input{Policy: rps, Replicas: 2, RPS: 45}, 1},
		{"rps: 45.1 → 2", Input{Policy: rps, Replicas: 1, RPS: 45.1}, 2},
		{"rps: no load → min", Input{Policy: rps, Replicas: 4}, 1},
		{"rps: far over → max", Input{Policy: rps, Replicas: 1, RPS: 10_000}, 10},
		{"rps: in-flight ignored", Input{Policy: rps, Replicas: 1, InFlight: 500}, 1},
		{"capacity: 15 in flight over 5 → 3", Input{Policy: capacity, Replicas: 2, InFlight: 15}, 3},
		{"capacity: 1 in flight → min 2", Input{Policy: capacity, Replicas: 3, InFlight: 1}, 2},
		{"capacity: rps ignored", Input{Policy: capacity, Replicas: 2, RPS: 1000}, 2},
		{"capacity: 40 in flight → max 5", Input{Policy: capacity, Replicas: 2, InFlight: 40}, 5},
		{"zero: idle past zero-duration → 0", Input{Policy: zero, Replicas: 1, Idle: 2 * time.Minute}, 0},
		{"zero: idle but a call in flight → stays", Input{Policy: zero, Replicas: 1, Idle: 2 * time.Minute, InFlight: 1}, 1},
		{"zero: not idle long enough", Input{Policy: zero, Replicas: 1, Idle: 30 * time.Second}, 1},
		{"no zero label: idle forever stays at min", Input{Policy: rps, Replicas: 1, Idle: time.Hour}, 1},
		{"at zero stays until woken", Input{Policy: zero, Replicas: 0, RPS: 100}, 0},

		// process-payment as in stack.yml: a replica holds 1,700 waiting calls.
		{"waiting calls: 5,000 in flight (200/s × 25 s) → 4, capped at max 3", Input{Policy: waiting, Replicas: 1, InFlight: 5000}, 3},
		{"waiting calls: 1,530 in flight → 1", Input{Policy: waiting, Replicas: 2, InFlight: 1530}, 1},
		{"waiting calls: 1,531 in flight → 2", Input{Policy: waiting, Replicas: 1, InFlight: 1531}, 2},
		{"waiting calls: 12,500 (500/s × 25 s) on two cores → 2", Input{Policy: waiting, Replicas: 1, InFlight: 12500, MachineMax: 2}, 2},

		// create-payment as in stack.yml, on this machine's cores.
		{"cores: 1,000 rps on two cores → 2, not 10", Input{Policy: rps, Replicas: 1, RPS: 1000, MachineMax: 2}, 2},
		{"cores: below the bound it does not matter", Input{Policy: rps, Replicas: 1, RPS: 60, MachineMax: 2}, 2},
		{"cores: more cores than max → max", Input{Policy: rps, Replicas: 1, RPS: 10_000, MachineMax: 64}, 10},
		{"cores: min above the cores wins", Input{Policy: capacity, Replicas: 2, InFlight: 100, MachineMax: 1}, 2},
		{"cores: zero still allowed", Input{Policy: zero, Replicas: 1, Idle: 2 * time.Minute, MachineMax: 2}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(tt.in)
			if d.Replicas != tt.want {
				t.Errorf("Decide(%+v) = %d (%s), want %d", tt.in, d.Replicas, d.Reason, tt.want)
			}
			if d.Reason == "" {
				t.Error("no reason given")
			}
		})
	}
}

func TestDecideSaysWhatTheLoadAsksForAndWhyItGivesLess(t *testing.T) {
	waiting := Policy{Min: 1, Max: 3, Type: TypeCapacity, Target: 1700, TargetProportion: 0.9}
	d := Decide(Input{Policy: waiting, Replicas: 1, InFlight: 5000})
	if d.Want != 4 || d.Replicas != 3 || !strings.Contains(d.Reason, "capped at max 3") {
		t.Errorf("5,000 waiting at 1,700 a replica: %+v, want 4 wanted, 3 given at max", d)
	}
	// The old target, 50 a replica, asked for 112 replicas for the same calls.
	waiting.Target = 50
	if d := Decide(Input{Policy: waiting, Replicas: 1, InFlight: 5000}); d.Want != 112 {
		t.Errorf("at target 50: %d wanted, want 112", d.Want)
	}
	rps := Policy{Min: 1, Max: 10, Type: TypeRPS, Target: 50, TargetProportion: 0.9}
	d = Decide(Input{Policy: rps, Replicas: 1, RPS: 1000, MachineMax: 2})
	if d.Want != 23 || d.Replicas != 2 || !strings.Contains(d.Reason, "cores") {
		t.Errorf("1,000 rps on two cores: %+v, want 23 wanted, 2 given, the cores named", d)
	}
	for cores, want := range map[int]int{1: 2, 2: 2, 8: 8} {
		if got := MachineMax(cores); got != want {
			t.Errorf("MachineMax(%d) = %d, want %d", cores, got, want)
		}
	}
}

func TestAutoscalerKeepsToTheMachine(t *testing.T) {
	s := MustScaler(t, map[string]string{
		LabelMin: "1", LabelMax: "10", LabelType: "rps", LabelTarget: "50", LabelTargetProportion: "0.9",
	})
	gw := newFakeGateway()
	now := time.Unix(1_000_000, 0)
	a := &Autoscaler{Scaler: s, Metrics: gw, Window: 10 * time.Second, MachineMax: 2, Log: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }}
	if err := a.Tick(); err != nil {
		t.Fatal(err)
	}
	gw.calls("fn", 10_000, 10_000) // 1,000 rps: 23 replicas by the target, 10 by the label
	now = now.Add(10 * time.Second)
	if err := a.Tick(); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Replicas("fn"); got != 2 {
		t.Errorf("after 1,000 rps on a two-core machine: %d replicas, want 2", got)
	}
}

// fakeGateway is a registry with the gateway's two counters, set by hand.
type fakeGateway struct {
	*prometheus.Registry
	total, started *prometheus.CounterVec
}

func newFakeGateway() *fakeGateway {
	g := &fakeGateway{
		Registry: prometheus.NewRegistry(),
		total:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_function_invocation_total"}, []string{"function_name", "code"}),
		started:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_function_invocation_started"}, []string{"function_name"}),
	}
	g.MustRegister(g.total, g.started)
	return g
}

// calls records n calls of fn started, of which done finished.
func (g *fakeGateway) calls(fn string, n, done int) {
	g.started.WithLabelValues(fn).Add(float64(n))
	g.total.WithLabelValues(fn, "200").Add(float64(done))
}

func TestAutoscalerFollowsTheGatewayMetrics(t *testing.T) {
	s := MustScaler(t, map[string]string{
		LabelMin: "1", LabelMax: "4", LabelType: "rps", LabelTarget: "10", LabelTargetProportion: "1",
		LabelZero: "true", LabelZeroDuration: "30s",
	})
	gw := newFakeGateway()
	now := time.Unix(1_000_000, 0)
	s.now = func() time.Time { return now }
	a := &Autoscaler{Scaler: s, Metrics: gw, Window: 10 * time.Second, Log: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }}
	replicas := func() int { r, _ := s.Replicas("fn"); return r }
	tick := func(advance time.Duration) {
		t.Helper()
		now = now.Add(advance)
		if err := a.Tick(); err != nil {
			t.Fatal(err)
		}
	}

	tick(0)
	gw.calls("fn", 300, 300) // 300 calls in 10 s: 30 rps over 10 per replica
	tick(10 * time.Second)
	if got := replicas(); got != 3 {
		t.Errorf("after 30 rps: %d replicas, want 3", got)
	}
	gw.calls("fn", 1000, 1000) // 100 rps: capped at max
	tick(10 * time.Second)
	if got := replicas(); got != 4 {
		t.Errorf("after 100 rps: %d replicas, want max 4", got)
	}
	tick(11 * time.Second) // no calls over the window
	if got := replicas(); got != 1 {
		t.Errorf("after the load: %d replicas, want min 1", got)
	}
	tick(20 * time.Second) // idle 31 s > zero-duration 30 s
	if got := replicas(); got != 0 {
		t.Errorf("idle past zero-duration: %d replicas, want 0", got)
	}

	if err := s.Scale("fn", 2); err != nil { // by hand: held
		t.Fatal(err)
	}
	tick(ManualHold - time.Second)
	if got := replicas(); got != 2 {
		t.Errorf("a manual scale was overridden: %d replicas, want 2", got)
	}
	tick(2 * time.Second) // the hold is over, and nothing was called
	if got := replicas(); got != 0 {
		t.Errorf("after the hold: %d replicas, want 0 (idle, zero allowed)", got)
	}
}
