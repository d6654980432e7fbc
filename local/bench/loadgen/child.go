package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/google/uuid"

	"handler/function/local/bench/load"
)

// ChildArg is the argument that makes the benchmark's executable a load
// generator: its main hands over to Child when it is the only one.
const ChildArg = "loadgen-child"

// Modes of a run.
const (
	// Closed: Workers clients, each sending its next create as soon as the
	// last is answered (throughput).
	Closed = "closed"
	// Open: Rate creates a second, each due at its time whether or not
	// earlier ones were answered; at most MaxInFlight at once (latency).
	Open = "open"
)

// Spec is what a child is asked to do.
type Spec struct {
	URL      string        `json:"url"`
	APIKey   string        `json:"apiKey"`
	Mode     string        `json:"mode"`
	Duration time.Duration `json:"duration"`

	Workers     int     `json:"workers,omitempty"`     // closed loop
	Rate        float64 `json:"rate,omitempty"`        // open loop, creates per second
	MaxInFlight int     `json:"maxInFlight,omitempty"` // open loop

	// IDs asks for every created payment's id and the moment its request
	// was sent (an end-to-end run follows each to its result).
	IDs bool `json:"ids,omitempty"`
	// ProgressEvery is how often the child reports; 250 ms when zero.
	ProgressEvery time.Duration `json:"progressEvery,omitempty"`
}

// Validate reports a spec that cannot run.
func (s Spec) Validate() error {
	var errs []error
	if s.URL == "" || s.Duration <= 0 {
		errs = append(errs, errors.New("a url and a positive duration are needed"))
	}
	switch s.Mode {
	case Closed:
		if s.Workers < 1 {
			errs = append(errs, errors.New("a closed loop needs at least one worker"))
		}
	case Open:
		if s.Rate <= 0 || s.MaxInFlight < 1 {
			errs = append(errs, errors.New("an open loop needs a positive rate and in-flight bound"))
		}
	default:
		errs = append(errs, fmt.Errorf("mode %q is neither %q nor %q", s.Mode, Closed, Open))
	}
	return errors.Join(errs...)
}

// Message is one line of a child's output.
type Message struct {
	// Progress counts the calls so far, without latencies.
	Progress *load.Summary `json:"progress,omitempty"`
	// Created lists the payments created since the last message, when the
	// spec asks for them.
	Created []Created `json:"created,omitempty"`
	// Done is the run's summary, in the last message, with Started: when the
	// run began (wall clock, to compare with the parent's).
	Done    *load.Summary `json:"done,omitempty"`
	Started time.Time     `json:"started,omitzero"`
}

// Created is one payment created, and when its request was sent.
type Created struct {
	ID   uuid.UUID `json:"id"`
	Sent time.Time `json:"sent"`
}

// Child is the load generator's process: it reads a Spec from in, runs it,
// and writes Messages to out.
func Child(ctx context.Context, in io.Reader, out io.Writer) error {
	var spec Spec
	if err := json.NewDecoder(in).Decode(&spec); err != nil {
		return fmt.Errorf("read the spec: %w", err)
	}
	if err := spec.Validate(); err != nil {
		return err
	}
	client := NewClient()
	defer client.CloseIdleConnections()
	create := func(ctx context.Context) (uuid.UUID, error) { return Create(ctx, client, spec.URL, spec.APIKey) }
	return serve(ctx, spec, create, &load.Recorder{}, out)
}

// serve runs spec with create, recording every call in rec, and writes its
// progress and then its summary to out.
func serve(ctx context.Context, spec Spec, create func(context.Context) (uuid.UUID, error), rec *load.Recorder, out io.Writer) error {
	enc := json.NewEncoder(out)
	var mu sync.Mutex
	var created []Created
	call := func(ctx context.Context) error {
		sent := time.Now()
		id, err := create(ctx)
		if err == nil && spec.IDs {
			mu.Lock()
			created = append(created, Created{ID: id, Sent: sent})
			mu.Unlock()
		}
		return err
	}
	newlyCreated := func() []Created {
		mu.Lock()
		defer mu.Unlock()
		batch := created
		created = nil
		return batch
	}

	every := spec.ProgressEvery
	if every <= 0 {
		every = 250 * time.Millisecond
	}
	done := make(chan struct{})
	reported := make(chan error, 1)
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				reported <- nil
				return
			case <-t.C:
				s := rec.Snapshot()
				if err := enc.Encode(Message{Progress: &s, Created: newlyCreated()}); err != nil {
					reported <- err // the parent is gone; the run ends with its duration
					return
				}
			}
		}
	}()
	started := time.Now()
	if spec.Mode == Closed {
		load.Closed(ctx, spec.Workers, spec.Duration, call, rec)
	} else {
		load.Open(ctx, spec.Rate, spec.Duration, spec.MaxInFlight, call, rec)
	}
	close(done)
	if err := <-reported; err != nil {
		return fmt.Errorf("report progress: %w", err)
	}
	s := rec.Summary()
	return enc.Encode(Message{Created: newlyCreated(), Done: &s, Started: started})
}
