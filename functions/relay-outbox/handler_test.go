package function

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	handler "github.com/openfaas/templates-sdk/go-http"

	"handler/function/functions/pkg/config"
	"handler/function/functions/pkg/events"
	"handler/function/functions/pkg/functest"
	"handler/function/functions/pkg/memory"
	"handler/function/functions/pkg/outbox"
	"handler/function/functions/pkg/payment"
	"handler/function/functions/pkg/storetest"
)

var testNow = time.Date(2026, 11, 25, 15, 4, 5, 123456000, time.UTC)

// newTestService relays the memory store's outbox through pub in batches of 2,
// so that draining takes several batches.
func newTestService(st *memory.Store, pub *functest.Publisher) *service {
	return &service{
		cfg: Config{MaxDuration: time.Minute, Retention: 24 * time.Hour},
		relay: func(context.Context) (drainer, error) {
			return &outbox.Relay{Store: st, Publisher: pub, BatchSize: 2}, nil
		},
		store: st,
		log:   slog.New(slog.DiscardHandler),
		now:   func() time.Time { return testNow },
	}
}

// MustFill stores n payments with their created events and returns the event ids.
func MustFill(tb testing.TB, st *memory.Store, n int) []string {
	tb.Helper()
	var ids []string
	for range n {
		ids = append(ids, storetest.MustCreate(tb, st, storetest.MustPayment(tb, uuid.New(), "1", testNow)))
	}
	return ids
}

// MustPendingEvents returns the ids of the outbox messages not yet published, leaving them there.
func MustPendingEvents(tb testing.TB, st *memory.Store) []string {
	tb.Helper()
	var pending []string
	keep := errors.New("peek only")
	_, err := st.PublishOutbox(context.Background(), 1000, func(_ context.Context, batch []outbox.Message) []error {
		errs := make([]error, len(batch))
		for i, m := range batch {
			pending = append(pending, m.Event.ID())
			errs[i] = keep
		}
		return errs
	})
	if err != nil && !errors.Is(err, keep) {
		tb.Fatal(err)
	}
	slices.Sort(pending)
	return pending
}

func post(tb testing.TB, s *service, method string) handler.Response {
	tb.Helper()
	return s.handle(tb.Context(), handler.Request{Method: method, Header: http.Header{}})
}

func TestRelayDrainsTheOutbox(t *testing.T) {
	for _, method := range []string{http.MethodPost} {
		t.Run(method, func(t *testing.T) { // the cron-connector and PingSource POST
			st := memory.New()
			ids := MustFill(t, st, 5)
			pub := &functest.Publisher{}
			resp := post(t, newTestService(st, pub), method)
			if resp.StatusCode != http.StatusOK || string(resp.Body) != "{\"published\":5,\"expiredEvents\":0,\"expiredKeys\":0}\n" {
				t.Fatalf("%d %s", resp.StatusCode, resp.Body)
			}
			var sent []string
			for _, m := range pub.Messages() {
				if m.Topic != events.PaymentsTopic || m.Key != m.Event.Subject() || m.Event.Type() != payment.EventCreated {
					t.Fatalf("published %s to %s with key %s", m.Event, m.Topic, m.Key)
				}
				sent = append(sent, m.Event.ID())
			}
			slices.Sort(sent)
			slices.Sort(ids)
			if !slices.Equal(sent, ids) {
				t.Fatalf("published %v, want each of %v once", sent, ids)
			}
			if pending := MustPendingEvents(t, st); len(pending) != 0 {
				t.Fatalf("still in the outbox: %v", pending)
			}

			// Nothing is left, so the next run publishes nothing.
			again := post(t, newTestService(st, pub), method)
			if again.StatusCode != http.StatusOK || string(again.Body) != "{\"published\":0,\"expiredEvents\":0,\"expiredKeys\":0}\n" || len(pub.Messages()) != 5 {
				t.Fatalf("second run: %d %s, %d published in all", again.StatusCode, again.Body, len(pub.Messages()))
			}
		})
	}
}

func TestRelayEmptyOutbox(t *testing.T) {
	resp := post(t, newTestService(memory.New(), &functest.Publisher{}), http.MethodPost)
	if resp.StatusCode != http.StatusOK || string(resp.Body) != "{\"published\":0,\"expiredEvents\":0,\"expiredKeys\":0}\n" {
		t.Fatalf("%d %s", resp.StatusCode, resp.Body)
	}
}

