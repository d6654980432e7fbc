//go:build integration

package postgres_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"

	"handler/function/functions/pkg/payment"
	"handler/function/functions/pkg/postgres"
	"handler/function/functions/pkg/storetest"
	"handler/function/local/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

// MustStore opens a store on a fresh migrated database.
func MustStore(tb testing.TB) *postgres.Store {
	tb.Helper()
	s, err := postgres.Open(context.Background(), postgres.Config{URL: testenv.MustDatabase(tb)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store { return MustStore(t) })
}

// A long-poll must not miss a result because Postgres restarted while it
// waited: the listener reconnects and wakes every waiter to look again.
func TestSubscribersAreWokenAfterTheDatabaseRestarts(t *testing.T) {
	s := MustStore(t)
	ctx := context.Background()
	p := storetest.MustPayment(t, uuid.New(), "10", time.Now())
	storetest.MustCreate(t, s, p)
	changed, stop, err := s.Subscribe(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	for len(changed) > 0 {
		<-changed
	}

	cluster := testenv.MustPostgres(t)
	if err := cluster.Stop(); err != nil { // fast shutdown: the test cluster runs without fsync, a crash would lose data
		t.Fatal(err)
	}
	if err := cluster.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	case <-time.After(time.Minute):
		t.Fatal("the waiter was not woken after the database came back")
	}
	// And later changes still arrive, over the new connection. A pooled
	// connection from before the restart fails once with 503 (unavailable),
	// which is what the connector retries.
	for attempt := 1; ; attempt++ {
		_, err := s.UpdatePayment(ctx, p.ID, func(p *payment.Payment) error {
			return p.Apply(payment.Result{PaymentID: p.ID, Success: true, Details: "ok", Processed: time.Now()})
		})
		if err == nil {
			break
		}
		if payment.ErrorCode(err) != payment.EUNAVAILABLE || attempt == 10 {
			t.Fatalf("update after the restart, attempt %d: %v", attempt, err)
		}
	}
	select {
	case <-changed:
	case <-time.After(time.Minute):
		t.Fatal("no notification after the restart")
	}
}
