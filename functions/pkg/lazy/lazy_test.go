package lazy_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"handler/function/functions/pkg/lazy"
)

func TestValueRetriesAfterFailureAndKeepsSuccess(t *testing.T) {
	var calls atomic.Int32
	v := lazy.New(func() (int, error) {
		if calls.Add(1) == 1 {
			return 0, errors.New("down")
		}
		return 42, nil
	})
	ctx := context.Background()
	if _, err := v.Get(ctx); err == nil || err.Error() != "down" {
		t.Fatalf("first Get: err = %v, want down", err)
	}
	for range 3 {
		got, err := v.Get(ctx)
		if err != nil || got != 42 {
			t.Fatalf("Get = %d, %v; want 42", got, err)
		}
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("build ran %d times, want 2", n)
	}
}

func TestValueConcurrentCallersShareOneBuild(t *testing.T) {
	var calls atomic.Int32
	release := make(chan struct{})
	v := lazy.New(func() (string, error) {
		calls.Add(1)
		<-release
		return "pool", nil
	})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got, err := v.Get(context.Background()); err != nil || got != "pool" {
				t.Errorf("Get = %q, %v", got, err)
			}
		}()
	}
	close(release)
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Fatalf("build ran %d times, want 1", n)
	}
}

func TestValueGetGivesUpWhenContextEnds(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	v := lazy.New(func() (int, error) { <-release; return 1, nil })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := v.Get(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
