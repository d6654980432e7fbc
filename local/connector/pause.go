package connector

import (
	"context"
	"sync"
)

// pauser holds the consumers' polling while deliveries are paused. Records
// already fetched are still delivered; nothing is lost or skipped, the
// records simply wait in Kafka.
type pauser struct {
	mu      sync.Mutex
	resumed chan struct{} // nil unless paused; closed by resume
}

func (p *pauser) pause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.resumed == nil {
		p.resumed = make(chan struct{})
	}
}

func (p *pauser) resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.resumed != nil {
		close(p.resumed)
		p.resumed = nil
	}
}

// wait returns true at once unless paused, then once resumed; false if ctx
// ends first.
func (p *pauser) wait(ctx context.Context) bool {
	p.mu.Lock()
	resumed := p.resumed
	p.mu.Unlock()
	if resumed == nil {
		return true
	}
	select {
	case <-resumed:
		return true
	case <-ctx.Done():
		return false
	}
}

// Pause stops fetching records for the functions until Resume; calls in
// flight go on. The benchmark measures a create's own cost this way, with
// nothing processed meanwhile. The cron schedules are not paused.
func (c *Connector) Pause() { c.paused.pause() }

// Resume lets Pause's waiting records be delivered.
func (c *Connector) Resume() { c.paused.resume() }
