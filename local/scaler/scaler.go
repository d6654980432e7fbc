// Package scaler runs each function of the local stack as 0..N replicas (OS
// processes), within its com.openfaas.scale.min/max labels, the way an
// OpenFaaS provider keeps a Deployment's replicas: it starts and stops them,
// replaces one that dies, picks a ready one for each call, and scales from
// zero when a call comes for a function that has none. Autoscaler sets the
// number from the gateway's metrics as the OpenFaaS autoscaler does.
package scaler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"time"

	"handler/function/local/stack"
)

// Scaler holds the replicas of every function of a stack.
type Scaler struct {
	functions map[string]*Function
	log       *slog.Logger
	stop      context.CancelFunc
	now       func() time.Time
}

// New reads each function's scaling labels; newProcess makes a replica of a
// function. Nothing runs until Start.
func New(fns []stack.Function, newProcess func(fn stack.Function) Process, log *slog.Logger) (*Scaler, error) {
	ctx, stop := context.WithCancel(context.Background())
	s := &Scaler{functions: map[string]*Function{}, log: log.With("component", "scaler"), stop: stop, now: time.Now}
	var errs []error
	for _, fn := range fns {
		policy, err := ParsePolicy(fn.Labels)
		if err != nil {
			errs = append(errs, fmt.Errorf("function %s: %w", fn.Name, err))
			continue
		}
		s.functions[fn.Name] = newFunction(ctx, fn.Name, policy, func() Process { return newProcess(fn) }, s.log)
	}
	if err := errors.Join(errs...); err != nil {
		stop()
		return nil, err
	}
	return s, nil
}

// Start starts each function's starting replicas (its minimum, at least one).
func (s *Scaler) Start() {
	for _, name := range s.Names() {
		f := s.functions[name]
		f.Scale(f.policy.Starting())
	}
}

// Stop stops every replica gracefully and waits for them.
func (s *Scaler) Stop() {
	s.stop()
	for _, f := range s.functions {
		f.wg.Wait()
	}
}

// Names returns the functions' names, sorted.
func (s *Scaler) Names() []string {
	names := make([]string, 0, len(s.functions))
	for name := range s.functions {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Function returns a function's replicas, or nil.
func (s *Scaler) Function(name string) *Function { return s.functions[name] }

// Lookup picks a ready replica of a function (gateway.UpstreamFunc).
func (s *Scaler) Lookup(name string) (*url.URL, bool) {
	if f := s.functions[name]; f != nil {
		return f.Pick()
	}
	return nil, false
}

// Replicas returns a function's wanted and ready replicas.
func (s *Scaler) Replicas(name string) (int, int) {
	if f := s.functions[name]; f != nil {
		return f.Replicas()
	}
	return 0, 0
}

// ManualHold is how long a scale asked for through the API (POST
// /system/scale-function) holds before the autoscaler decides for the
// function again. OpenFaaS's autoscaler overrides a manual scale at its next
// turn; here a person scaling by hand gets time to watch what it does.
const ManualHold = 5 * time.Minute

// Scale sets a function's replicas (POST /system/scale-function) and holds
// them for ManualHold.
func (s *Scaler) Scale(name string, replicas int) error {
	f := s.functions[name]
	if f == nil {
		return fmt.Errorf("no function %s", name)
	}
	if replicas > f.policy.Max {
		return fmt.Errorf("%d replicas is above %s=%d", replicas, LabelMax, f.policy.Max)
	}
	f.hold(s.now().Add(ManualHold))
	f.Scale(replicas)
	return nil
}

// Wake starts a function that has no replicas and waits for one to be ready.
func (s *Scaler) Wake(ctx context.Context, name string) error {
	f := s.functions[name]
	if f == nil {
		return fmt.Errorf("no function %s", name)
	}
	return f.Wake(ctx)
}
