//go:build integration && kafka

// The end-to-end suite against real Apache Kafka (make test-kafka): the local
// stack on a KRaft cluster of 3 brokers, then of 1, with a broker killed
// while payments flow and process-payment grown from 1 to 3 consumers. It
// needs both tags, integration for the fixture it shares with
// runner_integration_test.go and kafka for Java and Maven:
//
//	go test -tags integration,kafka -run '^TestRealKafka' ./local/runner/
package runner_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"handler/function/functions/pkg/payment"
	"handler/function/local/connector"
	"handler/function/local/kafkacluster"
	"handler/function/local/kafkacluster/kafkatest"
	"handler/function/local/runner"
	"handler/function/local/stack"
	"handler/function/local/testenv"
)

func TestRealKafkaThreeBrokers(t *testing.T) { realKafkaSuite(t, 3) }

func TestRealKafkaOneBroker(t *testing.T) { realKafkaSuite(t, 1) }

func realKafkaSuite(t *testing.T, brokers int) {
	cluster := kafkatest.MustCluster(t, brokers)
	f := mustStackOn(t, cluster.Brokers())
	st := mustLoadStack(t)

	t.Run("topics are replicated and ask acks=all for min.insync.replicas", func(t *testing.T) {
		f.assertTopicDurability(t, cluster, st)
	})
	t.Run("a broker killed -9 while 500 payments flow: nothing lost, nothing applied twice, it rejoins", func(t *testing.T) {
		f.killBrokerWhilePaymentsFlow(t, cluster, 500)
	})
	t.Run("process-payment grows from 1 to 3 consumers while payments flow: partitions spread, nothing lost or doubled", func(t *testing.T) {
		f.growConsumersWhilePaymentsFlow(t, cluster, st.Functions["process-payment"])
	})
}

// mustStackOn starts the local stack on existing Kafka brokers, as
// `make run KAFKA_BROKERS=…` does; it creates the topics itself.
func mustStackOn(t *testing.T, brokers []string) *fixture {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	cfg := runner.Config{
		Root:         root,
		StateDir:     t.TempDir(),
		GatewayAddr:  fmt.Sprintf("127.0.0.1:%d", testenv.MustFreePort(t)),
		DatabaseURL:  testenv.MustDatabase(t),
		KafkaBrokers: brokers,
		Partitions:   3,
		RelayEvery:   time.Second,
		FunctionEnv: map[string]string{
			"PAYMENT_PROVIDER_MIN_DELAY": "0",
			"PAYMENT_PROVIDER_MAX_DELAY": "1s",
			"PUBLISH_TIMEOUT":            "1s",
		},
	}
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := runner.Start(ctx, cfg, logs)
	if err != nil {
		cancel()
		t.Fatalf("%v\n%s", err, logs.String())
	}
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, func() { close(ready) }) }()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("stack stopped before it was ready: %v\n%s", err, logs.String())
	case <-time.After(5 * time.Minute):
		cancel()
		<-done
		t.Fatalf("stack not ready\n%s", logs.String())
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("stack stopped with: %v", err)
		}
		if t.Failed() {
			t.Logf("the stack's last log lines:\n%s", lastLines(logs.String(), 200))
		}
	})
	pool, err := pgxpool.New(context.Background(), cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return &fixture{stack: s, db: pool, logs: logs}
}

