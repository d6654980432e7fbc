// Package outbox relays events that were stored in the same transaction as the
// change they announce. A payment and its "created" event commit together or not
// at all, so no event is ever published for a payment that was rolled back, and
// none is lost when Kafka is down: the relay publishes it later.
package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	cloudevents "github.com/cloudevents/sdk-go/v2"
)

// Message is one stored event bound for a topic.
type Message struct {
	Topic string
	// Key is the Kafka record key: the payment id, so one payment's events stay in order.
	Key   string
	Event cloudevents.Event
	// JSON is Event in structured mode, as it is stored and sent (NewMessage
	// and the stores fill it). Encoding an event is a tenth of a create's
	// CPU: it is done once, not for the store and again for Kafka.
	JSON []byte
}

// NewMessage is e bound for topic with key, encoded once. e's JSON data is
// written as it is, so it must be valid JSON, as the events package makes it:
// the SDK's encoder is called directly because json.Marshal would scan and
// copy its output again (a twentieth of a create's CPU, docs/benchmarks.md).
func NewMessage(topic, key string, e cloudevents.Event) (Message, error) {
	raw, err := e.MarshalJSON()
	if err != nil {
		return Message{}, fmt.Errorf("encode event %s: %w", e.ID(), err)
	}
	return Message{Topic: topic, Key: key, Event: e, JSON: raw}, nil
}

// Encoded is m.JSON, or Event encoded when m has no JSON.
func (m Message) Encoded() ([]byte, error) {
	if m.JSON != nil {
		return m.JSON, nil
	}
	raw, err := json.Marshal(m.Event)
	if err != nil {
		return nil, fmt.Errorf("encode event %s: %w", m.Event.ID(), err)
	}
	return raw, nil
}

// Store keeps the outbox. PublishOutbox locks a batch of unpublished
// messages, calls publish with it, marks as published those for which publish
// returned nil, and commits; other relays skip locked messages instead of
// waiting. MarkPublished marks messages that the caller sent itself.
type Store interface {
	PublishOutbox(ctx context.Context, limit int, publish func(context.Context, []Message) []error) (int, error)
	MarkPublished(ctx context.Context, eventIDs []string) error
}

// Publisher sends one event, already encoded in structured mode, to a topic
// and returns nil only once the broker acknowledged it.
type Publisher interface {
	PublishJSON(ctx context.Context, topic, key string, event []byte) error
}

// Relay moves messages from the store to the publisher.
type Relay struct {
	Store     Store
	Publisher Publisher
	// BatchSize bounds one transaction's batch.
	BatchSize int
}

// PublishNow sends messages that were just committed to the outbox, from
// memory, then marks the sent ones with one statement (create-payment calls it
// right after its commit). No transaction is open and no row is locked while
// Kafka acknowledges. What fails to send is left for the relay; so is what was
// sent but could not be marked, which the relay then sends again
// (at-least-once delivery, which every consumer is built for).
func (r *Relay) PublishNow(ctx context.Context, msgs ...Message) (int, error) {
	var sent []string
	var failed []error
	for i, err := range r.publishAll(ctx, msgs) {
		if err != nil {
			failed = append(failed, err)
			continue
		}
		sent = append(sent, msgs[i].Event.ID())
	}
	if len(sent) > 0 {
		if err := r.Store.MarkPublished(ctx, sent); err != nil {
			failed = append(failed, fmt.Errorf("sent but not marked, the relay will send again: %w", err))
		}
	}
	return len(sent), errors.Join(failed...)
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
		n, err := r.Store.PublishOutbox(ctx, size, r.publishAll)
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
			raw, err := m.Encoded()
			if err == nil {
				err = r.Publisher.PublishJSON(ctx, m.Topic, m.Key, raw)
			}
			if err != nil {
				errs[i] = fmt.Errorf("publish event %s: %w", m.Event.ID(), err)
			}
		}()
	}
	for range batch {
		<-done
	}
	return errs
}
