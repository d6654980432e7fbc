//go:build integration

package function

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	handler "github.com/openfaas/templates-sdk/go-http"

	"handler/function/functions/pkg/functest"
	"handler/function/functions/pkg/kafka"
	"handler/function/functions/pkg/outbox"
	"handler/function/functions/pkg/postgres"
	"handler/function/local/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

func mustService(t *testing.T, databaseURL, brokers string) *service {
	t.Helper()
	t.Setenv("OPENFAAS_SECRETS_DIR", t.TempDir()) // no API key: not what these tests are about
	t.Setenv("DATABASE_URL", databaseURL)
	t.Setenv("KAFKA_BROKERS", brokers)
	t.Setenv("PUBLISH_TIMEOUT", "1s")
	t.Setenv("OPENFAAS_SECRETS_DIR", functest.MustSecretsDir(t))
	s, err := newService()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func createRequest(user uuid.UUID) handler.Request {
	return handler.Request{
		Method: http.MethodPost,
		Header: http.Header{"Content-Type": {"application/json"}},
		Body:   []byte(fmt.Sprintf(`{"userId":%q,"accountNumber":"1234","amount":10,"description":"x"}`, user)),
	}
}

func count(t *testing.T, databaseURL, sql string) int {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), sql).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Kafka down: the payment is accepted and its event waits in the outbox until
// the relay publishes it.
func TestKafkaDownLeavesEventInOutboxForTheRelay(t *testing.T) {
	dbURL := testenv.MustDatabase(t)
	deadBroker := fmt.Sprintf("127.0.0.1:%d", testenv.MustFreePort(t))
	s := mustService(t, dbURL, deadBroker)

	resp := s.handle(context.Background(), createRequest(uuid.New()))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create with Kafka down: %d %s", resp.StatusCode, resp.Body)
	}
	if n := count(t, dbURL, "SELECT count(*) FROM outbox WHERE published IS NULL"); n != 1 {
		t.Fatalf("%d unpublished outbox events, want 1", n)
	}

	_, brokers := testenv.MustKafka(t, "payments")
	store := testenv.MustStore(t, postgres.Config{URL: dbURL})
	pub, err := kafka.NewPublisher(kafka.Config{Brokers: brokers})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	relay := &outbox.Relay{Store: store, Publisher: pub}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if n, err := relay.Drain(ctx); n != 1 || err != nil {
		t.Fatalf("relay published %d (%v), want 1", n, err)
	}
	if n := count(t, dbURL, "SELECT count(*) FROM outbox WHERE published IS NULL"); n != 0 {
		t.Fatalf("%d events still unpublished", n)
	}
}

// Postgres down: 503 with Retry-After and the "unavailable" code.
func TestDatabaseDownAnswers503(t *testing.T) {
	deadDB := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/x?sslmode=disable", testenv.MustFreePort(t))
	_, brokers := testenv.MustKafka(t, "payments")
	s := mustService(t, deadDB, strings.Join(brokers, ","))

	resp := s.handle(context.Background(), createRequest(uuid.New()))
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("create with Postgres down: %d %v %s", resp.StatusCode, resp.Header, resp.Body)
	}
	// Refused connections: the insert was never sent, so the answer does not
	// say the payment may have been stored.
	if !strings.Contains(string(resp.Body), `"code":"unavailable"`) || strings.Contains(string(resp.Body), "may have been stored") {
		t.Fatalf("body %s", resp.Body)
	}
}

// A frozen Postgres (every process SIGSTOPped: connections open, nothing
// answers) gets each create a 503 with Retry-After within seconds, on a
// pooled connection and on a fresh one, and never a late answer after a
// commit. A 503 may follow an insert that reached the server, so the client
// retries with the same Idempotency-Key: after the thaw each key has exactly
// one payment and one event, whether the retry stored it or found it.
func TestFrozenDatabaseAnswers503InSeconds(t *testing.T) {
	dbURL := testenv.MustDatabase(t)
	_, brokers := testenv.MustKafka(t, "payments")
	warm := mustService(t, dbURL, strings.Join(brokers, ","))
	user := uuid.New()
	create := func(s *service, key string) handler.Response {
		req := createRequest(user)
		req.Header.Set("Idempotency-Key", key)
		return s.handle(context.Background(), req)
	}
	if resp := create(warm, "before"); resp.StatusCode != http.StatusCreated { // the pool now holds a connection
		t.Fatalf("create before the stall: %d %s", resp.StatusCode, resp.Body)
	}
	cold := mustService(t, dbURL, strings.Join(brokers, ",")) // its first create must connect

	thaw := testenv.MustFreezePostgres(t)
	keys := []string{"stalled-1", "stalled-2", "stalled-3", "stalled-4", "cold"}
	took := make([]time.Duration, len(keys))
	bodies := make([][]byte, len(keys))
	var wg sync.WaitGroup
	for i, key := range keys {
		s := warm
		if key == "cold" {
			s = cold
		}
		wg.Go(func() {
			took[i] = functest.WantUnavailableWithin(t, functest.StallBound, func() handler.Response {
				resp := create(s, key)
				bodies[i] = resp.Body
				return resp
			})
		})
	}
	wg.Wait()
	t.Logf("503 after %v", took)
	thaw()
	if t.Failed() {
		return
	}
	// Where the insert may have reached the server, the client learns what to
	// do about the unknown outcome; where the call had to connect first,
	// nothing was sent and the answer is a plain 503.
	for i, body := range bodies {
		if !strings.Contains(string(body), "may have been stored: retry with the same Idempotency-Key") &&
			!strings.Contains(string(body), `"message":"database is unavailable, retry later"`) {
			t.Errorf("503 for %s: %s", keys[i], body)
		}
	}
	start := time.Now()
	defer func() { t.Logf("retries after the thaw took %s", time.Since(start)) }()

	ids := map[uuid.UUID]string{}
	for _, key := range append(keys, "before") {
		resp := create(warm, key)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("retry of %s after the thaw: %d %s", key, resp.StatusCode, resp.Body)
		}
		var p struct{ PaymentID uuid.UUID }
		if err := json.Unmarshal(resp.Body, &p); err != nil {
			t.Fatal(err)
		}
		if other, seen := ids[p.PaymentID]; seen {
			t.Fatalf("keys %s and %s got the same payment", key, other)
		}
		ids[p.PaymentID] = key
	}
	where := fmt.Sprintf("user_id = '%s'", user)
	if n := count(t, dbURL, "SELECT count(*) FROM payments WHERE "+where); n != len(ids) {
		t.Fatalf("%d payments stored for %d keys", n, len(ids))
	}
	if n := count(t, dbURL, "SELECT count(*) FROM outbox JOIN payments ON message_key = payment_id::text WHERE "+where); n != len(ids) {
		t.Fatalf("%d events stored for %d payments", n, len(ids))
	}
}