// assertTopicDurability checks what the runner's EnsureTopics made on the
// real cluster: every topic (and dead-letter topic) has replication
// min(3, brokers) on every partition and an effective min.insync.replicas
// of 2 on three brokers, 1 on one.
func (f *fixture) assertTopicDurability(t *testing.T, cluster *kafkacluster.Cluster, st *stack.Stack) {
	var topics []string
	for _, fn := range st.Sorted() {
		for _, topic := range fn.Topics() {
			topics = append(topics, topic, topic+connector.DefaultDLQSuffix)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m, err := cluster.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rf := int(cluster.Config().ReplicationFactor())
	partitions := map[string]int{}
	for _, p := range m.Partitions {
		if slices.Contains(topics, p.Topic) {
			partitions[p.Topic]++
			if len(p.Replicas) != rf || len(p.ISR) != rf {
				t.Errorf("%s/%d: replicas %v, in sync %v; want %d of each", p.Topic, p.Partition, p.Replicas, p.ISR, rf)
			}
		}
	}
	minISR := mustTopicConfig(t, cluster.Brokers(), "min.insync.replicas", topics...)
	for _, topic := range topics {
		if partitions[topic] != 3 {
			t.Errorf("%s has %d partitions, want 3", topic, partitions[topic])
		}
		if want := fmt.Sprint(cluster.Config().MinInsyncReplicas()); minISR[topic] != want {
			t.Errorf("%s: min.insync.replicas %q, want %s", topic, minISR[topic], want)
		}
	}
	t.Logf("%d topics, 3 partitions each, replication %d, min.insync.replicas %v", len(topics), rf, minISR)
}

// killBrokerWhilePaymentsFlow creates n payments at a steady pace and, while
// they flow, kills -9 the broker that leads payments/0. On three brokers the
// survivors must take over its partitions and keep the flow going (the kill
// is real: the cluster drops the broker, leaders move); on one broker Kafka
// is gone and events must wait in the outbox. The broker is restarted once
// another fifth of the payments has been created; every payment must reach a
// final state and be applied exactly once, and the broker must rejoin the
// in-sync replicas of all its partitions.
func (f *fixture) killBrokerWhilePaymentsFlow(t *testing.T, cluster *kafkacluster.Cluster, n int) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	brokers := len(cluster.IDs())
	victim := mustLeader(t, cluster, "payments", 0)

	// About 16 payments a second: slow enough that the flow spans the kill,
	// the cluster noticing it and the restart.
	flow := f.startPayments(t, n, 4, 60*time.Millisecond)
	flow.waitCreated(t, n/5)
	if err := cluster.Kill(victim); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed broker %d (leader of payments/0) after %d payments", victim, flow.created())

	if brokers > 1 {
		if err := cluster.WaitBrokers(ctx, brokers-1); err != nil {
			t.Fatalf("the cluster never dropped broker %d: %v", victim, err)
		}
		moved := mustWaitLeadersMoved(t, cluster, victim, "payments", "paymentsResults")
		t.Logf("the cluster lists %d brokers; %d partitions of payments and paymentsResults now led by the others, after %d payments",
			brokers-1, moved, flow.created())
	}
	flow.waitCreated(t, min(n, flow.created()+n/5))
	if brokers == 1 {
		// With its only broker dead, every event created since must be
		// waiting in the outbox: nothing can have published it.
		waiting := f.countUnpublished(t, flow.usersSoFar())
		t.Logf("%d events waiting in the outbox with Kafka down", waiting)
		if waiting == 0 {
			t.Fatal("no event waiting in the outbox while the only broker was dead")
		}
	}
	if err := cluster.Restart(ctx, victim); err != nil {
		t.Fatal(err)
	}
	t.Logf("restarted broker %d after %d payments", victim, flow.created())

	users := flow.wait(t)
	if len(users) != n {
		t.Fatalf("%d payments created, want %d", len(users), n)
	}
	states := f.waitFinal(t, users, n)
	f.assertAppliedOnce(t, users)
	inSync, err := cluster.WaitInSync(ctx, victim)
	if err != nil {
		t.Fatalf("broker %d did not rejoin the in-sync replicas: %v", victim, err)
	}
	m, err := cluster.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Brokers) != brokers || inSync == 0 {
		t.Fatalf("after the restart the cluster lists %v and broker %d is in sync on %d partitions; want %d brokers and some partitions",
			m.BrokerIDs(), victim, inSync, brokers)
	}
	created, results := f.countRecords(t, cluster.Brokers(), users)
	t.Logf("%d payments: %d completed, %d rejected, 0 pending; %d created events and %d results on Kafka for them (redeliveries included); "+
		"%d events relayed from the outbox; broker %d back in sync on %d partitions",
		n, states[payment.Completed], states[payment.Rejected], created, results, f.countRelayed(t, users), victim, inSync)
}

