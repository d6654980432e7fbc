package connector

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"handler/function/local/testenv"
)

func TestDeliversEveryRecordWithHeaders(t *testing.T) {
	brokers := MustCluster(t, 3, "payments")
	gw := MustGateway(t, nil)

	var (
		tapMu sync.Mutex
		taps  = map[string]Record{}
	)
	cfg := testConfig(t, brokers, gw.URL, fn("process-payment", "payments"), fn("audit", "payments"))
	cfg.Tap = func(r Record) {
		tapMu.Lock()
		defer tapMu.Unlock()
		taps[fmt.Sprintf("%s/%d/%d", r.Topic, r.Partition, r.Offset)] = r
	}
	MustStart(t, cfg)

	binaryKey := []byte{0xff, 0x00, 0xfe}
	recs := []*kgo.Record{
		{Topic: "payments", Key: []byte("pay-1"), Value: []byte(`{"specversion":"1.0"}`), Headers: []kgo.RecordHeader{
			{Key: "content-type", Value: []byte("application/cloudevents+json")},
			{Key: "trace-id", Value: []byte("abc123")},
		}},
		{Topic: "payments", Key: binaryKey, Value: []byte("plain body")},
		{Topic: "payments", Value: []byte("no key"), Headers: []kgo.RecordHeader{
			{Key: "blob", Value: []byte{0x00, 0x01, 0xff}},
			{Key: "partition", Value: []byte("not the real partition")},
		}},
	}
	for i := range 30 {
		recs = append(recs, &kgo.Record{Topic: "payments", Key: fmt.Appendf(nil, "key-%02d", i), Value: fmt.Appendf(nil, "value-%02d", i)})
	}
	MustProduce(t, MustClient(t, brokers), recs...)

	// Each function's group gets every record.
	want := 2 * len(recs)
	testenv.MustEventually(t, "every record delivered to both functions", func() bool { return int(gw.answered.Load()) >= want })
	testenv.MustEventually(t, "the tap to see every record", func() bool {
		tapMu.Lock()
		defer tapMu.Unlock()
		return len(taps) == len(recs)
	})

	byFunction := map[string]map[string]call{}
	for _, c := range gw.Calls() {
		if c.method != http.MethodPost {
			t.Errorf("method %s, want POST", c.method)
		}
		if got := c.header.Get("X-Connector"); got != "local-kafka-connector" {
			t.Errorf("X-Connector %q", got)
		}
		if got := c.header.Get("X-Topic"); got != "payments" {
			t.Errorf("X-Topic %q", got)
		}
		if byFunction[c.function] == nil {
			byFunction[c.function] = map[string]call{}
		}
		byFunction[c.function][c.header.Get("X-Kafka-Partition")+"/"+c.header.Get("X-Kafka-Offset")] = c
	}
	for _, name := range []string{"process-payment", "audit"} {
		got := byFunction[name]
		if len(got) != len(recs) {
			t.Fatalf("%s got %d distinct records, want %d", name, len(got), len(recs))
		}
		for _, r := range recs {
			c, ok := got[fmt.Sprintf("%d/%d", r.Partition, r.Offset)]
			if !ok {
				t.Fatalf("%s never got record %d/%d", name, r.Partition, r.Offset)
			}
			if !bytes.Equal(c.body, r.Value) {
				t.Errorf("%s: body %q, want %q", name, c.body, r.Value)
			}
		}
	}

	calls := byFunction["process-payment"]
	ce := calls[fmt.Sprintf("%d/%d", recs[0].Partition, recs[0].Offset)]
	for h, want := range map[string]string{
		"Content-Type":         "application/cloudevents+json",
		"X-Kafka-Content-Type": "application/cloudevents+json",
		"X-Kafka-Trace-Id":     "abc123",
		"X-Kafka-Key":          "pay-1",
	} {
		if got := ce.header.Get(h); got != want {
			t.Errorf("cloud event record: %s = %q, want %q", h, got, want)
		}
	}
	bin := calls[fmt.Sprintf("%d/%d", recs[1].Partition, recs[1].Offset)]
	if got, want := bin.header.Get("X-Kafka-Key"), base64.StdEncoding.EncodeToString(binaryKey); got != want {
		t.Errorf("binary key: X-Kafka-Key = %q, want base64 %q", got, want)
	}
	if got := bin.header.Get("Content-Type"); got != "text/plain" {
		t.Errorf("record without content-type: Content-Type = %q, want text/plain", got)
	}
	nokey := calls[fmt.Sprintf("%d/%d", recs[2].Partition, recs[2].Offset)]
	if _, ok := nokey.header["X-Kafka-Key"]; ok {
		t.Errorf("record without key: X-Kafka-Key = %q, want none", nokey.header.Get("X-Kafka-Key"))
	}
	if got, want := nokey.header.Get("X-Kafka-Blob"), base64.StdEncoding.EncodeToString([]byte{0x00, 0x01, 0xff}); got != want {
		t.Errorf("binary header: X-Kafka-Blob = %q, want %q", got, want)
	}
	if got := nokey.header.Values("X-Kafka-Partition"); len(got) != 1 || got[0] != strconv.Itoa(int(recs[2].Partition)) {
		t.Errorf("a record header named partition changed X-Kafka-Partition: %q", got)
	}

	tapMu.Lock()
	defer tapMu.Unlock()
	tr := taps[fmt.Sprintf("payments/%d/%d", recs[0].Partition, recs[0].Offset)]
	if !bytes.Equal(tr.Key, recs[0].Key) || !bytes.Equal(tr.Value, recs[0].Value) {
		t.Errorf("tap record %q=%q, want %q=%q", tr.Key, tr.Value, recs[0].Key, recs[0].Value)
	}
	if v, _ := header(tr.Headers, "trace-id"); string(v) != "abc123" {
		t.Errorf("tap record header trace-id = %q", v)
	}
}

