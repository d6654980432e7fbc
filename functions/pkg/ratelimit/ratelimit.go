// Package ratelimit limits requests per key (a user id) with a token bucket per
// key, in memory. The limit is per instance: with N replicas a user may get up
// to N times the rate, which is enough to stop one client flooding an instance.
package ratelimit

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// PerKey holds one bucket per key.
type PerKey struct {
	limit rate.Limit
	burst int
	now   func() time.Time
	// idleAfter is how long an unused bucket takes to fill up again. A full
	// bucket is the same as a new one, so it can be forgotten then.
	idleAfter time.Duration

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	limiter *rate.Limiter
	used    time.Time
}

// New allows perSecond requests a second per key, with bursts of burst.
// perSecond <= 0 turns limiting off.
func New(perSecond float64, burst int, now func() time.Time) *PerKey {
	if now == nil {
		now = time.Now
	}
	burst = max(burst, 1)
	l := &PerKey{limit: rate.Limit(perSecond), burst: burst, now: now, buckets: map[string]*bucket{}}
	if perSecond > 0 {
		l.idleAfter = time.Duration(float64(burst) / perSecond * float64(time.Second))
	}
	return l
}

// Allow takes a token for key. When none is left it reports how long until one is.
func (l *PerKey) Allow(key string) (bool, time.Duration) {
	if l == nil || l.limit <= 0 {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{limiter: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[key] = b
	}
	b.used = now
	r := b.limiter.ReserveN(now, 1)
	if delay := r.DelayFrom(now); delay > 0 {
		r.CancelAt(now)
		return false, delay
	}
	return true, 0
}

// sweep forgets full buckets, at most once every few seconds; l.mu is held.
func (l *PerKey) sweep(now time.Time) {
	if now.Sub(l.swept) < max(l.idleAfter, 5*time.Second) {
		return
	}
	l.swept = now
	for key, b := range l.buckets {
		if now.Sub(b.used) >= l.idleAfter {
			delete(l.buckets, key)
		}
	}
}

// Len is how many buckets are kept.
func (l *PerKey) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
