package connector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"handler/function/local/stack"
	"handler/function/local/testenv"
)

// TestMain fails the run when goroutines outlive the tests: every connector,
// Kafka client, cluster and server a test starts must be stopped by it.
func TestMain(m *testing.M) {
	before := runtime.NumGoroutine()
	code := m.Run()
	if code == 0 {
		deadline := time.Now().Add(15 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<20)
			fmt.Fprintf(os.Stderr, "goroutine leak: %d running, %d before the tests\n%s\n",
				n, before, buf[:runtime.Stack(buf, true)])
			code = 1
		}
	}
	os.Exit(code)
}

// waitLimit bounds every wait for something to happen; generous because the
// machine is small and shared. Tests never assert how long anything took.
const waitLimit = testenv.WaitLimit

// MustLogger returns a logger writing to the test's log until the test ends.
func MustLogger(tb testing.TB) *slog.Logger {
	tb.Helper()
	w := &testWriter{tb: tb}
	tb.Cleanup(w.close)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct {
	mu     sync.Mutex
	tb     testing.TB
	closed bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.tb.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
}

// MustCluster starts an in-process three-broker Kafka with the topics (and
// their dead-letter topics) created with the given partitions.
func MustCluster(tb testing.TB, partitions int32, topics ...string) []string {
	tb.Helper()
	var all []string
	for _, t := range topics {
		all = append(all, t, t+DefaultDLQSuffix)
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(partitions, all...))
	if err != nil {
		tb.Fatalf("start kfake: %v", err)
	}
	tb.Cleanup(c.Close)
	return c.ListenAddrs()
}

// MustClient returns a Kafka client closed when the test ends.
func MustClient(tb testing.TB, brokers []string, opts ...kgo.Opt) *kgo.Client {
	tb.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		tb.Fatalf("kafka client: %v", err)
	}
	tb.Cleanup(cl.Close)
	return cl
}

// MustProduce writes the records and returns them with partition and offset set.
func MustProduce(tb testing.TB, cl *kgo.Client, recs ...*kgo.Record) []*kgo.Record {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		tb.Fatalf("produce: %v", err)
	}
	return recs
}

// MustCommitted returns the group's committed offset of a partition, -1 when none.
func MustCommitted(tb testing.TB, cl *kgo.Client, group, topic string, partition int32) int64 {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic = topic
	rt.Partitions = []int32{partition}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		tb.Fatalf("offset fetch: %v", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); errors.Is(err, kerr.GroupIDNotFound) {
		return -1 // before the group's first join (kfake says so; Kafka answers no offsets)
	} else if err != nil {
		tb.Fatalf("offset fetch: %v", err)
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if t.Topic == topic && p.Partition == partition {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					tb.Fatalf("offset fetch %s/%d: %v", topic, partition, err)
				}
				return p.Offset
			}
		}
	}
	return -1
}

// call is one request the fake gateway received.
type call struct {
	function string
	method   string
	header   http.Header
	body     []byte
}

// fakeGateway stands in for the OpenFaaS gateway: it records every call and
// answers with handle's status. handle may block; it gets the request context.
type fakeGateway struct {
	URL    string
	handle func(ctx context.Context, c call) int

	mu         sync.Mutex
	calls      []call
	running    atomic.Int64
	maxRunning atomic.Int64
	answered   atomic.Int64
}

// MustGateway starts a fake gateway, closed when the test ends.
func MustGateway(tb testing.TB, handle func(ctx context.Context, c call) int) *fakeGateway {
	tb.Helper()
	g := &fakeGateway{handle: handle}
	srv := httptest.NewServer(http.HandlerFunc(g.serve))
	tb.Cleanup(srv.Close)
	g.URL = srv.URL
	return g
}

func (g *fakeGateway) serve(w http.ResponseWriter, r *http.Request) {
	fn, ok := strings.CutPrefix(r.URL.Path, "/function/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	c := call{function: fn, method: r.Method, header: r.Header.Clone(), body: body}
	g.mu.Lock()
	g.calls = append(g.calls, c)
	g.mu.Unlock()

	n := g.running.Add(1)
	for {
		m := g.maxRunning.Load()
		if n <= m || g.maxRunning.CompareAndSwap(m, n) {
			break
		}
	}
	status := http.StatusOK
	if g.handle != nil {
		status = g.handle(r.Context(), c)
	}
	g.running.Add(-1)
	w.WriteHeader(status)
	fmt.Fprintf(w, "status %d", status)
	g.answered.Add(1)
}

// Calls returns a copy of the calls received so far.
func (g *fakeGateway) Calls() []call {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]call(nil), g.calls...)
}

// fn is a stack function subscribed to topics.
func fn(name string, topics ...string) stack.Function {
	return stack.Function{Name: name, Annotations: map[string]string{"topic": strings.Join(topics, ",")}}
}

// testConfig is a Config with retries and commits fast enough for tests.
func testConfig(tb testing.TB, brokers []string, gateway string, fns ...stack.Function) Config {
	return Config{
		Brokers:        brokers,
		GatewayURL:     gateway,
		Functions:      fns,
		Retry:          RetryPolicy{MaxAttempts: 5, BaseDelay: 5 * time.Millisecond, MaxDelay: 20 * time.Millisecond},
		RequestTimeout: 30 * time.Second,
		CommitInterval: 50 * time.Millisecond,
		DrainTimeout:   10 * time.Second,
		Logger:         MustLogger(tb),
	}
}

// running is a connector started by MustStart.
type running struct {
	*Connector
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// Stop cancels the connector and waits for Run to return.
func (r *running) Stop(tb testing.TB) error {
	tb.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case r.err = <-r.done:
		case <-time.After(waitLimit):
			tb.Fatalf("connector did not stop")
		}
	})
	return r.err
}

// MustStart builds a connector from cfg and runs it until Stop or the end of the test.
func MustStart(tb testing.TB, cfg Config) *running {
	tb.Helper()
	c, err := New(cfg)
	if err != nil {
		tb.Fatalf("new connector: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Connector: c, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- c.Run(ctx) }()
	tb.Cleanup(func() {
		if err := r.Stop(tb); err != nil {
			tb.Errorf("connector run: %v", err)
		}
	})
	return r
}

// consumerOf returns the running connector's consumer for a function.
func (r *running) consumerOf(tb testing.TB, name string) *consumer {
	tb.Helper()
	for _, c := range r.consumers {
		if c.fn.Name == name {
			return c
		}
	}
	tb.Fatalf("no consumer for %s", name)
	return nil
}

// partitionState returns how many records of a partition are running and how
// many finished ones wait behind an unfinished one; ok is false while the
// partition is not assigned.
func (c *consumer) partitionState(topic string, partition int32) (running, waiting int, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.parts[topicPartition{topic, partition}]
	if p == nil {
		return 0, 0, false
	}
	running, waiting = p.inFlight()
	return running, waiting, true
}

func header(h []Header, key string) ([]byte, bool) {
	for _, x := range h {
		if x.Key == key {
			return x.Value, true
		}
	}
	return nil, false
}

// kafkaClient returns the consumer's Kafka client once Run has created it.
func (c *consumer) kafkaClient() *kgo.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.client
}
