//go:build integration

package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"handler/function/functions/pkg/events"
	"handler/function/functions/pkg/functest"
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
	return testenv.MustStore(tb, cfg)
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

// Marks that run at the same time share a statement; each marks only its own
// events, and the relay still finds every event nobody marked.
func TestConcurrentMarksMarkOnlyTheirOwnEvents(t *testing.T) {
	s := MustStore(t)
	ctx := context.Background()
	ids := make([]string, 60)
	for i := range ids {
		ids[i] = storetest.MustCreate(t, s, storetest.MustPayment(t, uuid.New(), "10", time.Now()))
	}
	unsent := map[string]bool{}
	var wg sync.WaitGroup
	for i, id := range ids {
		if i%3 == 0 { // its send failed: left for the relay
			unsent[id] = true
			continue
		}
		wg.Go(func() {
			if err := s.MarkPublished(ctx, []string{id}); err != nil {
				t.Errorf("mark %s: %v", id, err)
			}
		})
	}
	wg.Wait()
	drained, err := s.PublishOutbox(ctx, 100, func(_ context.Context, batch []outbox.Message) []error {
		for _, m := range batch {
			if !unsent[m.Event.ID()] {
				t.Errorf("event %s was marked but is still unpublished", m.Event.ID())
			}
		}
		return make([]error, len(batch))
	})
	if err != nil || drained != 20 {
		t.Fatalf("the relay found %d events (%v), want the 20 nobody marked", drained, err)
	}
}