func TestRelayFailuresKeepTheEvents(t *testing.T) {
	down := payment.Unavailable("kafka", errors.New("brokers unreachable"))
	tests := map[string]func(s *service, st *memory.Store, pub *functest.Publisher){
		"publisher fails": func(_ *service, _ *memory.Store, pub *functest.Publisher) { pub.Err = down },
		"relay cannot be built": func(s *service, _ *memory.Store, _ *functest.Publisher) {
			s.relay = func(context.Context) (drainer, error) { return nil, down }
		},
		"store outage": func(_ *service, st *memory.Store, _ *functest.Publisher) {
			st.Fail = payment.Unavailable("database", errors.New("connection refused"))
		},
	}
	for name, breakIt := range tests {
		t.Run(name, func(t *testing.T) {
			st := memory.New()
			ids := MustFill(t, st, 3)
			slices.Sort(ids)
			pub := &functest.Publisher{}
			s := newTestService(st, pub)
			breakIt(s, st, pub)
			resp := post(t, s, http.MethodPost)
			body := functest.MustDecodeError(t, resp)
			if resp.StatusCode != http.StatusServiceUnavailable || body.Error.Code != "unavailable" || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("%d %v %s", resp.StatusCode, resp.Header, resp.Body)
			}
			st.Fail = nil
			if pending := MustPendingEvents(t, st); !slices.Equal(pending, ids) {
				t.Fatalf("outbox holds %v, want %v", pending, ids)
			}
		})
	}
}

func TestRelayMethodNotAllowed(t *testing.T) {
	st := memory.New()
	MustFill(t, st, 1)
	pub := &functest.Publisher{}
	resp := post(t, newTestService(st, pub), http.MethodGet)
	body := functest.MustDecodeError(t, resp)
	if resp.StatusCode != http.StatusMethodNotAllowed || body.Error.Code != "method_not_allowed" || resp.Header.Get("Allow") != "POST" {
		t.Fatalf("%d %v %s", resp.StatusCode, resp.Header, resp.Body)
	}
	if len(pub.Messages()) != 0 {
		t.Fatal("a GET published events")
	}
}

func TestLoadConfig(t *testing.T) {
	vars := map[string]string{"DATABASE_URL": "postgres://x", "KAFKA_BROKERS": "k:9092"}
	c, err := LoadConfig(config.New(config.Map(vars)))
	if err != nil || c.MaxDuration != 20*time.Second || c.Retention != 24*time.Hour || c.Database.URL != "postgres://x" || c.Database.Timeout != config.DefaultDBTimeout || !slices.Equal(c.Brokers, []string{"k:9092"}) {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
	for _, bad := range []string{"0", "-5s", "often"} {
		vars["RELAY_MAX_DURATION"] = bad
		if _, err := LoadConfig(config.New(config.Map(vars))); err == nil {
			t.Errorf("RELAY_MAX_DURATION=%s accepted", bad)
		}
	}
	delete(vars, "RELAY_MAX_DURATION")
	vars["RETENTION_PERIOD"] = "168h"
	if c, err := LoadConfig(config.New(config.Map(vars))); err != nil || c.Retention != 7*24*time.Hour {
		t.Errorf("RETENTION_PERIOD=168h: %v, %v", c.Retention, err)
	}
	for _, bad := range []string{"0", "59m", "forever"} {
		vars["RETENTION_PERIOD"] = bad
		if _, err := LoadConfig(config.New(config.Map(vars))); err == nil {
			t.Errorf("RETENTION_PERIOD=%s accepted", bad)
		}
	}
}

// Each run removes sent events and idempotency keys older than the retention
// period by the function's clock, and keeps recent ones. (That unsent events
// always stay is the store contract's, storetest.)
func TestRelayExpiresWhatIsPastRetention(t *testing.T) {
	st := memory.New()
	user := uuid.New()
	sent := func(created, published time.Time, key string) payment.Payment {
		t.Helper()
		p := storetest.MustPayment(t, user, "1", created)
		msg := outbox.Message{Topic: events.PaymentsTopic, Key: p.ID.String(), Event: events.Created(p)}
		if _, _, err := st.CreatePayment(t.Context(), p, key, "fp-"+key, msg); err != nil {
			t.Fatal(err)
		}
		st.Now = func() time.Time { return published }
		if err := st.MarkPublished(t.Context(), []string{msg.Event.ID()}); err != nil {
			t.Fatalf("mark published: %v", err)
		}
		return p
	}
	sent(testNow.Add(-26*time.Hour), testNow.Add(-25*time.Hour), "old")
	recent := sent(testNow.Add(-2*time.Hour), testNow.Add(-time.Hour), "recent")
	st.Now = func() time.Time { return testNow }

	resp := post(t, newTestService(st, &functest.Publisher{}), http.MethodPost)
	if resp.StatusCode != http.StatusOK || string(resp.Body) != "{\"published\":0,\"expiredEvents\":1,\"expiredKeys\":1}\n" {
		t.Fatalf("%d %s", resp.StatusCode, resp.Body)
	}
	again := storetest.MustPayment(t, user, "1", testNow)
	msg := outbox.Message{Topic: events.PaymentsTopic, Key: again.ID.String(), Event: events.Created(again)}
	if stored, replayed, err := st.CreatePayment(t.Context(), again, "old", "fp-old", msg); err != nil || replayed || stored.ID != again.ID {
		t.Fatalf("the expired key still replays: %s %v %v", stored.ID, replayed, err)
	}
	if stored, replayed, err := st.CreatePayment(t.Context(), again, "recent", "fp-recent", msg); err != nil || !replayed || stored.ID != recent.ID {
		t.Fatalf("the recent key no longer replays: %s %v %v", stored.ID, replayed, err)
	}
}

// Retention needs only the database: Kafka being down does not stop it.
func TestRelayExpiresWhileKafkaIsDown(t *testing.T) {
	st := memory.New()
	st.Now = func() time.Time { return testNow.Add(-25 * time.Hour) }
	old := MustFill(t, st, 2)
	if n := MustPublishAll(t, st); n != 2 {
		t.Fatalf("published %d", n)
	}
	unsent := MustFill(t, st, 1)
	pub := &functest.Publisher{Err: payment.Unavailable("kafka", errors.New("brokers unreachable"))}
	resp := post(t, newTestService(st, pub), http.MethodPost)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("%d %s", resp.StatusCode, resp.Body)
	}
	if removed, _, err := st.Expire(t.Context(), testNow, 100); removed != 0 || err != nil {
		t.Fatalf("%d of the old sent events %v were left: %v", removed, old, err)
	}
	if pending := MustPendingEvents(t, st); !slices.Equal(pending, unsent) {
		t.Fatalf("outbox holds %v, want the unsent %v", pending, unsent)
	}
}

