// Package outbox relays events that were stored in the same transaction as the
// change they announce. A payment and its "created" event commit together or not
// at all, so no event is ever published for a payment that was rolled back, and
// none is lost when Kafka is down: the relay publishes it later.
package outbox

import (
	"context"
	"fmt"

	cloudevents "github.com/cloudevents/sdk-go/v2"
)

// Message is one stored event bound for a topic.
type Message struct {
	Topic string
	// Key is the Kafka record key: the payment id, so one payment's events stay in order.
	Key   string
	Event cloudevents.Event
}

// Store gives the relay batches of unpublished messages. It locks a batch,
// calls publish with it, marks as published those for which publish returned
// nil, and commits; other relays skip locked messages instead of waiting.
type Store interface {
	PublishOutbox(ctx context.Context, only []string, limit int, publish func(context.Context, []Message) []error) (int, error)
}

// Publisher sends one event to a topic and returns nil only once the broker
// acknowledged it.
type Publisher interface {
	Publish(ctx context.Context, topic, key string, e cloudevents.Event) error
}

// Relay moves messages from the store to the publisher.
type Relay struct {
	Store     Store
	Publisher Publisher
	// BatchSize bounds one transaction's batch.
	BatchSize int
}

// PublishNow publishes the given events at once (create-payment calls it right
// after its commit). Failures are left for the periodic relay.
func (r *Relay) PublishNow(ctx context.Context, eventIDs ...string) (int, error) {
	return r.Store.PublishOutbox(ctx, eventIDs, len(eventIDs), r.publishAll)
}

// Drain publishes batches until the outbox is empty, a batch fails, or ctx
// ends, and returns how many messages it published.
func (r *Relay) Drain(ctx context.Context) (int, error) {
	size := r.BatchSize
	if size <= 0 {
		size = 500
	}
	total := 0
	for ctx.Err() == nil {
		n, err := r.Store.PublishOutbox(ctx, nil, size, r.publishAll)
		total += n
		if err != nil {
			return total, err
		}
		if n < size {
			return total, nil
		}
	}
	return total, ctx.Err()
}

// publishAll sends a batch concurrently: the producer batches records that are
// in flight together, so a batch costs about one round trip, not one per message.
func (r *Relay) publishAll(ctx context.Context, batch []Message) []error {
	errs := make([]error, len(batch))
	done := make(chan struct{}, len(batch))
	for i, m := range batch {
		go func() {
			defer func() { done <- struct{}{} }()
			if err := r.Publisher.Publish(ctx, m.Topic, m.Key, m.Event); err != nil {
				errs[i] = fmt.Errorf("publish event %s: %w", m.Event.ID(), err)
			}
		}()
	}
	for range batch {
		<-done
	}
	return errs
}