// A mark does not wait for events the relay holds locked while it publishes
// them: it skips them, and the relay marks them itself.
func TestMarkSkipsEventsTheRelayHolds(t *testing.T) {
	s := MustStore(t)
	ctx := context.Background()
	id := storetest.MustCreate(t, s, storetest.MustPayment(t, uuid.New(), "10", time.Now()))
	holding, release := make(chan struct{}), make(chan struct{})
	relayDone := make(chan error, 1)
	go func() {
		n, err := s.PublishOutbox(ctx, 10, func(_ context.Context, batch []outbox.Message) []error {
			close(holding)
			<-release
			return make([]error, len(batch))
		})
		if err == nil && n != 1 {
			err = fmt.Errorf("the relay published %d events, want 1", n)
		}
		relayDone <- err
	}()
	<-holding
	// Were the mark to wait for the relay's lock, it would wait for ever: the
	// relay goes on only after the mark returned.
	if err := s.MarkPublished(ctx, []string{id}); err != nil {
		t.Fatalf("mark while the relay holds the event: %v", err)
	}
	close(release)
	if err := <-relayDone; err != nil {
		t.Fatal(err)
	}
	if n := storetest.MustDrain(t, s); n != 0 {
		t.Fatalf("%d events left unpublished", n)
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
		"mark":      func() error { return s.MarkPublished(ctx, []string{event}) },
		"drain":     func() error { _, err := s.PublishOutbox(ctx, 10, ok); return err },
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
// not (the relay logged "database is unavailable" during Kafka outages).
// create-payment sends its events from memory after the commit, outside the
// store, so the relay's sweep is the store's one publish.
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
	storetest.MustCreate(t, s, storetest.MustPayment(t, uuid.New(), "10", time.Now()))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	sent, err := s.PublishOutbox(ctx, 1, waitForKafka)
	cancel()
	var perr *payment.Error
	if sent != 0 || !errors.As(err, &perr) || perr.Message != "kafka is unavailable, retry later" {
		t.Errorf("sent %d, err %v; want Kafka named as the cause", sent, err)
	}
}

// Concurrent creates share a statement and a commit (batches). Each still gets
// its own outcome: a new payment is stored with its event; a second request
// with the user's Idempotency-Key gets the first's payment back, even when both
// are in the same batch; a key reused for another request is refused; and a row
// that breaks a constraint (the store is called without the handler's
// validation here) fails alone.
func TestConcurrentCreatesKeepTheirOwnOutcomes(t *testing.T) {
	s := MustStore(t)
	ctx := context.Background()
	start := make(chan struct{}) // every call starts at once, so batches form
	create := func(p payment.Payment, key, fingerprint string) (payment.Payment, bool, error) {
		<-start
		msg := outbox.Message{Topic: events.PaymentsTopic, Key: p.ID.String(), Event: functest.Signed(events.Created(p))}
		return s.CreatePayment(ctx, p, key, fingerprint, msg)
	}
	var wg sync.WaitGroup
	var stored sync.Map // payment id → its user, for every payment a caller was told was stored
	for range 60 {
		wg.Go(func() {
			p := storetest.MustPayment(t, uuid.New(), "10", time.Now())
			if _, replayed, err := create(p, "", "fp"); err != nil || replayed {
				t.Errorf("plain create: replayed %v, %v", replayed, err)
			}
			stored.Store(p.ID, p.UserID)
		})
	}
	type pair struct{ first, second payment.Payment }
	same, reused := make([]pair, 20), make([]pair, 10)
	for i := range same {
		user := uuid.New()
		same[i] = pair{storetest.MustPayment(t, user, "10", time.Now()), storetest.MustPayment(t, user, "10", time.Now())}
	}
	for i := range reused {
		user := uuid.New()
		reused[i] = pair{storetest.MustPayment(t, user, "10", time.Now()), storetest.MustPayment(t, user, "20", time.Now())}
	}
	sameOutcomes := make([][2]payment.Payment, len(same))
	for i, pr := range same {
		for j, p := range []payment.Payment{pr.first, pr.second} {
			wg.Go(func() {
				got, _, err := create(p, "key", "fp-same")
				if err != nil {
					t.Errorf("create with a repeated key: %v", err)
				}
				sameOutcomes[i][j] = got
			})
		}
	}
	reusedCodes := make([][2]string, len(reused))
	for i, pr := range reused {
		for j, p := range []payment.Payment{pr.first, pr.second} {
			wg.Go(func() {
				got, _, err := create(p, "key", fmt.Sprintf("fp-%d", j))
				reusedCodes[i][j] = payment.ErrorCode(err)
				if err == nil {
					stored.Store(got.ID, got.UserID)
				}
			})
		}
	}
	bad := storetest.MustPayment(t, uuid.New(), "10", time.Now())
	bad.AccountNumber = strings.Repeat("4", 65) // the table allows 64
	wg.Go(func() {
		if _, _, err := create(bad, "", "fp"); err == nil || payment.ErrorCode(err) == payment.EUNAVAILABLE {
			t.Errorf("create breaking a constraint: %v, want an internal error", err)
		}
	})
	close(start)
	wg.Wait()

	for i, got := range sameOutcomes {
		if got[0].ID != got[1].ID || (got[0].ID != same[i].first.ID && got[0].ID != same[i].second.ID) {
			t.Errorf("pair %d with one key got payments %s and %s, want the same one", i, got[0].ID, got[1].ID)
		}
		stored.Store(got[0].ID, got[0].UserID)
	}
	for i, codes := range reusedCodes {
		if !(codes[0] == "" && codes[1] == payment.EIDEMPOTENCY || codes[1] == "" && codes[0] == payment.EIDEMPOTENCY) {
			t.Errorf("pair %d reusing a key for another request: codes %q, want one stored and one %s", i, codes, payment.EIDEMPOTENCY)
		}
	}
	want := 0
	stored.Range(func(id, user any) bool {
		want++
		if _, err := s.GetPayment(ctx, id.(uuid.UUID), user.(uuid.UUID)); err != nil {
			t.Errorf("read back %s: %v", id, err)
		}
		return true
	})
	if n := storetest.MustDrain(t, s); n != want || want != 60+20+10 {
		t.Fatalf("%d events in the outbox for %d payments told stored, want one each and 90", n, want)
	}
	if _, err := s.GetPayment(ctx, bad.ID, bad.UserID); payment.ErrorCode(err) != payment.ENOTFOUND {
		t.Fatalf("the payment that broke a constraint: %v, want not found", err)
	}
}

// A statement prepared while the table was small must not keep the plan made
// for that size. With generic plans (Postgres's choice after five runs of a
// prepared statement) a lookup by payment_id = ANY($1) prepared on a fresh
// database went on scanning the whole table once it had grown: under make
// bench that was most of Postgres's CPU (docs/benchmarks.md).
func TestStatementsArePlannedForTheirArguments(t *testing.T) {
	s := MustStore(t)
	ctx := context.Background()
	conn, err := s.Pool().Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	const lookup = `PREPARE lookup(uuid[]) AS SELECT payment_id FROM payments WHERE payment_id = ANY($1)`
	if _, err := conn.Exec(ctx, lookup); err != nil {
		t.Fatal(err)
	}
	// A few payments, and lookups of a batch's size.
	for range 3 {
		storetest.MustCreate(t, s, storetest.MustPayment(t, uuid.New(), "10.00", time.Now()))
	}
	batch := make([]string, 100)
	for i := range batch {
		batch[i] = uuid.NewString()
	}
	for range 10 {
		if _, err := conn.Exec(ctx, `EXECUTE lookup('{`+strings.Join(batch, ",")+`}')`); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Exec(ctx, `INSERT INTO payments (payment_id, user_id, account_number, amount, description, created, request_hash)
		SELECT gen_random_uuid(), gen_random_uuid(), '40817810099910004312', 1, 'x', now(), 'h' FROM generate_series(1, 20000)`); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, `EXPLAIN EXECUTE lookup(ARRAY[gen_random_uuid(), gen_random_uuid()])`)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if plan := strings.Join(lines, "\n"); strings.Contains(plan, "Seq Scan") || !strings.Contains(plan, "payments_pkey") {
		t.Errorf("the lookup scans the table instead of its primary key:\n%s", plan)
	}
}
