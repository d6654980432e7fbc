package connector

import (
	"context"
	"net"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// MustFreePort returns a TCP port that was free a moment ago.
func MustFreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// MustPartitions returns the partition count of each existing topic.
func MustPartitions(tb testing.TB, brokers []string, topics ...string) map[string]int {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	resp, err := metadataRequest(topics).RequestWith(ctx, MustClient(tb, brokers))
	if err != nil {
		tb.Fatalf("metadata: %v", err)
	}
	out := map[string]int{}
	for _, t := range resp.Topics {
		if t.ErrorCode == 0 && t.Topic != nil {
			out[*t.Topic] = len(t.Partitions)
		}
	}
	return out
}

func TestEnsureTopicsWaitsForTheBrokerAndIsIdempotent(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	port := MustFreePort(t)
	brokers := []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	topics := []string{"payments", "paymentsResults"}

	// Start before the broker exists: EnsureTopics must wait, not fail.
	done := make(chan error, 1)
	go func() { done <- EnsureTopics(ctx, brokers, topics, 3, 1) }()
	select {
	case err := <-done:
		t.Fatalf("EnsureTopics returned %v before any broker was up", err)
	default:
	}
	cluster, err := kfake.NewCluster(kfake.Ports(port), kfake.SeedTopics(1, "existing"))
	if err != nil {
		t.Fatalf("start kfake on port %d: %v", port, err)
	}
	defer cluster.Close()
	if err := <-done; err != nil {
		t.Fatalf("first EnsureTopics: %v", err)
	}

	// Again, and with a topic that already has a different partition count.
	if err := EnsureTopics(ctx, brokers, append(topics, "existing"), 3, 1); err != nil {
		t.Fatalf("second EnsureTopics: %v", err)
	}
	got := MustPartitions(t, brokers, "payments", "payments.dlq", "paymentsResults", "paymentsResults.dlq", "existing", "existing.dlq")
	want := map[string]int{"payments": 3, "payments.dlq": 3, "paymentsResults": 3, "paymentsResults.dlq": 3, "existing": 1, "existing.dlq": 3}
	for topic, n := range want {
		if got[topic] != n {
			t.Errorf("topic %s has %d partitions, want %d", topic, got[topic], n)
		}
	}
}

func TestEnsureTopicsFailsFastOnPermanentErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	// Kafka refuses a topic whose name differs from an existing one only in
	// '.' versus '_': waiting cannot fix that.
	brokers := MustCluster(t, 1, "pay.ments")
	tests := []struct {
		name    string
		brokers []string
		topic   string
	}{
		{"name Kafka rejects", brokers, "pay_ments"},
		{"illegal characters, no broker needed", []string{"127.0.0.1:1"}, "not a valid/topic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := EnsureTopics(ctx, tt.brokers, []string{tt.topic}, 1, 1)
			if err == nil {
				t.Fatalf("EnsureTopics accepted topic %q", tt.topic)
			}
			if ctx.Err() != nil {
				t.Fatalf("EnsureTopics waited for the context instead of failing: %v", err)
			}
		})
	}
}
