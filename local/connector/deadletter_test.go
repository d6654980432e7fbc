package connector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"handler/function/local/testenv"
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
	testenv.MustEventually(t, "three dead letters", func() bool {
		dls = MustListDeadLetters(t, brokers, "payments.dlq")
		return len(dls) == 3
	})
	for _, dl := range dls {
		if !bytes.HasPrefix(dl.Key, []byte("bad-")) || dl.Status != http.StatusBadRequest {
			t.Errorf("dead letter %q with status %d, want a bad-* key with 400", dl.Key, dl.Status)
		}
	}

	for _, dl := range dls {
		if dl.Replayed {
			t.Errorf("dead letter %q listed as replayed before any replay", dl.Key)
		}
	}

	n := MustReplay(t, brokers, "payments.dlq")
	if n != 3 {
		t.Fatalf("replay sent %d, want the 3 letters", n)
	}
	var replayed []call
	testenv.MustEventually(t, "the replayed records to reach the function", func() bool {
		replayed = nil
		for _, c := range gw.Calls() {
			if c.header.Get("X-Kafka-Dlq-Replayed-From") != "" {
				replayed = append(replayed, c)
			}
		}
		return len(replayed) == 3
	})
	// A second replay sends nothing: each letter goes back once.
	if n := MustReplay(t, brokers, "payments.dlq"); n != 0 {
		t.Fatalf("the second replay sent %d, want 0", n)
	}

	original := recs[2]
	var bad2 call
	for _, c := range replayed {
		if c.header.Get("X-Kafka-Key") == "bad-2" {
			bad2 = c
		}
	}
	if !bytes.Equal(bad2.body, original.Value) {
		t.Errorf("replayed bad-2 with %q, want %q", bad2.body, original.Value)
	}
	if got := bad2.header.Get("X-Kafka-Partition"); got != fmt.Sprint(original.Partition) {
		t.Errorf("replayed to partition %s, want the original %d", got, original.Partition)
	}
	if got := bad2.header.Get("Content-Type"); got != "application/json" {
		t.Errorf("replayed record lost its content-type header: Content-Type %q", got)
	}
	for _, h := range []string{"X-Kafka-Dlq-Reason", "X-Kafka-Dlq-Status", "X-Kafka-Dlq-Original-Offset"} {
		if v := bad2.header.Get(h); v != "" {
			t.Errorf("replayed record still carries %s=%q", h, v)
		}
	}
	var from string
	for _, dl := range dls {
		if string(dl.Key) == "bad-2" {
			from = fmt.Sprintf("payments.dlq/%d/%d", dl.Partition, dl.Offset)
		}
	}
	if got := bad2.header.Get("X-Kafka-Dlq-Replayed-From"); got != from {
		t.Errorf("dlq-replayed-from %q, want %q", got, from)
	}
	after := MustListDeadLetters(t, brokers, "payments.dlq")
	if len(after) != 3 {
		t.Errorf("%d dead letters after the replay, want the same 3 (replay does not delete)", len(after))
	}
	for _, dl := range after {
		if !dl.Replayed {
			t.Errorf("dead letter %q not listed as replayed after the replay", dl.Key)
		}
	}

	// A letter that dies after the replay is a new one: the next replay sends it alone.
	MustProduce(t, cl, &kgo.Record{Topic: "payments", Key: []byte("bad-late"), Value: []byte("late")})
	testenv.MustEventually(t, "a fourth dead letter", func() bool { return len(MustListDeadLetters(t, brokers, "payments.dlq")) == 4 })
	if n := MustReplay(t, brokers, "payments.dlq"); n != 1 {
		t.Fatalf("replay after a new letter sent %d, want 1", n)
	}
}

// MustReplay replays a dead-letter topic and returns how many letters it sent.
func MustReplay(tb testing.TB, brokers []string, topic string) int {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	n, err := ReplayDeadLetters(ctx, brokers, topic)
	if err != nil {
		tb.Fatalf("replay %s: %v", topic, err)
	}
	return n
}

