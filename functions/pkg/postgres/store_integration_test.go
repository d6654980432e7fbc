//go:build integration

package postgres_test

import (
	"context"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"handler/function/functions/pkg/events"
	"handler/function/functions/pkg/outbox"
	"handler/function/functions/pkg/payment"
	"handler/function/functions/pkg/postgres"
	"handler/function/functions/pkg/storetest"
	"handler/function/local/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

// MustStore opens a store on a fresh migrated database.
func MustStore(tb testing.TB) *postgres.Store {
	tb.Helper()
	return MustStoreWith(tb, postgres.Config{})
}

// MustStoreWith opens a store configured by cfg on a fresh migrated database.
func MustStoreWith(tb testing.TB, cfg postgres.Config) *postgres.Store {
	tb.Helper()
	cfg.URL = testenv.MustDatabase(tb)
	s, err := postgres.Open(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now func() time.Time) storetest.Store {
		return MustStoreWith(t, postgres.Config{Now: now})
	})
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

// Concurrent calls share queries and transactions (batches). Each still gets
// its own outcome: every result is applied exactly once, a duplicate sees the
// first and is refused as already applied, an unknown payment is not found,
// and a payment read by another user is not found.
func TestConcurrentCallsKeepTheirOwnOutcomes(t *testing.T) {
	s := MustStore(t)
	ctx := context.Background()
	var ps []payment.Payment
	for range 100 {
		p := storetest.MustPayment(t, uuid.New(), "10", time.Now())
		storetest.MustCreate(t, s, p)
		ps = append(ps, p)
	}
	var applied, duplicates atomic.Int64
	var wg sync.WaitGroup
	for _, p := range ps {
		result := payment.Result{PaymentID: p.ID, Success: true, Details: "ok", Processed: time.Now()}
		for range 2 {
			wg.Go(func() {
				_, err := s.UpdatePayment(ctx, p.ID, func(p *payment.Payment) error { return p.Apply(result) })
				switch {
				case err == nil:
					applied.Add(1)
				case errors.Is(err, payment.ErrAlreadyApplied):
					duplicates.Add(1)
				default:
					t.Errorf("update %s: %v", p.ID, err)
				}
			})
		}
		wg.Go(func() {
			_, err := s.UpdatePayment(ctx, uuid.New(), func(*payment.Payment) error { return nil })
			if payment.ErrorCode(err) != payment.ENOTFOUND {
				t.Errorf("update of an unknown payment: %v, want not found", err)
			}
		})
	}
	wg.Wait()
	if applied.Load() != 100 || duplicates.Load() != 100 {
		t.Fatalf("%d applied and %d duplicates, want 100 and 100", applied.Load(), duplicates.Load())
	}
	for _, p := range ps {
		wg.Go(func() {
			got, err := s.GetPayment(ctx, p.ID, p.UserID)
			if err != nil || got.State != payment.Completed || got.ID != p.ID {
				t.Errorf("read back %s: %+v, %v", p.ID, got, err)
			}
		})
		wg.Go(func() {
			if _, err := s.GetPayment(ctx, p.ID, uuid.New()); payment.ErrorCode(err) != payment.ENOTFOUND {
				t.Errorf("another user's read of %s: %v, want not found", p.ID, err)
			}
		})
	}
	wg.Wait()
}

// Publishes of given events that run at the same time share a transaction;
// each call still gets its own events and outcome, and an event whose
// publish failed stays for the relay.
func TestConcurrentPublishesMarkOnlyTheirOwnSentEvents(t *testing.T) {
	s := MustStore(t)
	ctx := context.Background()
	ids := make([]string, 60)
	for i := range ids {
		ids[i] = storetest.MustCreate(t, s, storetest.MustPayment(t, uuid.New(), "10", time.Now()))
	}
	failed := map[string]bool{}
	var wg sync.WaitGroup
	for i, id := range ids {
		failing := i%3 == 0
		failed[id] = failing
		wg.Go(func() {
			sent, err := s.PublishOutbox(ctx, []string{id}, 1, func(_ context.Context, batch []outbox.Message) []error {
				if len(batch) != 1 || batch[0].Event.ID() != id {
					t.Errorf("call for %s was handed %d events", id, len(batch))
				}
				if failing {
					return []error{errors.New("kafka down")}
				}
				return []error{nil}
			})
			if failing && (sent != 0 || err == nil) || !failing && (sent != 1 || err != nil) {
				t.Errorf("publish %s (failing %v): sent %d, err %v", id, failing, sent, err)
			}
		})
	}
	wg.Wait()
	drained, err := s.PublishOutbox(ctx, nil, 100, func(_ context.Context, batch []outbox.Message) []error {
		for _, m := range batch {
			if !failed[m.Event.ID()] {
				t.Errorf("event %s was sent but is still unpublished", m.Event.ID())
			}
		}
		return make([]error, len(batch))
	})
	if err != nil || drained != 20 {
		t.Fatalf("the relay found %d events (%v), want the 20 whose publish failed", drained, err)
	}
}

// A frozen Postgres (every process SIGSTOPped: connections open, nothing
// answers): every call of the store, whether it runs its own batch, waits
// behind a stalled one or needs a new connection, ends with EUNAVAILABLE
// within Timeout of its start.
func TestFrozenDatabaseEveryCallEndsByItsDeadline(t *testing.T) {
	const timeout = time.Second
	s := MustStoreWith(t, postgres.Config{Timeout: timeout, MaxConns: 2})
	ctx := context.Background()
	p := storetest.MustPayment(t, uuid.New(), "10", time.Now())
	event := storetest.MustCreate(t, s, p)
	if _, err := s.GetPayment(ctx, p.ID, p.UserID); err != nil { // a pooled connection
		t.Fatal(err)
	}
	ok := func(_ context.Context, batch []outbox.Message) []error { return make([]error, len(batch)) }
	calls := map[string]func() error{
		"get":  func() error { _, err := s.GetPayment(ctx, p.ID, p.UserID); return err },
		"list": func() error { _, err := s.ListPayments(ctx, p.UserID, 10); return err },
		"update": func() error {
			_, err := s.UpdatePayment(ctx, p.ID, func(*payment.Payment) error { return nil })
			return err
		},
		"create": func() error {
			q := storetest.MustPayment(t, uuid.New(), "10", time.Now())
			_, _, err := s.CreatePayment(ctx, q, "", "fp", outbox.Message{Topic: "payments", Key: q.ID.String(), Event: events.Created(q)})
			return err
		},
		"publish":   func() error { _, err := s.PublishOutbox(ctx, []string{event}, 1, ok); return err },
		"drain":     func() error { _, err := s.PublishOutbox(ctx, nil, 10, ok); return err },
		"expire":    func() error { _, _, err := s.Expire(ctx, time.Now(), 10); return err },
		"subscribe": func() error { _, _, err := s.Subscribe(ctx, p.ID); return err },
	}

	thaw := testenv.MustFreezePostgres(t)
	var wg sync.WaitGroup
	for name, call := range calls {
		for i := range 3 { // more callers than connections: some queue, some connect
			wg.Go(func() {
				start := time.Now()
				err := call()
				took := time.Since(start)
				if payment.ErrorCode(err) != payment.EUNAVAILABLE || took > timeout+2*time.Second {
					t.Errorf("%s #%d: %v after %s, want unavailable within %s", name, i, err, took, timeout)
				}
			})
		}
	}
	wg.Wait()
	thaw()
	_, err := s.GetPayment(ctx, p.ID, p.UserID)
	if payment.ErrorCode(err) == payment.EUNAVAILABLE { // a connection the stall broke may fail once
		_, err = s.GetPayment(ctx, p.ID, p.UserID)
	}
	if err != nil {
		t.Fatalf("after the thaw: %v", err)
	}
}

// A publish that waits on a dead Kafka until the caller's deadline fails as
// Kafka's failure: the database was fine, and the error must not say it was
// not (create-payment logged "database is unavailable" during Kafka outages).
func TestAPublishThatRunsOutOfTimeOnKafkaBlamesKafka(t *testing.T) {
	s := MustStore(t)
	waitForKafka := func(ctx context.Context, batch []outbox.Message) []error {
		<-ctx.Done()
		errs := make([]error, len(batch))
		for i := range errs {
			errs[i] = payment.Unavailable("kafka", ctx.Err())
		}
		return errs
	}
	for _, name := range []string{"given events", "the relay's sweep"} {
		id := storetest.MustCreate(t, s, storetest.MustPayment(t, uuid.New(), "10", time.Now()))
		ids := []string{id}
		if name == "the relay's sweep" {
			ids = nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		sent, err := s.PublishOutbox(ctx, ids, 1, waitForKafka)
		cancel()
		var perr *payment.Error
		if sent != 0 || !errors.As(err, &perr) || perr.Message != "kafka is unavailable, retry later" {
			t.Errorf("%s: sent %d, err %v; want Kafka named as the cause", name, sent, err)
		}
	}
}