// MustPublishAll marks every unsent event of the memory store sent and says how many there were.
func MustPublishAll(tb testing.TB, st *memory.Store) int {
	tb.Helper()
	n, err := st.PublishOutbox(context.Background(), 1000, func(_ context.Context, batch []outbox.Message) []error {
		return make([]error, len(batch))
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

func TestRelayExpiryOutageAnswers503(t *testing.T) {
	st := memory.New()
	s := newTestService(st, &functest.Publisher{})
	s.store = failingExpirer{payment.Unavailable("database", errors.New("statement timeout"))}
	resp := post(t, s, http.MethodPost)
	if body := functest.MustDecodeError(t, resp); resp.StatusCode != http.StatusServiceUnavailable || body.Error.Code != "unavailable" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("%d %v %s", resp.StatusCode, resp.Header, resp.Body)
	}
}

type failingExpirer struct{ err error }

func (f failingExpirer) Expire(context.Context, time.Time, int) (int, int, error) { return 0, 0, f.err }

// batchesExpirer has full batches of events for its first calls, then fewer.
type batchesExpirer struct {
	full   int
	calls  int
	before []time.Time
}

func (b *batchesExpirer) Expire(_ context.Context, before time.Time, limit int) (int, int, error) {
	b.calls++
	b.before = append(b.before, before)
	if b.calls <= b.full {
		return limit, 3, nil
	}
	return 7, 0, nil
}

func TestRelayExpiresInBatchesUntilNoneAreLeft(t *testing.T) {
	s := newTestService(memory.New(), &functest.Publisher{})
	b := &batchesExpirer{full: 3}
	s.store = b
	resp := post(t, s, http.MethodPost)
	want := fmt.Sprintf("{\"published\":0,\"expiredEvents\":%d,\"expiredKeys\":9}\n", 3*expireBatch+7)
	if string(resp.Body) != want || b.calls != 4 {
		t.Fatalf("%s after %d calls, want %s after 4", resp.Body, b.calls, want)
	}
	for _, before := range b.before {
		if !before.Equal(testNow.Add(-24 * time.Hour)) {
			t.Fatalf("cutoff %s, want the function's clock less the retention period", before)
		}
	}
}
