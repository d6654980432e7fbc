//go:build integration

package kafka_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"handler/function/functions/pkg/events"
	"handler/function/functions/pkg/kafka"
	"handler/function/functions/pkg/payment"
	"handler/function/local/testenv"
)

// PublishJSON writes structured-mode records keyed by payment id (one
// payment's events on one partition), with the bytes given as the value.
func TestPublishWritesStructuredEventsKeyedByPaymentID(t *testing.T) {
	_, brokers := testenv.MustKafka(t, "payments")
	pub, err := kafka.NewPublisher(kafka.Config{Brokers: brokers, ClientID: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	p := payment.New(uuid.New(), payment.Request{UserID: uuid.New(), AccountNumber: "1", Amount: 100}, time.Now())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	encoded, err := json.Marshal(events.Created(p))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := pub.PublishJSON(ctx, "payments", p.ID.String(), encoded); err != nil {
			t.Fatal(err)
		}
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics("payments"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var records []*kgo.Record
	for len(records) < 2 && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { records = append(records, r) })
	}
	if len(records) != 2 {
		t.Fatalf("read %d records, want 2", len(records))
	}
	if records[0].Partition != records[1].Partition {
		t.Fatalf("the same key went to partitions %d and %d", records[0].Partition, records[1].Partition)
	}
	for _, r := range records {
		if string(r.Key) != p.ID.String() {
			t.Fatalf("key %q, want the payment id", r.Key)
		}
		var contentType string
		for _, h := range r.Headers {
			if strings.EqualFold(h.Key, "content-type") {
				contentType = string(h.Value)
			}
		}
		if !strings.HasPrefix(contentType, "application/cloudevents+json") {
			t.Fatalf("content-type %q, want structured mode", contentType)
		}
		var ce map[string]any
		if err := json.Unmarshal(r.Value, &ce); err != nil {
			t.Fatal(err)
		}
		if ce["type"] != payment.EventCreated || ce["subject"] != p.ID.String() || ce["partitionkey"] != p.ID.String() || ce["data"] == nil {
			t.Fatalf("value is not the structured event: %s", r.Value)
		}
	}
	if string(records[1].Value) != string(encoded) {
		t.Fatalf("sent %s, want the bytes given: %s", records[1].Value, encoded)
	}
}

func TestPublishToAStoppedBrokerIsUnavailable(t *testing.T) {
	cluster, brokers := testenv.MustKafka(t, "payments")
	pub, err := kafka.NewPublisher(kafka.Config{Brokers: brokers, ClientID: "test", DialTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cluster.Close()
	p := payment.New(uuid.New(), payment.Request{UserID: uuid.New(), AccountNumber: "1", Amount: 100}, time.Now())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	err = pub.PublishJSON(ctx, "payments", p.ID.String(), []byte(`{}`))
	if code := payment.ErrorCode(err); code != payment.EUNAVAILABLE {
		t.Fatalf("publish to a stopped broker: %v (code %q), want unavailable", err, code)
	}
}
