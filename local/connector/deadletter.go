package connector

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
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
	// Replayed says a replay already sent this letter back (ReplayGroup's
	// offset is past it).
	Replayed bool
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

// ReplayGroup is the consumer group whose committed offsets on a dead-letter
// topic say how far replay got: ReplayDeadLetters sends each letter once.
const ReplayGroup = kafkaConnectorName + "-dlq-replay"

// reachTimeout bounds the first answer from Kafka, so that a stack that is
// not running fails the dlq tool in seconds, not after the client's retries.
const reachTimeout = 5 * time.Second

// ErrUnreachable says no broker answered within reachTimeout.
var ErrUnreachable = errors.New("kafka did not answer")

// ListDeadLetters reads every record of the dead-letter topic dlqTopic (for
// example "payments.dlq"), oldest first per partition, and marks those a
// replay already sent. Listing commits nothing and can be repeated. It reads
// up to the end offsets it finds when it starts.
func ListDeadLetters(ctx context.Context, brokers []string, dlqTopic string) ([]DeadLetter, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ClientID(kafkaConnectorName+"-dlq"))
	if err != nil {
		return nil, fmt.Errorf("list dead letters: kafka client: %w", err)
	}
	defer cl.Close()
	replayed, err := replayedUpTo(ctx, cl, brokers, dlqTopic)
	if err != nil {
		return nil, fmt.Errorf("list dead letters of %s: %w", dlqTopic, err)
	}
	letters, err := readLetters(ctx, cl, dlqTopic, nil)
	if err != nil {
		return nil, fmt.Errorf("list dead letters of %s: %w", dlqTopic, err)
	}
	for i, l := range letters {
		letters[i].Replayed = l.Offset < replayed[l.Partition]
	}
	return letters, nil
}

// replayedUpTo asks the group coordinator for ReplayGroup's committed
// offsets on topic: per partition, the offset before which every letter was
// replayed. It is the first request of the dlq tool, so it also says quickly
// when Kafka is not there.
func replayedUpTo(ctx context.Context, cl *kgo.Client, brokers []string, topic string) (map[int32]int64, error) {
	reachCtx, cancel := context.WithTimeout(ctx, reachTimeout)
	defer cancel()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = ReplayGroup
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic = topic
	bounds, err := partitionBounds(reachCtx, cl, topic)
	if errors.Is(err, ErrUnreachable) {
		return nil, fmt.Errorf("%w (brokers %s, waited up to %v)", err, strings.Join(brokers, ","), reachTimeout)
	}
	if err != nil {
		return nil, err
	}
	for p := range bounds {
		rt.Partitions = append(rt.Partitions, p)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(reachCtx, cl)
	if err != nil {
		return nil, fmt.Errorf("fetch the offsets of group %s: %w", ReplayGroup, err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); errors.Is(err, kerr.GroupIDNotFound) {
		return map[int32]int64{}, nil // no replay yet (kfake says so; Kafka answers no offsets)
	} else if err != nil {
		return nil, fmt.Errorf("fetch the offsets of group %s: %w", ReplayGroup, err)
	}
	out := map[int32]int64{}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return nil, fmt.Errorf("fetch the offsets of group %s on %s/%d: %w", ReplayGroup, t.Topic, p.Partition, err)
			}
			if p.Offset >= 0 {
				out[p.Partition] = p.Offset
			}
		}
	}
	return out, nil
}