func TestCommitNeverPassesUnfinishedRecord(t *testing.T) {
	const held = 3
	brokers := MustCluster(t, 1, "orders")
	release := make(chan struct{})
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	gw := MustGateway(t, func(ctx context.Context, c call) int {
		if c.header.Get("X-Kafka-Offset") == strconv.Itoa(held) {
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return http.StatusOK
	})
	r := MustStart(t, testConfig(t, brokers, gw.URL, fn("ship", "orders")))

	cl := MustClient(t, brokers)
	for i := range 10 {
		MustProduce(t, cl, &kgo.Record{Topic: "orders", Value: fmt.Appendf(nil, "order-%d", i)})
	}

	cons := r.consumerOf(t, "ship")
	testenv.MustEventually(t, "all but the held record to finish", func() bool {
		running, waiting, ok := cons.partitionState("orders", 0)
		return ok && running == 1 && waiting == 10-held-1
	})
	// Commit now rather than waiting for the periodic commit, so that what
	// follows is checked after a commit that saw the finished records.
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := cons.commit(ctx, cons.kafkaClient(), nil); err != nil {
		t.Fatalf("commit: %v", err)
	}
	if got := MustCommitted(t, cl, "ship", "orders", 0); got != held {
		t.Fatalf("committed offset %d while offset %d is unfinished, want %d", got, held, held)
	}

	releaseOnce.Do(func() { close(release) })
	testenv.MustEventually(t, "the commit to move past the released record", func() bool {
		return MustCommitted(t, cl, "ship", "orders", 0) == 10
	})
}

func TestRestartRedeliversUnfinishedRecords(t *testing.T) {
	brokers := MustCluster(t, 3, "payments")
	blocked := func(key string) bool { n, _ := strconv.Atoi(strings.TrimPrefix(key, "key-")); return n%5 == 0 }

	var (
		mu       sync.Mutex
		first    = map[string]int{} // successful calls per key, first run
		second   = map[string]int{} // second run
		stuck    = 0
		recorder = &first
	)
	gw := MustGateway(t, func(ctx context.Context, c call) int {
		key := c.header.Get("X-Kafka-Key")
		mu.Lock()
		counts := *recorder
		isFirst := recorder == &first
		if isFirst && blocked(key) {
			stuck++
			mu.Unlock()
			<-ctx.Done() // hangs until the connector gives up on the call
			return http.StatusServiceUnavailable
		}
		counts[key]++
		mu.Unlock()
		return http.StatusOK
	})

	const n = 30
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Topic: "payments", Key: fmt.Appendf(nil, "key-%02d", i), Value: []byte("v")})
	}
	MustProduce(t, MustClient(t, brokers), recs...)

	cfg := testConfig(t, brokers, gw.URL, fn("process-payment", "payments"))
	cfg.DrainTimeout = 50 * time.Millisecond // the stuck calls are abandoned, as in a crash
	run1 := MustStart(t, cfg)
	testenv.MustEventually(t, "the first run to finish the unblocked records and hang on the rest", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(first) == n-n/5 && stuck == n/5
	})
	if err := run1.Stop(t); err != nil {
		t.Fatalf("first run: %v", err)
	}

	mu.Lock()
	recorder = &second
	mu.Unlock()
	MustStart(t, testConfig(t, brokers, gw.URL, fn("process-payment", "payments")))
	testenv.MustEventually(t, "every key to be delivered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range recs {
			if first[string(r.Key)]+second[string(r.Key)] == 0 {
				return false
			}
		}
		return true
	})

	mu.Lock()
	defer mu.Unlock()
	for _, r := range recs {
		key := string(r.Key)
		if blocked(key) && second[key] == 0 {
			t.Errorf("%s was unfinished when the first run stopped but the second run never got it", key)
		}
		if first[key]+second[key] == 0 {
			t.Errorf("%s lost", key)
		}
	}
}

