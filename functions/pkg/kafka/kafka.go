// Package kafka publishes CloudEvents to Kafka with Sarama and the CloudEvents
// Kafka binding: structured mode, keyed by payment id, acknowledged by all
// in-sync replicas, idempotent.
package kafka

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/binding/format"

	"handler/function/functions/pkg/metrics"
	"handler/function/functions/pkg/payment"
)

// Config configures the producer.
type Config struct {
	Brokers  []string
	ClientID string
	// DialTimeout bounds connecting to a broker, so that an outage is reported
	// quickly rather than holding an invocation.
	DialTimeout time.Duration
}

// SaramaConfig is the producer configuration every function uses; it is
// documented beside the topics in eventing/kafka.
func SaramaConfig(clientID string, dialTimeout time.Duration) *sarama.Config {
	c := sarama.NewConfig()
	c.ClientID = clientID
	c.Version = sarama.V2_8_0_0
	// acks=all with idempotence: a write survives the loss of a broker, and a
	// retried write is not stored twice.
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Idempotent = true
	c.Net.MaxOpenRequests = 1
	c.Producer.Retry.Max = 5
	c.Producer.Retry.Backoff = 200 * time.Millisecond
	c.Producer.Return.Successes = true
	// Records with the same key (payment id) go to the same partition. CRC32 is
	// librdkafka's hash, so kcat -K and our producers pick the same partition.
	c.Producer.Partitioner = sarama.NewConsistentCRCHashPartitioner
	c.Producer.Flush.Frequency = time.Millisecond
	c.Metadata.Retry.Max = 2
	c.Metadata.Retry.Backoff = 250 * time.Millisecond
	if dialTimeout > 0 {
		c.Net.DialTimeout = dialTimeout
	}
	return c
}

// Publisher sends CloudEvents to topics. It is safe for concurrent use; one per
// process is enough.
type Publisher struct {
	producer sarama.SyncProducer

	mu      sync.Mutex
	senders map[string]*kafka_sarama.Sender // by topic
}

// NewPublisher connects to the brokers.
func NewPublisher(cfg Config) (*Publisher, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("kafka: no brokers")
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 3 * time.Second
	}
	producer, err := sarama.NewSyncProducer(cfg.Brokers, SaramaConfig(cfg.ClientID, cfg.DialTimeout))
	if err != nil {
		return nil, payment.Unavailable("kafka", fmt.Errorf("create producer: %w", err))
	}
	return &Publisher{producer: producer, senders: map[string]*kafka_sarama.Sender{}}, nil
}

// PublishJSON sends event, a CloudEvent already encoded in structured mode
// (JSON), to topic with key as the record key, and returns nil only when Kafka
// acknowledged it. The bytes go to Kafka as they are, through the CloudEvents
// Kafka binding: nothing is decoded or encoded again. Sarama's sync producer
// does not watch ctx, so a deadline returns early while the send finishes in
// the background (the caller then treats the event as not sent, and a later
// retry may duplicate it: consumers are idempotent).
func (p *Publisher) PublishJSON(ctx context.Context, topic, key string, event []byte) error {
	sender, err := p.sender(topic)
	if err != nil {
		return err
	}
	// The record key is given; the binding must not look for it in the event
	// (that would decode it).
	ctx = kafka_sarama.WithSkipKeyMapping(ctx)
	ctx = kafka_sarama.WithMessageKey(ctx, sarama.StringEncoder(key))
	result := make(chan error, 1)
	go func() {
		// Measured here, so a send that outlives ctx still counts its outcome.
		start := time.Now()
		r := sender.Send(ctx, structured(event))
		if cloudevents.IsACK(r) {
			r = nil
		}
		metrics.ObserveProduce(topic, r, time.Since(start))
		result <- r
	}()
	select {
	case err := <-result:
		if err != nil {
			return payment.Unavailable("kafka", fmt.Errorf("send the event keyed %s to %s: %w", key, topic, err))
		}
		return nil
	case <-ctx.Done():
		return payment.Unavailable("kafka", fmt.Errorf("send the event keyed %s to %s: %w", key, topic, ctx.Err()))
	}
}

// structured is a CloudEvent encoded in structured JSON, as a binding message.
type structured []byte

func (m structured) ReadEncoding() binding.Encoding { return binding.EncodingStructured }

func (m structured) ReadStructured(ctx context.Context, w binding.StructuredWriter) error {
	return w.SetStructuredEvent(ctx, format.JSON, bytes.NewReader(m))
}

func (m structured) ReadBinary(context.Context, binding.BinaryWriter) error {
	return binding.ErrNotBinary
}

func (m structured) Finish(error) error { return nil }

func (p *Publisher) sender(topic string) (*kafka_sarama.Sender, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s, ok := p.senders[topic]; ok {
		return s, nil
	}
	s, err := kafka_sarama.NewSenderFromSyncProducer(topic, p.producer)
	if err != nil {
		return nil, fmt.Errorf("sender for %s: %w", topic, err)
	}
	p.senders[topic] = s
	return s, nil
}

// Close flushes and closes the producer. Call it only when no PublishJSON is in
// flight: the binding reports a send on a closed producer as a success.
func (p *Publisher) Close() error { return p.producer.Close() }
