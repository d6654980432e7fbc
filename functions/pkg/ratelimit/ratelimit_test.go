package ratelimit_test

import (
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