// readLetters reads topic from the given offsets (the partitions' starts
// where from has none) to the end offsets it finds first.
func readLetters(ctx context.Context, cl *kgo.Client, topic string, from map[int32]int64) ([]DeadLetter, error) {
	bounds, err := partitionBounds(ctx, cl, topic)
	if err != nil {
		return nil, err
	}
	start := map[int32]kgo.Offset{}
	remaining := map[int32]int64{} // partition → end offset still to reach
	for p, b := range bounds {
		first := max(b.start, from[p])
		if b.end > first {
			start[p] = kgo.NewOffset().At(first)
			remaining[p] = b.end
		}
	}
	if len(remaining) == 0 {
		return nil, nil
	}
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{topic: start})
	defer cl.RemoveConsumePartitions(map[string][]int32{topic: slices.Collect(maps.Keys(start))})

	var out []DeadLetter
	for len(remaining) > 0 {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var errs []error
		fetches.EachError(func(topic string, p int32, err error) {
			if !kerr.IsRetriable(err) {
				errs = append(errs, fmt.Errorf("%s/%d: %w", topic, p, err))
			}
		})
		if err := errors.Join(errs...); err != nil {
			return nil, err
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

// ReplayDeadLetters re-produces the dead letters of dlqTopic that no replay
// has sent yet to their original topic and partition, with the same key and
// value, the original headers, the dlq-* headers removed and
// dlq-replayed-from set to "<dlqTopic>/<partition>/<offset>"; then it
// commits, as ReplayGroup, how far it got on each partition. It returns how
// many records were acknowledged.
//
// So each letter is replayed once, however often the command runs. A letter
// that fails again comes back as a new letter, which the next replay sends.
// A replay that fails part-way commits only what was acknowledged, so the
// rest is sent next time (a letter sent but not committed may go twice; the
// consuming functions are idempotent). The original partition is kept
// because the producers and this client may hash keys to partitions
// differently.
func ReplayDeadLetters(ctx context.Context, brokers []string, dlqTopic string) (int, error) {
	return replay(ctx, brokers, dlqTopic, nil)
}

// ReplayDeadLetter re-produces the one dead letter of dlqTopic at partition
// and offset, as ReplayDeadLetters does, whether or not a replay sent it
// before: a person asked for this one (the System page's button). It
// returns 0 when there is no such letter. When it is the next letter
// ReplayDeadLetters would send, the commit moves past it, so that a later
// replay of the topic does not send it again.
func ReplayDeadLetter(ctx context.Context, brokers []string, dlqTopic string, partition int32, offset int64) (int, error) {
	return replay(ctx, brokers, dlqTopic, func(dl DeadLetter) bool { return dl.Partition == partition && dl.Offset == offset })
}

// replay sends the letters that pick selects, or, when pick is nil, those
// no replay has sent yet, and commits past what it handled (see
// ReplayDeadLetters).
func replay(ctx context.Context, brokers []string, dlqTopic string, pick func(DeadLetter) bool) (int, error) {
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
	replayed, err := replayedUpTo(ctx, cl, brokers, dlqTopic)
	if err != nil {
		return 0, fmt.Errorf("replay %s: %w", dlqTopic, err)
	}
	from := replayed
	if pick != nil {
		from = nil // a letter picked by hand may lie before the replay's offset
	} else {
		pick = func(DeadLetter) bool { return true }
	}
	dls, err := readLetters(ctx, cl, dlqTopic, from)
	if err != nil {
		return 0, fmt.Errorf("replay %s: %w", dlqTopic, err)
	}
	var (
		records []*kgo.Record
		errs    []error
		letter  = map[*kgo.Record]DeadLetter{}
		sent    = map[string]bool{} // replayedFrom of each acknowledged letter
	)
	for _, dl := range dls {
		if !pick(dl) {
			continue
		}
		if dl.OriginalTopic == "" || dl.OriginalPartition < 0 {
			// It can never be replayed: say so, and do not stop at it forever.
			errs = append(errs, fmt.Errorf("replay %s: no %s or %s header",
				replayedFrom(dl), HeaderDLQOriginalTopic, HeaderDLQOriginalPartition))
			sent[replayedFrom(dl)] = true
			continue
		}
		r := replayRecord(dl)
		letter[r] = dl
		records = append(records, r)
	}
	n := 0
	for _, res := range cl.ProduceSync(ctx, records...) {
		if res.Err != nil {
			errs = append(errs, fmt.Errorf("replay to %s/%d: %w", res.Record.Topic, res.Record.Partition, res.Err))
			continue
		}
		sent[replayedFrom(letter[res.Record])] = true
		n++
	}
	// Per partition, commit past the letters handled from the last replay's
	// offset up to the first that failed or was not picked: the next replay
	// starts there.
	done := map[int32]int64{}
	failed := map[int32]bool{}
	for _, dl := range dls { // in offset order per partition
		if dl.Offset < replayed[dl.Partition] {
			continue // sent by an earlier replay
		}
		if failed[dl.Partition] || !sent[replayedFrom(dl)] {
			failed[dl.Partition] = true
			continue
		}
		done[dl.Partition] = dl.Offset + 1
	}
	if err := commitReplayed(ctx, cl, dlqTopic, done); err != nil {
		errs = append(errs, err)
	}
	return n, errors.Join(errs...)
}

func replayedFrom(dl DeadLetter) string {
	return fmt.Sprintf("%s/%d/%d", dl.Topic, dl.Partition, dl.Offset)
}

// replayRecord is a dead letter as it goes back to its topic.
func replayRecord(dl DeadLetter) *kgo.Record {
	headers := make([]kgo.RecordHeader, 0, len(dl.Headers)+1)
	for _, h := range dl.Headers {
		if !strings.HasPrefix(h.Key, dlqHeaderPrefix) {
			headers = append(headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
	}
	headers = append(headers, kgo.RecordHeader{Key: HeaderDLQReplayedFrom, Value: []byte(replayedFrom(dl))})
	return &kgo.Record{
		Topic:     dl.OriginalTopic,
		Partition: dl.OriginalPartition,
		Key:       dl.Key,
		Value:     dl.Value,
		Headers:   headers,
	}
}

// commitReplayed commits ReplayGroup's offsets on topic as a simple
// consumer (no member, generation -1), which Kafka allows for a group with
// no members.
func commitReplayed(ctx context.Context, cl *kgo.Client, topic string, offsets map[int32]int64) error {
	if len(offsets) == 0 {
		return nil
	}
	states, err := describeTopics(ctx, cl, []string{topic})
	if err != nil {
		return fmt.Errorf("commit the replay of %s: %w", topic, err)
	}
	if len(states) != 1 {
		return fmt.Errorf("commit the replay of %s: no metadata", topic)
	}
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group = ReplayGroup
	req.Generation = -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	rt.TopicID = states[0].ID // newer versions name topics by id
	for p, o := range offsets {
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition = p
		rp.Offset = o
		rp.LeaderEpoch = -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("commit the replay of %s: %w", topic, err)
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return fmt.Errorf("commit the replay of %s/%d: %w", t.Topic, p.Partition, err)
			}
		}
	}
	return nil
}

// Text writes a dead letter for people: why it died first, then where it
// came from, its key and value as text (base64 only when the bytes are not
// UTF-8 text), and its other headers by name.
func (dl DeadLetter) Text() string {
	var b strings.Builder
	state := "not replayed"
	if dl.Replayed {
		state = "replayed"
	}
	fmt.Fprintf(&b, "%s/%d offset %d  %s  (%s)\n", dl.Topic, dl.Partition, dl.Offset, dl.Timestamp.UTC().Format(time.RFC3339), state)
	fmt.Fprintf(&b, "  reason:    %s\n", dl.Reason)
	fmt.Fprintf(&b, "  function:  %s, last status %d, %d attempt(s)\n", dl.Function, dl.Status, dl.Attempts)
	fmt.Fprintf(&b, "  from:      %s/%d offset %d\n", dl.OriginalTopic, dl.OriginalPartition, dl.OriginalOffset)
	fmt.Fprintf(&b, "  key:       %s\n", printable(dl.Key))
	fmt.Fprintf(&b, "  value:     %s\n", printable(dl.Value))
	for _, h := range dl.Headers {
		if !strings.HasPrefix(h.Key, dlqHeaderPrefix) || h.Key == HeaderDLQReplayedFrom {
			fmt.Fprintf(&b, "  header %s: %s\n", h.Key, printable(h.Value))
		}
	}
	return b.String()
}

// printable is v as text when it is UTF-8 without control characters (other
// than newlines and tabs), else "base64:" and its encoding.
func printable(v []byte) string {
	if utf8.Valid(v) && !bytes.ContainsFunc(v, func(r rune) bool { return r != '\n' && isControl(r) }) {
		return string(v)
	}
	return "base64:" + base64.StdEncoding.EncodeToString(v)
}
