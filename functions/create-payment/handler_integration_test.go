//go:build integration

package function

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
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
	store, err := postgres.Open(context.Background(), postgres.Config{URL: dbURL})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
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
	if !strings.Contains(string(resp.Body), `"code":"unavailable"`) {
		t.Fatalf("body %s", resp.Body)
	}
}
