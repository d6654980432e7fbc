package function

import (
	"context"
	"errors"
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
		cfg: Config{MaxDuration: time.Minute},
		relay: func(context.Context) (drainer, error) {
			return &outbox.Relay{Store: st, Publisher: pub, BatchSize: 2}, nil
		},
		log: slog.New(slog.DiscardHandler),
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
	_, err := st.PublishOutbox(context.Background(), nil, 1000, func(_ context.Context, batch []outbox.Message) []error {
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
			if resp.StatusCode != http.StatusOK || string(resp.Body) != "{\"published\":5}\n" {
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
			if again.StatusCode != http.StatusOK || string(again.Body) != "{\"published\":0}\n" || len(pub.Messages()) != 5 {
				t.Fatalf("second run: %d %s, %d published in all", again.StatusCode, again.Body, len(pub.Messages()))
			}
		})
	}
}

func TestRelayEmptyOutbox(t *testing.T) {
	resp := post(t, newTestService(memory.New(), &functest.Publisher{}), http.MethodPost)
	if resp.StatusCode != http.StatusOK || string(resp.Body) != "{\"published\":0}\n" {
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
	if err != nil || c.MaxDuration != 20*time.Second || c.DatabaseURL != "postgres://x" || !slices.Equal(c.Brokers, []string{"k:9092"}) {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
	for _, bad := range []string{"0", "-5s", "often"} {
		vars["RELAY_MAX_DURATION"] = bad
		if _, err := LoadConfig(config.New(config.Map(vars))); err == nil {
			t.Errorf("RELAY_MAX_DURATION=%s accepted", bad)
		}
	}
}