func TestRetriesServerErrorsThenSucceeds(t *testing.T) {
	brokers := MustCluster(t, 1, "payments")
	var (
		mu       sync.Mutex
		attempts int
		offsets  []string
	)
	gw := MustGateway(t, func(_ context.Context, c call) int {
		mu.Lock()
		defer mu.Unlock()
		attempts++
		offsets = append(offsets, c.header.Get("X-Kafka-Offset"))
		switch attempts {
		case 1:
			return http.StatusServiceUnavailable
		case 2:
			return http.StatusTooManyRequests
		}
		return http.StatusOK
	})
	MustStart(t, testConfig(t, brokers, gw.URL, fn("process-payment", "payments")))
	cl := MustClient(t, brokers)
	MustProduce(t, cl, &kgo.Record{Topic: "payments", Key: []byte("p"), Value: []byte("v")})

	testenv.MustEventually(t, "the record to be committed", func() bool {
		return MustCommitted(t, cl, "process-payment", "payments", 0) == 1
	})
	mu.Lock()
	defer mu.Unlock()
	if attempts != 3 {
		t.Errorf("%d attempts, want 3 (503, 429, 200)", attempts)
	}
	for _, o := range offsets {
		if o != "0" {
			t.Errorf("retry carried X-Kafka-Offset %q, want 0", o)
		}
	}
	if dls := MustListDeadLetters(t, brokers, "payments.dlq"); len(dls) != 0 {
		t.Errorf("%d dead letters after a successful retry, want 0", len(dls))
	}
}

func TestDeadLetters(t *testing.T) {
	tests := []struct {
		name         string
		status       int
		maxAttempts  int
		wantAttempts int
		wantReason   string
	}{
		{"400 is not retried", http.StatusBadRequest, 5, 1, "not retryable: status 400"},
		{"422 is not retried", http.StatusUnprocessableEntity, 5, 1, "not retryable: status 422"},
		{"503 until attempts run out", http.StatusServiceUnavailable, 3, 3, "gave up after 3 attempts: status 503"},
		{"404 until attempts run out", http.StatusNotFound, 2, 2, "gave up after 2 attempts: status 404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			brokers := MustCluster(t, 3, "payments")
			gw := MustGateway(t, func(context.Context, call) int { return tt.status })
			var (
				tapMu sync.Mutex
				taps  []Record
			)
			cfg := testConfig(t, brokers, gw.URL, fn("process-payment", "payments"))
			cfg.Retry.MaxAttempts = tt.maxAttempts
			cfg.Tap = func(r Record) {
				tapMu.Lock()
				defer tapMu.Unlock()
				taps = append(taps, r)
			}
			MustStart(t, cfg)

			cl := MustClient(t, brokers)
			rec := MustProduce(t, cl, &kgo.Record{
				Topic: "payments", Key: []byte("pay-7"), Value: []byte(`{"amount":"-1"}`),
				Headers: []kgo.RecordHeader{{Key: "trace-id", Value: []byte("t-7")}},
			})[0]
			testenv.MustEventually(t, "the record to be finished and committed", func() bool {
				return MustCommitted(t, cl, "process-payment", "payments", rec.Partition) == rec.Offset+1
			})
			if got := len(gw.Calls()); got != tt.wantAttempts {
				t.Errorf("function called %d times, want %d", got, tt.wantAttempts)
			}

			dls := MustListDeadLetters(t, brokers, "payments.dlq")
			if len(dls) != 1 {
				t.Fatalf("%d dead letters, want 1", len(dls))
			}
			dl := dls[0]
			if !bytes.Equal(dl.Key, rec.Key) || !bytes.Equal(dl.Value, rec.Value) {
				t.Errorf("dead letter %q=%q, want %q=%q", dl.Key, dl.Value, rec.Key, rec.Value)
			}
			if v, _ := header(dl.Headers, "trace-id"); string(v) != "t-7" {
				t.Errorf("original header trace-id = %q, want t-7", v)
			}
			if dl.Status != tt.status || dl.Attempts != tt.wantAttempts || dl.Function != "process-payment" ||
				dl.OriginalTopic != "payments" || dl.OriginalPartition != rec.Partition || dl.OriginalOffset != rec.Offset {
				t.Errorf("dead letter %+v, want status %d, %d attempts, function process-payment, from payments/%d/%d",
					dl, tt.status, tt.wantAttempts, rec.Partition, rec.Offset)
			}
			if !strings.HasPrefix(dl.Reason, tt.wantReason) {
				t.Errorf("reason %q, want prefix %q", dl.Reason, tt.wantReason)
			}
			for _, h := range []string{HeaderDLQReason, HeaderDLQStatus, HeaderDLQAttempts, HeaderDLQFunction,
				HeaderDLQOriginalTopic, HeaderDLQOriginalPartition, HeaderDLQOriginalOffset} {
				if _, ok := header(dl.Headers, h); !ok {
					t.Errorf("dead letter lacks header %s", h)
				}
			}

			testenv.MustEventually(t, "the tap to see the record and its dead letter", func() bool {
				tapMu.Lock()
				defer tapMu.Unlock()
				topics := map[string]bool{}
				for _, r := range taps {
					topics[r.Topic] = true
				}
				return topics["payments"] && topics["payments.dlq"]
			})
		})
	}
}

