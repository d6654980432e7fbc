package api

import (
	"time"

	"handler/function/functions/pkg/payment"
)

// Gate bounds the requests of one kind that an instance serves at once. Past
// the bound it refuses at once, before anything is done, with 503 and a
// Retry-After: an instance that queued instead would answer late, and a client
// that gives up on a create cannot tell whether the payment was stored.
type Gate struct {
	slots   chan struct{}
	message string
}

// NewGate returns a gate of n slots whose refusals carry message. A gate of
// 0 slots admits everything.
func NewGate(n int, message string) *Gate {
	g := &Gate{message: message}
	if n > 0 {
		g.slots = make(chan struct{}, n)
	}
	return g
}

// Enter takes a slot, or returns an EUNAVAILABLE error when none is free.
// Call leave when the request is done.
func (g *Gate) Enter() (leave func(), err error) {
	if g.slots == nil {
		return func() {}, nil
	}
	select {
	case g.slots <- struct{}{}:
		return func() { <-g.slots }, nil
	default:
		return nil, &payment.Error{Code: payment.EUNAVAILABLE, Message: g.message, RetryAfter: time.Second}
	}
}

// InUse returns how many slots are taken.
func (g *Gate) InUse() int { return len(g.slots) }
