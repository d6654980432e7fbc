package ratelimit_test

import (
	"fmt"
	"testing"
	"time"

	"handler/function/functions/pkg/ratelimit"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestPerKeyAllowsBurstThenRefills(t *testing.T) {
	c := &clock{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := ratelimit.New(2, 3, c.now) // 2 a second, bursts of 3
	for i := range 3 {
		if ok, _ := l.Allow("alice"); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, wait := l.Allow("alice")
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("4th request: ok=%v wait=%v, want refused for 500ms", ok, wait)
	}
	if ok, _ := l.Allow("bob"); !ok {
		t.Fatal("another user was limited by alice's requests")
	}
	c.t = c.t.Add(500 * time.Millisecond)
	if ok, _ := l.Allow("alice"); !ok {
		t.Fatal("no token after the wait")
	}
	if ok, _ := l.Allow("alice"); ok {
		t.Fatal("two tokens after 500ms at 2 a second")
	}
}

func TestPerKeyOff(t *testing.T) {
	l := ratelimit.New(0, 0, nil)
	for range 1000 {
		if ok, _ := l.Allow("alice"); !ok {
			t.Fatal("limiting is off, yet a request was refused")
		}
	}
}

// A bucket left alone until it is full again is forgotten, so a run with many
// users does not keep one bucket per user for long; forgetting it must not
// change any answer.
func TestPerKeyForgetsFullBuckets(t *testing.T) {
	c := &clock{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := ratelimit.New(10, 20, c.now)
	for i := range 1000 {
		l.Allow(fmt.Sprint("user-", i))
	}
	if n := l.Len(); n != 1000 {
		t.Fatalf("%d buckets, want 1000", n)
	}
	c.t = c.t.Add(5 * time.Second) // 20 tokens at 10/s refill in 2 s
	for range 20 {
		if ok, _ := l.Allow("user-0"); !ok {
			t.Fatal("a forgotten user did not get a full burst")
		}
	}
	if n := l.Len(); n != 1 {
		t.Fatalf("%d buckets after the sweep, want only the active one", n)
	}
}