func TestTimeoutsAreRetriedThenDeadLettered(t *testing.T) {
	brokers := MustCluster(t, 1, "payments")
	gw := MustGateway(t, func(ctx context.Context, _ call) int {
		<-ctx.Done() // never answers in time
		return http.StatusOK
	})
	cfg := testConfig(t, brokers, gw.URL, fn("process-payment", "payments"))
	cfg.Retry.MaxAttempts = 2
	cfg.RequestTimeout = 100 * time.Millisecond
	MustStart(t, cfg)
	cl := MustClient(t, brokers)
	MustProduce(t, cl, &kgo.Record{Topic: "payments", Value: []byte("slow")})

	testenv.MustEventually(t, "the record to be dead-lettered and committed", func() bool {
		return MustCommitted(t, cl, "process-payment", "payments", 0) == 1
	})
	dls := MustListDeadLetters(t, brokers, "payments.dlq")
	if len(dls) != 1 || dls[0].Status != 0 || dls[0].Attempts != 2 || !strings.Contains(dls[0].Reason, "deadline exceeded") {
		t.Fatalf("dead letters %+v, want one with status 0 after 2 timed-out attempts", dls)
	}
}

func TestManyRecordsOfOnePartitionInFlight(t *testing.T) {
	tests := []struct {
		name        string
		maxInFlight int
		records     int
		wantRunning int64
	}{
		{"default bound", 0, 60, 60},
		{"bound reached", 8, 30, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			brokers := MustCluster(t, 1, "payments")
			release := make(chan struct{})
			var releaseOnce sync.Once
			t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
			gw := MustGateway(t, func(ctx context.Context, _ call) int {
				select {
				case <-release:
				case <-ctx.Done():
				}
				return http.StatusOK
			})
			cfg := testConfig(t, brokers, gw.URL, fn("process-payment", "payments"))
			cfg.MaxInFlight = tt.maxInFlight
			MustStart(t, cfg)
			cl := MustClient(t, brokers)
			for i := range tt.records {
				MustProduce(t, cl, &kgo.Record{Topic: "payments", Value: fmt.Appendf(nil, "%d", i)})
			}

			testenv.MustEventually(t, fmt.Sprintf("%d calls in flight at once", tt.wantRunning), func() bool {
				return gw.running.Load() == tt.wantRunning
			})
			releaseOnce.Do(func() { close(release) })
			testenv.MustEventually(t, "every record to be committed", func() bool {
				return MustCommitted(t, cl, "process-payment", "payments", 0) == int64(tt.records)
			})
			if got := gw.maxRunning.Load(); got != tt.wantRunning {
				t.Errorf("at most %d calls ran at once, want %d", got, tt.wantRunning)
			}
		})
	}
}

