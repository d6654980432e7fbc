package connector

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestListAndReplayDeadLetters(t *testing.T) {
	brokers := MustCluster(t, 3, "payments")
	// The function rejects "bad-*" records the first time and accepts them
	// when they come back from a replay.
	gw := MustGateway(t, func(_ context.Context, c call) int {
		if bytes.HasPrefix([]byte(c.header.Get("X-Kafka-Key")), []byte("bad-")) && c.header.Get("X-Kafka-Dlq-Replayed-From") == "" {
			return http.StatusBadRequest
		}
		return http.StatusOK
	})
	MustStart(t, testConfig(t, brokers, gw.URL, fn("process-payment", "payments")))

	cl := MustClient(t, brokers)
	var recs []*kgo.Record
	for i := range 6 {
		key := fmt.Sprintf("good-%d", i)
		if i%2 == 0 {
			key = fmt.Sprintf("bad-%d", i)
		}
		recs = append(recs, &kgo.Record{Topic: "payments", Key: []byte(key), Value: fmt.Appendf(nil, "value-%d", i),
			Headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte("application/json")}}})
	}
	MustProduce(t, cl, recs...)
	var dls []DeadLetter
	MustEventually(t, "three dead letters", func() bool {
		dls = MustListDeadLetters(t, brokers, "payments.dlq")
		return len(dls) == 3
	})
	for _, dl := range dls {
		if !bytes.HasPrefix(dl.Key, []byte("bad-")) || dl.Status != http.StatusBadRequest {
			t.Errorf("dead letter %q with status %d, want a bad-* key with 400", dl.Key, dl.Status)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	none, err := ReplayDeadLetters(ctx, brokers, "payments.dlq", func(DeadLetter) bool { return false })
	if err != nil || none != 0 {
		t.Fatalf("replay of nothing: %d, %v", none, err)
	}
	n, err := ReplayDeadLetters(ctx, brokers, "payments.dlq", func(dl DeadLetter) bool { return string(dl.Key) == "bad-2" })
	if err != nil || n != 1 {
		t.Fatalf("replay bad-2: %d replayed, %v; want 1", n, err)
	}

	var replayed call
	MustEventually(t, "the replayed record to reach the function", func() bool {
		for _, c := range gw.Calls() {
			if c.header.Get("X-Kafka-Dlq-Replayed-From") != "" {
				replayed = c
				return true
			}
		}
		return false
	})
	original := recs[2]
	if got := replayed.header.Get("X-Kafka-Key"); got != "bad-2" || !bytes.Equal(replayed.body, original.Value) {
		t.Errorf("replayed %q=%q, want bad-2=%q", got, replayed.body, original.Value)
	}
	if got := replayed.header.Get("X-Kafka-Partition"); got != fmt.Sprint(original.Partition) {
		t.Errorf("replayed to partition %s, want the original %d", got, original.Partition)
	}
	if got := replayed.header.Get("Content-Type"); got != "application/json" {
		t.Errorf("replayed record lost its content-type header: Content-Type %q", got)
	}
	for _, h := range []string{"X-Kafka-Dlq-Reason", "X-Kafka-Dlq-Status", "X-Kafka-Dlq-Original-Offset"} {
		if v := replayed.header.Get(h); v != "" {
			t.Errorf("replayed record still carries %s=%q", h, v)
		}
	}
	var from string
	for _, dl := range dls {
		if string(dl.Key) == "bad-2" {
			from = fmt.Sprintf("payments.dlq/%d/%d", dl.Partition, dl.Offset)
		}
	}
	if got := replayed.header.Get("X-Kafka-Dlq-Replayed-From"); got != from {
		t.Errorf("dlq-replayed-from %q, want %q", got, from)
	}
	if got := MustListDeadLetters(t, brokers, "payments.dlq"); len(got) != 3 {
		t.Errorf("%d dead letters after the replay, want the same 3 (replay does not delete)", len(got))
	}
}

func TestListDeadLettersOfAnEmptyTopic(t *testing.T) {
	brokers := MustCluster(t, 3, "payments")
	if dls := MustListDeadLetters(t, brokers, "payments.dlq"); len(dls) != 0 {
		t.Fatalf("%d dead letters in a new topic", len(dls))
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if _, err := ListDeadLetters(ctx, brokers, "nope.dlq"); err == nil {
		t.Fatal("listing a topic that does not exist succeeded")
	}
}
