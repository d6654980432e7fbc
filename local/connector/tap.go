package connector

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Record is a Kafka record as the Tap sees it.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Timestamp time.Time
	Key       []byte
	Value     []byte
	Headers   []Header
}

// Header is one record header.
type Header struct {
	Key   string
	Value []byte
}

func fromKgo(r *kgo.Record) Record {
	hs := make([]Header, len(r.Headers))
	for i, h := range r.Headers {
		hs[i] = Header{Key: h.Key, Value: h.Value}
	}
	return Record{
		Topic:     r.Topic,
		Partition: r.Partition,
		Offset:    r.Offset,
		Timestamp: r.Timestamp,
		Key:       r.Key,
		Value:     r.Value,
		Headers:   hs,
	}
}

// runTap reads topics without a consumer group, starting with the records
// stamped at or after since, and passes each to tap until ctx ends. It is
// independent of the delivering consumers so that it sees every record once,
// however many functions subscribe to a topic and however often a record is
// redelivered, and it sees the dead-letter topics nobody consumes.
func runTap(ctx context.Context, brokers, topics []string, since time.Time, tap func(Record), log *slog.Logger) error {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.ClientID(kafkaConnectorName+"-tap"),
		kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AfterMilli(since.UnixMilli())),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// The feed is for people watching: a record may wait a fifth of a
		// second. By default a broker answers a fetch as soon as one record
		// is there, so at a steady 2,000 records/s the tap made 140–210
		// fetches/s, each a request, a wake-up and a response in the broker
		// (kfake runs in the stack's process) and here; batched, 16/s. The
		// price is five empty fetches a second per broker when all is idle.
		kgo.FetchMinBytes(32<<10),
		kgo.FetchMaxWait(200*time.Millisecond),
		kgo.WithLogger(kgoLogger{log}),
	)
	if err != nil {
		return fmt.Errorf("kafka client for the tap: %w", err)
	}
	defer cl.Close()
	log.Info("tapping", "topics", topics)
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return nil
		}
		fetches.EachError(func(topic string, p int32, err error) {
			log.Debug("tap fetch failed", "topic", topic, "partition", p, "err", err)
		})
		fetches.EachRecord(func(r *kgo.Record) { tap(fromKgo(r)) })
	}
}