func TestDeadLetterTextIsReadable(t *testing.T) {
	dl := decodeDeadLetter(&kgo.Record{
		Topic: "payments.dlq", Partition: 1, Offset: 7,
		Key: []byte("poison"), Value: []byte(`{"not":"a CloudEvent"}`),
		Headers: []kgo.RecordHeader{
			{Key: "content-type", Value: []byte("application/json")},
			{Key: "trace", Value: []byte{0xff, 0x00}},
			{Key: HeaderDLQReason, Value: []byte("not retryable: 400 bad event")},
			{Key: HeaderDLQStatus, Value: []byte("400")},
			{Key: HeaderDLQOriginalTopic, Value: []byte("payments")},
		},
	})
	text := dl.Text()
	for _, want := range []string{"reason:    not retryable: 400 bad event", "key:       poison",
		`value:     {"not":"a CloudEvent"}`, "header content-type: application/json", "header trace: base64:/wA="} {
		if !strings.Contains(text, want) {
			t.Errorf("the text lacks %q:\n%s", want, text)
		}
	}
	if strings.Index(text, "reason:") > strings.Index(text, "key:") {
		t.Errorf("the reason comes after the key:\n%s", text)
	}
	if strings.Contains(text, "header "+HeaderDLQReason) {
		t.Errorf("the dlq-* headers are repeated as headers:\n%s", text)
	}
}

func TestDeadLetterToolFailsFastWithoutKafka(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	start := time.Now()
	if _, err := ListDeadLetters(ctx, []string{addr}, "payments.dlq"); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("list without Kafka: %v, want ErrUnreachable", err)
	}
	if _, err := ReplayDeadLetters(ctx, []string{addr}, "payments.dlq"); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("replay without Kafka: %v, want ErrUnreachable", err)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("failing took %v, want a few seconds", took)
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

// The System page replays one letter: it goes whether or not it went
// before, and the once-only replay moves past it only when it was next.
func TestReplayOneDeadLetter(t *testing.T) {
	brokers := MustCluster(t, 3, "payments")
	gw := MustGateway(t, func(_ context.Context, c call) int {
		if c.header.Get("X-Kafka-Dlq-Replayed-From") == "" {
			return http.StatusBadRequest
		}
		return http.StatusOK
	})
	MustStart(t, testConfig(t, brokers, gw.URL, fn("process-payment", "payments")))
	cl := MustClient(t, brokers)
	// One key: one partition.
	MustProduce(t, cl, &kgo.Record{Topic: "payments", Key: []byte("bad"), Value: []byte("first")},
		&kgo.Record{Topic: "payments", Key: []byte("bad"), Value: []byte("second")})
	var dls []DeadLetter
	testenv.MustEventually(t, "two dead letters", func() bool {
		dls = MustListDeadLetters(t, brokers, "payments.dlq")
		return len(dls) == 2
	})
	first, second := dls[0], dls[1] // in offset order
	if first.Partition != second.Partition || first.Offset >= second.Offset {
		t.Fatalf("dead letters at %d/%d and %d/%d, want two in one partition", first.Partition, first.Offset, second.Partition, second.Offset)
	}
	replayOne := func(dl DeadLetter, offset int64) int {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		n, err := ReplayDeadLetter(ctx, brokers, "payments.dlq", dl.Partition, offset)
		if err != nil {
			t.Fatalf("replay %d: %v", offset, err)
		}
		return n
	}
	replayed := func() (bool, bool) {
		dls := MustListDeadLetters(t, brokers, "payments.dlq")
		return dls[0].Replayed, dls[1].Replayed
	}

	if n := replayOne(second, second.Offset); n != 1 {
		t.Fatalf("replaying the second sent %d, want 1", n)
	}
	if a, b := replayed(); a || b {
		t.Errorf("after the second alone: replayed %v, %v; want neither past the first", a, b)
	}
	if n := replayOne(first, first.Offset); n != 1 {
		t.Fatalf("replaying the first sent %d, want 1", n)
	}
	if a, b := replayed(); !a || b {
		t.Errorf("after the first: replayed %v, %v; want the first only", a, b)
	}
	if n := MustReplay(t, brokers, "payments.dlq"); n != 1 {
		t.Errorf("the replay of the topic sent %d, want the second again", n)
	}
	if n := replayOne(first, second.Offset+10); n != 0 {
		t.Errorf("replaying an offset with no letter sent %d", n)
	}
	if n := replayOne(first, first.Offset); n != 1 {
		t.Errorf("replaying a letter a replay sent before sent %d, want 1 (asked by hand)", n)
	}
}
