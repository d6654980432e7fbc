package connector

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// DeadLetter is a record of a dead-letter topic with its dlq-* headers decoded.
// The embedded Record is the dead letter itself (its Topic is the dead-letter
// topic; Headers include the dlq-* ones).
type DeadLetter struct {
	Record
	Reason            string
	Status            int // the function's last HTTP status; 0 when it never answered
	Attempts          int
	Function          string
	OriginalTopic     string
	OriginalPartition int32 // -1 when the header is missing
	OriginalOffset    int64 // -1 when the header is missing
}

func decodeDeadLetter(r *kgo.Record) DeadLetter {
	dl := DeadLetter{Record: fromKgo(r), OriginalPartition: -1, OriginalOffset: -1}
	for _, h := range r.Headers {
		v := string(h.Value)
		switch h.Key {
		case HeaderDLQReason:
			dl.Reason = v
		case HeaderDLQStatus:
			dl.Status, _ = strconv.Atoi(v)
		case HeaderDLQAttempts:
			dl.Attempts, _ = strconv.Atoi(v)
		case HeaderDLQFunction:
			dl.Function = v
		case HeaderDLQOriginalTopic:
			dl.OriginalTopic = v
		case HeaderDLQOriginalPartition:
			if p, err := strconv.ParseInt(v, 10, 32); err == nil {
				dl.OriginalPartition = int32(p)
			}
		case HeaderDLQOriginalOffset:
			if o, err := strconv.ParseInt(v, 10, 64); err == nil {
				dl.OriginalOffset = o
			}
		}
	}
	return dl
}

// ListDeadLetters reads every record of the dead-letter topic dlqTopic (for
// example "payments.dlq"), oldest first per partition, without a consumer
// group: listing commits nothing and can be repeated. It reads up to the end
// offsets it finds when it starts.
func ListDeadLetters(ctx context.Context, brokers []string, dlqTopic string) ([]DeadLetter, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ClientID(kafkaConnectorName+"-dlq"))
	if err != nil {
		return nil, fmt.Errorf("list dead letters: kafka client: %w", err)
	}
	defer cl.Close()

	bounds, err := partitionBounds(ctx, cl, dlqTopic)
	if err != nil {
		return nil, fmt.Errorf("list dead letters of %s: %w", dlqTopic, err)
	}
	from := map[int32]kgo.Offset{}
	remaining := map[int32]int64{} // partition → end offset still to reach
	for p, b := range bounds {
		if b.end > b.start {
			from[p] = kgo.NewOffset().At(b.start)
			remaining[p] = b.end
		}
	}
	if len(remaining) == 0 {
		return nil, nil
	}
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{dlqTopic: from})

	var out []DeadLetter
	for len(remaining) > 0 {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("list dead letters of %s: %w", dlqTopic, err)
		}
		var errs []error
		fetches.EachError(func(topic string, p int32, err error) {
			if !kerr.IsRetriable(err) {
				errs = append(errs, fmt.Errorf("%s/%d: %w", topic, p, err))
			}
		})
		if err := errors.Join(errs...); err != nil {
			return nil, fmt.Errorf("list dead letters of %s: %w", dlqTopic, err)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			end, ok := remaining[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			out = append(out, decodeDeadLetter(r))
			if r.Offset+1 >= end {
				delete(remaining, r.Partition)
			}
		})
	}
	return out, nil
}

type bounds struct{ start, end int64 }

// partitionBounds returns the first and the next-to-be-written offset of every
// partition of topic.
func partitionBounds(ctx context.Context, cl *kgo.Client, topic string) (map[int32]bounds, error) {
	states, err := describeTopics(ctx, cl, []string{topic})
	if err != nil {
		return nil, err
	}
	if len(states) != 1 {
		return nil, fmt.Errorf("metadata: %d topics in the answer, want 1", len(states))
	}
	out := map[int32]bounds{}
	for _, p := range states[0].Partitions {
		out[p.Partition] = bounds{start: p.Start, end: p.End}
	}
	return out, nil
}

// ReplayDeadLetters re-produces the dead letters of dlqTopic that filter
// selects (all when filter is nil) to their original topic and partition,
// with the same key and value, the original headers, the dlq-* headers
// removed and dlq-replayed-from set to "<dlqTopic>/<partition>/<offset>". It
// returns how many records were acknowledged.
//
// Replay is at-least-once. Dead letters stay in their topic after a replay
// (Kafka does not delete single records), so replaying twice delivers twice,
// and a replay that fails part-way may have produced some records; the
// consuming functions are idempotent, which makes a second delivery harmless.
// The original partition is kept because the producers and this client may
// hash keys to partitions differently.
func ReplayDeadLetters(ctx context.Context, brokers []string, dlqTopic string, filter func(DeadLetter) bool) (int, error) {
	dls, err := ListDeadLetters(ctx, brokers, dlqTopic)
	if err != nil {
		return 0, fmt.Errorf("replay: %w", err)
	}
	var (
		records []*kgo.Record
		errs    []error
	)
	for _, dl := range dls {
		if filter != nil && !filter(dl) {
			continue
		}
		if dl.OriginalTopic == "" || dl.OriginalPartition < 0 {
			errs = append(errs, fmt.Errorf("replay %s/%d/%d: no %s or %s header",
				dl.Topic, dl.Partition, dl.Offset, HeaderDLQOriginalTopic, HeaderDLQOriginalPartition))
			continue
		}
		headers := make([]kgo.RecordHeader, 0, len(dl.Headers)+1)
		for _, h := range dl.Headers {
			if !strings.HasPrefix(h.Key, dlqHeaderPrefix) {
				headers = append(headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
			}
		}
		headers = append(headers, kgo.RecordHeader{
			Key:   HeaderDLQReplayedFrom,
			Value: fmt.Appendf(nil, "%s/%d/%d", dl.Topic, dl.Partition, dl.Offset),
		})
		records = append(records, &kgo.Record{
			Topic:     dl.OriginalTopic,
			Partition: dl.OriginalPartition,
			Key:       dl.Key,
			Value:     dl.Value,
			Headers:   headers,
		})
	}
	if len(records) == 0 {
		return 0, errors.Join(errs...)
	}

	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.ClientID(kafkaConnectorName+"-replay"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
	)
	if err != nil {
		return 0, fmt.Errorf("replay: kafka client: %w", err)
	}
	defer cl.Close()
	n := 0
	for _, res := range cl.ProduceSync(ctx, records...) {
		if res.Err != nil {
			errs = append(errs, fmt.Errorf("replay to %s/%d: %w", res.Record.Topic, res.Record.Partition, res.Err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}