// MustListDeadLetters lists a dead-letter topic.
func MustListDeadLetters(tb testing.TB, brokers []string, topic string) []DeadLetter {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	dls, err := ListDeadLetters(ctx, brokers, topic)
	if err != nil {
		tb.Fatalf("list dead letters: %v", err)
	}
	return dls
}

func TestRebalanceCommitsFinishedAndHandsOverUnfinished(t *testing.T) {
	const perPartition = 5
	brokers := MustCluster(t, 3, "payments")
	release := make(chan struct{})
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	// The first member finishes every record but offset 1 of each partition,
	// which it holds until released or cancelled.
	gwA := MustGateway(t, func(ctx context.Context, c call) int {
		if c.header.Get("X-Kafka-Offset") == "1" {
			select {
			case <-release:
			case <-ctx.Done():
				return http.StatusServiceUnavailable
			}
		}
		return http.StatusOK
	})
	gwB := MustGateway(t, nil)

	cl := MustClient(t, brokers, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for p := range int32(3) {
		for i := range perPartition {
			MustProduce(t, cl, &kgo.Record{Topic: "payments", Partition: p, Value: fmt.Appendf(nil, "%d-%d", p, i)})
		}
	}

	cfgA := testConfig(t, brokers, gwA.URL, fn("process-payment", "payments"))
	cfgA.CommitInterval = time.Hour // only the revoke can commit for A
	a := MustStart(t, cfgA)
	consA := a.consumerOf(t, "process-payment")
	testenv.MustEventually(t, "the first member to hold offset 1 of every partition", func() bool {
		for p := range int32(3) {
			running, waiting, ok := consA.partitionState("payments", p)
			if !ok || running != 1 || waiting != perPartition-2 {
				return false
			}
		}
		return true
	})

	MustStart(t, testConfig(t, brokers, gwB.URL, fn("process-payment", "payments")))
	testenv.MustEventually(t, "the second member to take over a partition and finish it", func() bool {
		for p := range int32(3) {
			if MustCommitted(t, cl, "process-payment", "payments", p) == perPartition {
				return true
			}
		}
		return false
	})

	firstOffset := map[string]int{}
	for _, c := range gwB.Calls() {
		p := c.header.Get("X-Kafka-Partition")
		off, _ := strconv.Atoi(c.header.Get("X-Kafka-Offset"))
		if prev, ok := firstOffset[p]; !ok || off < prev {
			firstOffset[p] = off
		}
	}
	if len(firstOffset) == 0 {
		t.Fatal("the second member got no records")
	}
	for p, off := range firstOffset {
		// Offset 0 was finished and committed on revoke; offset 1 was not
		// finished, so the commit must not have passed it.
		if off != 1 {
			t.Errorf("partition %s: the second member started at offset %d, want 1", p, off)
		}
	}

	// The first member finishes what it kept and commits it when it stops.
	releaseOnce.Do(func() { close(release) })
	if err := a.Stop(t); err != nil {
		t.Fatalf("first member: %v", err)
	}
	testenv.MustEventually(t, "every partition to be committed to the end", func() bool {
		for p := range int32(3) {
			if MustCommitted(t, cl, "process-payment", "payments", p) != perPartition {
				return false
			}
		}
		return true
	})
}

// Paused, the connector delivers nothing, even what a waiting poll fetches;
// resumed, it delivers every record that waited.
func TestPauseHoldsDeliveriesUntilResume(t *testing.T) {
	brokers := MustCluster(t, 1, "payments")
	gw := MustGateway(t, nil)
	r := MustStart(t, testConfig(t, brokers, gw.URL, fn("process-payment", "payments")))
	cl := MustClient(t, brokers)
	MustProduce(t, cl, &kgo.Record{Topic: "payments", Value: []byte("before")})
	testenv.MustEventually(t, "the first record to be delivered", func() bool { return len(gw.Calls()) == 1 })

	r.Pause()
	MustProduce(t, cl, &kgo.Record{Topic: "payments", Value: []byte("while paused 1")}, &kgo.Record{Topic: "payments", Value: []byte("while paused 2")})
	// Not a timing assertion: nothing may arrive while paused, however long.
	time.Sleep(500 * time.Millisecond)
	if n := len(gw.Calls()); n != 1 {
		t.Fatalf("%d calls while paused, want only the one before", n)
	}
	r.Resume()
	testenv.MustEventually(t, "the waiting records to be delivered and committed", func() bool {
		return len(gw.Calls()) == 3 && MustCommitted(t, cl, "process-payment", "payments", 0) == 3
	})
}
