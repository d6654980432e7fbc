// Package ratelimit limits requests per key (a user id) with a token bucket per
// key, in memory. The limit is per instance: with N replicas a user may get up
// to N times the rate, which is enough to stop one client flooding an instance.
package ratelimit

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// idleAfter is how long an unused bucket is kept; a full bucket is the same as
// a new one, so forgetting it changes nothing.
const idleAfter = 10 * time.Minute

// PerKey holds one bucket per key.
type PerKey struct {
	limit rate.Limit
	burst int
	now   func() time.Time

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
	return &PerKey{limit: rate.Limit(perSecond), burst: max(burst, 1), now: now, buckets: map[string]*bucket{}}
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

// sweep forgets idle buckets, at most once a minute; l.mu is held.
func (l *PerKey) sweep(now time.Time) {
	if now.Sub(l.swept) < time.Minute {
		return
	}
	l.swept = now
	for key, b := range l.buckets {
		if now.Sub(b.used) > idleAfter {
			delete(l.buckets, key)
		}
	}
}