// growConsumersWhilePaymentsFlow adds two more consumers to process-payment's
// group (extra connectors for that function alone, as OpenFaaS would run more
// connector replicas) while payments flow, waits until the group has spread
// the 3 partitions of payments one to each member, keeps the flow going, and
// then removes them again.
func (f *fixture) growConsumersWhilePaymentsFlow(t *testing.T, cluster *kafkacluster.Cluster, fn stack.Function) {
	const group = "process-payment"
	flow := f.startPayments(t, 3000, 4, 40*time.Millisecond)
	defer flow.stop()
	flow.waitCreated(t, 50)
	if got := mustWaitGroup(t, cluster, group, 1); len(got) != 1 {
		t.Fatalf("group %s starts with %d members, want the runner's 1", group, len(got))
	}

	var extras []*extraConsumer
	for members := 2; members <= 3; members++ {
		extras = append(extras, f.startExtraConsumer(t, cluster.Brokers(), fn))
		assignment := mustWaitGroup(t, cluster, group, members)
		t.Logf("%d consumers after %d payments: payments partitions %v", members, flow.created(), assignment)
	}
	// Each member now owns one partition; payments keep coming to all three.
	flow.waitCreated(t, flow.created()+150)
	flow.stop()
	users := flow.wait(t)
	states := f.waitFinal(t, users, len(users))
	f.assertAppliedOnce(t, users)
	for i, e := range extras {
		if e.delivered.Load() == 0 {
			t.Errorf("extra consumer %d delivered no record: the partitions did not spread", i+1)
		}
	}
	t.Logf("%d payments while growing: %d completed, %d rejected, 0 pending; extra consumers delivered %d and %d",
		len(users), states[payment.Completed], states[payment.Rejected], extras[0].delivered.Load(), extras[1].delivered.Load())

	// Shrinking back: the runner's consumer takes every partition again.
	for _, e := range extras {
		e.stop(t)
	}
	if got := mustWaitGroup(t, cluster, group, 1); len(got) != 1 {
		t.Fatalf("group %s has %d members after the extras left, want 1", group, len(got))
	}
	after := f.createMany(t, 60, 6)
	f.waitFinal(t, after, 60)
	f.assertAppliedOnce(t, after)
	t.Logf("shrunk back to 1 consumer: 60 more payments final, each applied once")
}

// paymentFlow creates payments in the background at a steady pace, each for a
// new user, until it has made limit of them or is stopped.
type paymentFlow struct {
	mu    sync.Mutex
	users []uuid.UUID
	errs  []error
	count atomic.Int64
	done  chan struct{}
	quit  chan struct{}
	once  sync.Once
}

func (f *fixture) startPayments(t *testing.T, limit, concurrency int, every time.Duration) *paymentFlow {
	t.Helper()
	p := &paymentFlow{done: make(chan struct{}), quit: make(chan struct{})}
	go func() {
		defer close(p.done)
		var wg sync.WaitGroup
		sem := make(chan struct{}, concurrency)
		tick := time.NewTicker(every)
		defer tick.Stop()
	loop:
		for i := range limit {
			select {
			case <-p.quit:
				break loop
			case <-tick.C:
			}
			sem <- struct{}{}
			user := uuid.New()
			wg.Go(func() {
				defer func() { <-sem }()
				err := f.createPayment(user, i)
				p.mu.Lock()
				defer p.mu.Unlock()
				if err != nil {
					p.errs = append(p.errs, err)
					return
				}
				p.users = append(p.users, user)
				p.count.Add(1)
			})
		}
		wg.Wait()
	}()
	t.Cleanup(func() { p.stop(); <-p.done })
	return p
}

func (p *paymentFlow) created() int { return int(p.count.Load()) }

func (p *paymentFlow) stop() { p.once.Do(func() { close(p.quit) }) }

func (p *paymentFlow) usersSoFar() []uuid.UUID {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.users)
}

