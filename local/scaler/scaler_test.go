package scaler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"handler/function/local/stack"
	"handler/function/local/testenv"
)

const waitLimit = 30 * time.Second

// fakeProcess is a replica that is ready at once at a unique address and
// runs until stopped or killed.
type fakeProcess struct {
	id     int64
	killed chan struct{}
}

var fakeIDs atomic.Int64

func newFake() Process { return &fakeProcess{id: fakeIDs.Add(1), killed: make(chan struct{})} }

func (p *fakeProcess) Run(ctx context.Context, ready func(*url.URL)) error {
	ready(&url.URL{Scheme: "http", Host: fmt.Sprintf("replica-%d", p.id)})
	select {
	case <-ctx.Done():
		return nil
	case <-p.killed:
		return errors.New("killed")
	}
}

func (p *fakeProcess) Kill() error { close(p.killed); return nil }

func MustScaler(tb testing.TB, labels map[string]string) *Scaler {
	tb.Helper()
	s, err := New([]stack.Function{{Name: "fn", Labels: labels}}, func(stack.Function) Process { return newFake() }, slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Stop)
	s.Start()
	return s
}

func available(s *Scaler) int { _, a := s.Replicas("fn"); return a }

func TestStartsMinReplicasAndSpreadsCalls(t *testing.T) {
	s := MustScaler(t, map[string]string{LabelMin: "3", LabelMax: "5"})
	testenv.MustEventually(t, "3 ready replicas", func() bool { return available(s) == 3 })
	seen := map[string]int{}
	for range 9 {
		u, ok := s.Lookup("fn")
		if !ok {
			t.Fatal("no replica picked")
		}
		seen[u.Host]++
	}
	if len(seen) != 3 {
		t.Errorf("calls went to %v, want all 3 replicas", seen)
	}
	for host, n := range seen {
		if n != 3 {
			t.Errorf("%s got %d of 9 calls, want 3", host, n)
		}
	}
}

func TestScaleSetsReplicasWithinMax(t *testing.T) {
	s := MustScaler(t, map[string]string{LabelMin: "1", LabelMax: "3"})
	if err := s.Scale("fn", 3); err != nil {
		t.Fatal(err)
	}
	testenv.MustEventually(t, "3 ready", func() bool { return available(s) == 3 })
	if err := s.Scale("fn", 4); err == nil {
		t.Error("scale to 4 above max 3 accepted")
	}
	if err := s.Scale("fn", 0); err != nil {
		t.Fatal(err)
	}
	if r, a := s.Replicas("fn"); r != 0 || a != 0 {
		t.Errorf("after scale to 0: %d replicas, %d available", r, a)
	}
	if _, ok := s.Lookup("fn"); ok {
		t.Error("a replica was picked at zero")
	}
}

func TestDeadReplicaIsReplaced(t *testing.T) {
	s := MustScaler(t, map[string]string{LabelMin: "2", LabelMax: "2"})
	testenv.MustEventually(t, "2 ready", func() bool { return available(s) == 2 })
	if err := s.Function("fn").Kill(); err != nil {
		t.Fatal(err)
	}
	testenv.MustEventually(t, "the dead replica replaced", func() bool {
		return s.Function("fn").Restarts() == 1 && available(s) == 2
	})
}

func TestWakeFromZero(t *testing.T) {
	s := MustScaler(t, map[string]string{LabelMin: "2", LabelMax: "4", LabelZero: "true"})
	if err := s.Scale("fn", 0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := s.Wake(ctx, "fn"); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Lookup("fn"); !ok {
		t.Error("no replica ready after Wake")
	}
	if r, _ := s.Replicas("fn"); r != 2 {
		t.Errorf("woke to %d replicas, want min 2", r)
	}
}

func TestParsePolicy(t *testing.T) {
	p, err := ParsePolicy(map[string]string{LabelMin: "2", LabelMax: "8", LabelType: "capacity",
		LabelTarget: "5", LabelTargetProportion: "0.7", LabelZero: "true", LabelZeroDuration: "2m"})
	if err != nil {
		t.Fatal(err)
	}
	want := Policy{Min: 2, Max: 8, Type: TypeCapacity, Target: 5, TargetProportion: 0.7, Zero: true, ZeroDuration: 2 * time.Minute}
	if p != want {
		t.Errorf("policy = %+v, want %+v", p, want)
	}
	if p, err := ParsePolicy(nil); err != nil || p != DefaultPolicy {
		t.Errorf("no labels = %+v, %v; want OpenFaaS's defaults", p, err)
	}
	for _, bad := range []map[string]string{
		{LabelMin: "3", LabelMax: "2"},
		{LabelMax: "0"},
		{LabelMin: "-1"},
		{LabelType: "cpu"},
		{LabelTarget: "0"},
		{LabelTargetProportion: "1.5"},
		{LabelZero: "maybe"},
		{LabelZeroDuration: "soon"},
	} {
		if _, err := ParsePolicy(bad); err == nil {
			t.Errorf("labels %v accepted", bad)
		}
	}
}

// brokenProcess exits before it is ready, as a function with a bad setting.
type brokenProcess struct{}

func (brokenProcess) Run(context.Context, func(*url.URL)) error {
	return errors.New("config: X is required")
}
func (brokenProcess) Kill() error { return nil }

func TestAReplicaThatNeverListensIsAStartError(t *testing.T) {
	s, err := New([]stack.Function{{Name: "fn"}}, func(stack.Function) Process { return brokenProcess{} }, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	s.Start()
	testenv.MustEventually(t, "a start error", func() bool { return s.Function("fn").StartErr() != nil })
	if err := s.Function("fn").StartErr(); err.Error() != "config: X is required" {
		t.Errorf("start error %v, want the replica's own", err)
	}
}

func TestACrashAfterListeningIsNoStartError(t *testing.T) {
	s := MustScaler(t, nil)
	testenv.MustEventually(t, "a ready replica", func() bool { return available(s) == 1 })
	if err := s.Function("fn").Kill(); err != nil {
		t.Fatal(err)
	}
	testenv.MustEventually(t, "the replica replaced", func() bool { return s.Function("fn").Restarts() == 1 && available(s) == 1 })
	if err := s.Function("fn").StartErr(); err != nil {
		t.Errorf("start error %v after a replica that had listened crashed", err)
	}
}

// A call waking a function whose replica cannot start hears why as soon as
// the replica exits, not at the end of its wait.
func TestWakeFailsWhenTheReplicaCannotStart(t *testing.T) {
	var broken atomic.Bool
	s, err := New([]stack.Function{{Name: "fn", Labels: map[string]string{LabelZero: "true"}}}, func(stack.Function) Process {
		if broken.Load() {
			return brokenProcess{}
		}
		return newFake()
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	s.Start()
	testenv.MustEventually(t, "a ready replica", func() bool { return available(s) == 1 })
	if err := s.Scale("fn", 0); err != nil {
		t.Fatal(err)
	}
	broken.Store(true) // its configuration broke while it slept
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	err = s.Wake(ctx, "fn")
	if err == nil || !strings.Contains(err.Error(), "config: X is required") || ctx.Err() != nil {
		t.Fatalf("Wake = %v, want the replica's own error before the deadline", err)
	}
}
