// Package lazy builds a value once per process, on first use. A function
// instance builds its pools and producers on its first invocation and reuses
// them; a failed build is not kept, so a later invocation tries again once the
// dependency is back, and nothing panics.
package lazy

import (
	"context"
	"sync"
)

// Value holds a T built by its constructor on the first successful build.
type Value[T any] struct {
	build func() (T, error)

	mu       sync.Mutex
	value    T
	built    bool
	building chan struct{} // closed when the build in flight ends
	lastErr  error
}

// New returns a Value that builds with build.
func New[T any](build func() (T, error)) *Value[T] {
	return &Value[T]{build: build}
}

// Get returns the value, building it if no build has succeeded yet. The build
// runs in the background, and Get waits for it only until ctx ends: a slow
// dependency (a Kafka client dialling dead brokers) cannot hold the caller past
// its deadline. Concurrent callers share one build.
func (v *Value[T]) Get(ctx context.Context) (T, error) {
	v.mu.Lock()
	if v.built {
		defer v.mu.Unlock()
		return v.value, nil
	}
	if v.building == nil {
		v.building = make(chan struct{})
		go v.run(v.building)
	}
	building := v.building
	v.mu.Unlock()

	select {
	case <-building:
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.built {
		return v.value, nil
	}
	var zero T
	return zero, v.lastErr
}

func (v *Value[T]) run(done chan struct{}) {
	value, err := v.build()
	v.mu.Lock()
	defer v.mu.Unlock()
	if err == nil {
		v.value, v.built = value, true
	}
	v.lastErr = err
	v.building = nil
	close(done)
}