// waitCreated waits until n payments have been created.
func (p *paymentFlow) waitCreated(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for p.created() < n {
		if errs := p.errors(); len(errs) > 0 {
			t.Fatalf("%d creates failed after %d payments, the first: %v", len(errs), p.created(), errs[0])
		}
		select {
		case <-p.done:
			t.Fatalf("the flow ended after %d payments, before %d", p.created(), n)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d payments created in 5 minutes, want %d", p.created(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// wait waits for the flow to end and returns its users; any failed create
// fails the test.
func (p *paymentFlow) wait(t *testing.T) []uuid.UUID {
	t.Helper()
	<-p.done
	if errs := p.errors(); len(errs) > 0 {
		t.Fatalf("%d creates failed, the first: %v", len(errs), errs[0])
	}
	return p.usersSoFar()
}

func (p *paymentFlow) errors() []error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.errs)
}

// createPayment creates one payment through the gateway; anything but 201 is
// an error, Kafka down included (the outbox covers that).
func (f *fixture) createPayment(user uuid.UUID, i int) error {
	body := fmt.Sprintf(`{"userId":%q,"accountNumber":"40817810099910004312","amount":"%d.%02d","description":"real kafka"}`, user, 1+i, i%100)
	req, err := http.NewRequest(http.MethodPost, f.stack.GatewayURL+"/function/create-payment", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+f.stack.APIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("create: %d %s", resp.StatusCode, msg)
	}
	return nil
}

// extraConsumer is one more connector for a single function, in the same
// consumer group as the runner's, counting the records it delivered.
type extraConsumer struct {
	delivered atomic.Int64
	cancel    context.CancelFunc
	done      chan error
	stopped   sync.Once
}

func (f *fixture) startExtraConsumer(t *testing.T, brokers []string, fn stack.Function) *extraConsumer {
	t.Helper()
	e := &extraConsumer{done: make(chan error, 1)}
	conn, err := connector.New(connector.Config{
		Brokers:    brokers,
		GatewayURL: f.stack.GatewayURL,
		Functions:  []stack.Function{fn},
		HTTPClient: &http.Client{
			Transport:     countingTransport{base: http.DefaultTransport, path: "/function/" + fn.Name, n: &e.delivered},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	go func() { e.done <- conn.Run(ctx) }()
	t.Cleanup(func() { e.stop(t) })
	return e
}

// stop makes the consumer drain, commit and leave the group.
func (e *extraConsumer) stop(t *testing.T) {
	e.stopped.Do(func() {
		e.cancel()
		if err := <-e.done; err != nil {
			t.Errorf("extra consumer: %v", err)
		}
	})
}

// countingTransport counts the successful calls to one function.
type countingTransport struct {
	base http.RoundTripper
	path string
	n    *atomic.Int64
}

func (c countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(req)
	if err == nil && req.URL.Path == c.path && resp.StatusCode < 300 {
		c.n.Add(1)
	}
	return resp, err
}

// mustWaitGroup waits until the consumer group is stable with the given
// number of members, every one of them assigned at least one partition of
// payments and together all of them, each exactly once, and returns each
// member's partitions, sorted.
func mustWaitGroup(t *testing.T, cluster *kafkacluster.Cluster, group string, members int) [][]int32 {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	var last string
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		groups, err := cluster.Groups(ctx, group)
		cancel()
		if err == nil && len(groups) == 1 {
			g := groups[0]
			assignment := g.Partitions("payments")
			if g.State == "Stable" && len(assignment) == members && spread(assignment, 3) {
				slices.SortFunc(assignment, func(a, b []int32) int { return int(a[0] - b[0]) })
				return assignment
			}
			last = fmt.Sprintf("state %q, assignment %v", g.State, assignment)
		} else {
			last = fmt.Sprintf("groups %+v, err %v", groups, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s never settled on %d members sharing payments' 3 partitions; last: %s", group, members, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// spread reports whether every member has a partition and the members hold
// partitions 0..n-1 exactly once between them.
func spread(assignment [][]int32, n int32) bool {
	seen := map[int32]int{}
	for _, parts := range assignment {
		if len(parts) == 0 {
			return false
		}
		for _, p := range parts {
			seen[p]++
		}
	}
	for p := range n {
		if seen[p] != 1 {
			return false
		}
	}
	return len(seen) == int(n)
}

// mustTopicConfig returns the effective value of a config of each topic,
// wherever it is set (the topic, the broker, the default).
func mustTopicConfig(t *testing.T, brokers []string, name string, topics ...string) map[string]string {
	t.Helper()
	cl := mustKafkaClient(t, brokers)
	req := kmsg.NewPtrDescribeConfigsRequest()
	for _, topic := range topics {
		r := kmsg.NewDescribeConfigsRequestResource()
		r.ResourceType, r.ResourceName, r.ConfigNames = kmsg.ConfigResourceTypeTopic, topic, []string{name}
		req.Resources = append(req.Resources, r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]string{}
	for _, r := range resp.Resources {
		if r.ErrorCode != 0 {
			t.Fatalf("describe configs of %s: error code %d", r.ResourceName, r.ErrorCode)
		}
		for _, c := range r.Configs {
			if c.Name == name && c.Value != nil {
				values[r.ResourceName] = *c.Value
			}
		}
	}
	return values
}

// mustLeader returns the broker leading a partition.
func mustLeader(t *testing.T, cluster *kafkacluster.Cluster, topic string, partition int32) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m, err := cluster.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range m.Partitions {
		if p.Topic == topic && p.Partition == partition && p.Leader > 0 {
			return int(p.Leader)
		}
	}
	t.Fatalf("%s/%d has no leader", topic, partition)
	return 0
}

// mustWaitLeadersMoved waits until no partition of topics is led by the
// dead broker or leaderless, and returns how many partitions that is.
func mustWaitLeadersMoved(t *testing.T, cluster *kafkacluster.Cluster, dead int, topics ...string) int {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		m, err := cluster.Describe(ctx)
		cancel()
		moved, ok := 0, err == nil
		for _, p := range m.Partitions {
			if slices.Contains(topics, p.Topic) {
				ok = ok && p.Leader >= 0 && p.Leader != int32(dead)
				moved++
			}
		}
		if ok && moved > 0 {
			return moved
		}
		if time.Now().After(deadline) {
			t.Fatalf("partitions of %v still led by broker %d or leaderless: %+v (%v)", topics, dead, m.Partitions, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// countUnpublished counts the users' created events still in the outbox.
func (f *fixture) countUnpublished(t *testing.T, users []uuid.UUID) int {
	t.Helper()
	var n int
	err := f.db.QueryRow(context.Background(), `SELECT count(*) FROM outbox o JOIN payments p ON p.payment_id::text = o.message_key
		WHERE o.published IS NULL AND p.user_id = ANY($1)`, users).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// countRelayed counts the users' created events published more than a
// second after they were written: those relay-outbox sent, not create-payment.
func (f *fixture) countRelayed(t *testing.T, users []uuid.UUID) int {
	t.Helper()
	var n int
	err := f.db.QueryRow(context.Background(), `SELECT count(*) FROM outbox o JOIN payments p ON p.payment_id::text = o.message_key
		WHERE o.published > o.created + interval '1 second' AND p.user_id = ANY($1)`, users).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// countRecords counts the records of the users' payments on payments and
// paymentsResults, duplicates from at-least-once publishing included.
func (f *fixture) countRecords(t *testing.T, brokers []string, users []uuid.UUID) (created, results int) {
	t.Helper()
	ids := map[string]bool{}
	rows, err := f.db.Query(context.Background(), `SELECT payment_id::text FROM payments WHERE user_id = ANY($1)`, users)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids[id] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, r := range mustReadAll(t, brokers, "payments") {
		if ids[string(r.Key)] {
			created++
		}
	}
	for _, r := range mustReadAll(t, brokers, "paymentsResults") {
		if ids[string(r.Key)] {
			results++
		}
	}
	return created, results
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func mustKafkaClient(t *testing.T, brokers []string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func mustLoadStack(t *testing.T) *stack.Stack {
	t.Helper()
	st, err := stack.Load(filepath.Join("..", "..", "stack.yml"))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// testLogger keeps the extra consumers' logs out of the test output unless
// KAFKA_TEST_LOGS is set.
func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("KAFKA_TEST_LOGS") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, nil)).With("test", t.Name())
}
