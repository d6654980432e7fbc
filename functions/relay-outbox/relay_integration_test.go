//go:build integration

package function

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	handler "github.com/openfaas/templates-sdk/go-http"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"handler/function/functions/pkg/events"
	"handler/function/functions/pkg/functest"
	"handler/function/functions/pkg/kafka"
	"handler/function/functions/pkg/outbox"
	"handler/function/functions/pkg/payment"
	"handler/function/functions/pkg/postgres"
	"handler/function/functions/pkg/storetest"
	"handler/function/local/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

func mustRun(t *testing.T, s *service) report {
	t.Helper()
	resp := s.handle(context.Background(), handler.Request{Method: http.MethodPost, Header: http.Header{}})
	var r report
	if err := json.Unmarshal(resp.Body, &r); resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("relay run: %d %s", resp.StatusCode, resp.Body)
	}
	return r
}

// mustTopicSize counts the records on a topic of 3 partitions: the sum of
// their end offsets, so a record sent twice counts twice.
func mustTopicSize(t *testing.T, brokers []string, topic string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for p := range int32(3) {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp = p, -1 // -1: the end
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var size int64
	for _, shard := range cl.RequestSharded(ctx, req) {
		if shard.Err != nil {
			t.Fatal(shard.Err)
		}
		for _, topic := range shard.Resp.(*kmsg.ListOffsetsResponse).Topics {
			for _, p := range topic.Partitions {
				if p.ErrorCode != 0 {
					t.Fatalf("end offset of %s/%d: error %d", topic.Topic, p.Partition, p.ErrorCode)
				}
				size += p.Offset
			}
		}
	}
	return size
}

// A frozen Postgres (every process SIGSTOPped) gets the scheduled run a 503
// with Retry-After within seconds. Nothing was sent meanwhile, and the next
// run after the thaw publishes every waiting event once.
func TestFrozenDatabaseAnswers503InSeconds(t *testing.T) {
	db := testenv.MustDatabaseEnv(t)
	_, brokers := testenv.MustKafka(t, events.PaymentsTopic)
	t.Setenv("KAFKA_BROKERS", strings.Join(brokers, ","))
	s, err := newService()
	if err != nil {
		t.Fatal(err)
	}
	if r := mustRun(t, s); r.Published != 0 { // the pool and the producer are up
		t.Fatalf("first run: %+v", r)
	}
	for range 3 {
		storetest.MustCreate(t, db, storetest.MustPayment(t, uuid.New(), "10", time.Now()))
	}

	thaw := testenv.MustFreezePostgres(t)
	took := functest.WantUnavailableWithin(t, functest.StallBound, func() handler.Response {
		return s.handle(context.Background(), handler.Request{Method: http.MethodPost, Header: http.Header{}})
	})
	t.Logf("503 after %s", took)
	thaw()
	if t.Failed() {
		return
	}
	if r := mustRun(t, s); r.Published != 3 {
		t.Fatalf("run after the thaw: %+v, want the 3 events published", r)
	}
	if r := mustRun(t, s); r.Published != 0 {
		t.Fatalf("next run: %+v, want nothing left", r)
	}
	if n := mustTopicSize(t, brokers, events.PaymentsTopic); n != 3 {
		t.Fatalf("%d records on the topic, want 3: each event once", n)
	}
}

// Retention by the function's clock: a run removes events sent more than
// RETENTION_PERIOD ago and clears older idempotency keys; recent events and
// keys stay, and an old event not yet sent stays and is sent.
func TestRunRemovesWhatIsPastRetention(t *testing.T) {
	dbURL := testenv.MustDatabase(t)
	_, brokers := testenv.MustKafka(t, events.PaymentsTopic)
	now := time.Now().UTC().Truncate(time.Microsecond)
	clock := now
	db := testenv.MustStore(t, postgres.Config{URL: dbURL, Now: func() time.Time { return clock }})
	pub, err := kafka.NewPublisher(kafka.Config{Brokers: brokers})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	s := &service{
		cfg:   Config{MaxDuration: 20 * time.Second, Retention: 24 * time.Hour},
		relay: func(context.Context) (drainer, error) { return &outbox.Relay{Store: db, Publisher: pub}, nil },
		store: db, log: slog.New(slog.DiscardHandler), now: func() time.Time { return clock },
	}
	user := uuid.New()
	create := func(created time.Time, key string) payment.Payment {
		t.Helper()
		p := storetest.MustPayment(t, user, "10", created)
		msg := outbox.Message{Topic: events.PaymentsTopic, Key: p.ID.String(), Event: events.Created(p)}
		if _, _, err := db.CreatePayment(context.Background(), p, key, "fp", msg); err != nil {
			t.Fatal(err)
		}
		return p
	}
	clock = now.Add(-24*time.Hour - 30*time.Minute)
	old := create(clock, "old")
	if r := mustRun(t, s); r != (report{Published: 1}) {
		t.Fatalf("run 24.5 h ago: %+v", r)
	}
	clock = now.Add(-time.Hour)
	recent := create(now.Add(-2*time.Hour), "recent")
	if r := mustRun(t, s); r != (report{Published: 1}) {
		t.Fatalf("run an hour ago: %+v", r)
	}
	unsent := create(now.Add(-48*time.Hour), "unsent") // stored long ago, never sent

	clock = now
	if r := mustRun(t, s); r != (report{Published: 1, ExpiredEvents: 1, ExpiredKeys: 2}) {
		t.Fatalf("run now: %+v, want the unsent event published, the old sent one removed and the two old keys cleared", r)
	}
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, want := range []struct {
		p        payment.Payment
		key      *string
		inOutbox bool
	}{{old, nil, false}, {recent, ptr("recent"), true}, {unsent, nil, true}} {
		var key *string
		var stored int
		err := conn.QueryRow(context.Background(), `SELECT idempotency_key, (SELECT count(*) FROM outbox WHERE message_key = $2)
			FROM payments WHERE payment_id = $1`, want.p.ID, want.p.ID.String()).Scan(&key, &stored)
		if err != nil {
			t.Fatalf("payment %s: %v", want.p.ID, err)
		}
		if (key == nil) != (want.key == nil) || key != nil && *key != *want.key || (stored == 1) != want.inOutbox {
			t.Errorf("payment %s: key %v, %d events in the outbox; want key %v, in outbox %v", want.p.ID, key, stored, want.key, want.inOutbox)
		}
	}
	if n := mustTopicSize(t, brokers, events.PaymentsTopic); n != 3 {
		t.Fatalf("%d records on the topic, want the 3 events once each", n)
	}
}

func ptr[T any](v T) *T { return &v }
