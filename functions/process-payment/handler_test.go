package function

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/uuid"
	handler "github.com/openfaas/templates-sdk/go-http"

	"handler/function/functions/pkg/config"
	"handler/function/functions/pkg/events"
	"handler/function/functions/pkg/eventsig"
	"handler/function/functions/pkg/functest"
	"handler/function/functions/pkg/payment"
)

const testTopic = "results-test"

var testNow = time.Date(2026, 11, 25, 15, 4, 5, 123456000, time.UTC)

type published struct {
	topic, key string
	event      cloudevents.Event
}

// fakePublisher records what it is asked to publish, and fails with err when set.
type fakePublisher struct {
	mu   sync.Mutex
	sent []published
	err  error
}

func (f *fakePublisher) PublishJSON(_ context.Context, topic, key string, raw []byte) error {
	e := cloudevents.NewEvent()
	if err := json.Unmarshal(raw, &e); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.sent = append(f.sent, published{topic, key, e})
	return nil
}

func (f *fakePublisher) published() []published {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.sent)
}

// newTestService has an instant provider that accepts with the given rate, and
// a clock that moves a second per call.
func newTestService(rate float64, pub *fakePublisher) *service {
	prov := Provider{SuccessRate: rate}
	now := testNow
	return &service{
		cfg:       Config{ResultsTopic: testTopic, Provider: prov},
		provider:  prov,
		keys:      functest.EventKeys,
		publisher: func(context.Context) (resultPublisher, error) { return pub, nil },
		log:       slog.New(slog.DiscardHandler),
		now:       func() time.Time { now = now.Add(time.Second); return now },
	}
}

// signedCreated is p's "created" event as create-payment signs it.
func signedCreated(p payment.Payment) cloudevents.Event { return functest.Signed(events.Created(p)) }

func newPayment(id uuid.UUID) payment.Payment {
	return payment.New(id, payment.Request{
		UserID:        uuid.MustParse("5d1f7a58-3c1e-4e0c-8a57-0f6f2f1f3b11"),
		AccountNumber: "40817810099910004312", Amount: payment.MustParseAmount("125.50"), Description: "Rent",
	}, testNow)
}

func TestProcessPublishesTheResult(t *testing.T) {
	p := newPayment(uuid.MustParse("0b6c6f0e-1f57-4b38-9d2b-6a0a5c1c9f10"))
	created := signedCreated(p)
	requests := map[string]handler.Request{
		"binary":                   functest.BinaryRequest(created),
		"structured":               functest.MustStructuredRequest(t, created, "application/cloudevents+json"),
		"structured as text/plain": functest.MustStructuredRequest(t, created, "text/plain"),
	}
	for name, req := range requests {
		t.Run(name, func(t *testing.T) {
			pub := &fakePublisher{}
			s := newTestService(0.8, pub)
			resp := s.handle(t.Context(), req)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%d %s", resp.StatusCode, resp.Body)
			}
			sent := pub.published()
			if len(sent) != 1 {
				t.Fatalf("published %d events, want 1", len(sent))
			}
			m := sent[0]
			if m.topic != testTopic || m.key != p.ID.String() || m.event.Type() != payment.EventProcessed ||
				m.event.Source() != events.SourceProcessPayment || m.event.Subject() != p.ID.String() {
				t.Fatalf("published %s to %s with key %s", m.event, m.topic, m.key)
			}
			if err := functest.EventKeys.Verify(m.event); err != nil {
				t.Fatalf("the published result is not signed: %v", err)
			}
			result, err := events.ProcessedResult(m.event)
			if err != nil {
				t.Fatal(err)
			}
			want := s.provider.Decide(p.ID)
			if result.PaymentID != p.ID || result.Success != want.Success || result.Details != want.Details ||
				!result.Processed.Equal(testNow.Add(time.Second)) {
				t.Fatalf("result = %+v, want %+v", result, want)
			}
			var answered payment.Result
			if err := json.Unmarshal(resp.Body, &answered); err != nil || answered.PaymentID != p.ID || answered.Success != want.Success {
				t.Fatalf("answer %s (%v)", resp.Body, err)
			}
		})
	}
}

func TestProcessRedeliveryGivesTheSameOutcome(t *testing.T) {
	for _, id := range MustRandomIDs(t, 20) {
		pub := &fakePublisher{}
		s := newTestService(0.5, pub)
		created := signedCreated(newPayment(id))
		for range 3 {
			if resp := s.handle(t.Context(), functest.MustStructuredRequest(t, created, "text/plain")); resp.StatusCode != http.StatusOK {
				t.Fatalf("%d %s", resp.StatusCode, resp.Body)
			}
		}
		sent := pub.published()
		if len(sent) != 3 {
			t.Fatalf("published %d events, want 3", len(sent))
		}
		first, err := events.ProcessedResult(sent[0].event)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range sent[1:] {
			again, err := events.ProcessedResult(m.event)
			if err != nil {
				t.Fatal(err)
			}
			if m.event.ID() != sent[0].event.ID() || m.key != sent[0].key || again.Success != first.Success || again.Details != first.Details {
				t.Fatalf("redelivery of %s: %s %+v, first %s %+v", id, m.event.ID(), again, sent[0].event.ID(), first)
			}
		}
	}
}

func TestProcessFollowsTheSuccessRate(t *testing.T) {
	for _, rate := range []float64{0, 1} {
		pub := &fakePublisher{}
		s := newTestService(rate, pub)
		for _, id := range MustRandomIDs(t, 10) {
			if resp := s.handle(t.Context(), functest.BinaryRequest(signedCreated(newPayment(id)))); resp.StatusCode != http.StatusOK {
				t.Fatalf("%d %s", resp.StatusCode, resp.Body)
			}
		}
		for _, m := range pub.published() {
			r, err := events.ProcessedResult(m.event)
			if err != nil || r.Success != (rate == 1) {
				t.Fatalf("rate %v published %+v, %v", rate, r, err)
			}
		}
	}
}

func TestProcessAnswers503WhenKafkaIsDown(t *testing.T) {
	created := signedCreated(newPayment(uuid.New()))
	down := payment.Unavailable("kafka", errors.New("brokers unreachable"))
	tests := map[string]func(s *service, pub *fakePublisher){
		"publisher fails": func(_ *service, pub *fakePublisher) { pub.err = down },
		"publisher cannot be built": func(s *service, _ *fakePublisher) {
			s.publisher = func(context.Context) (resultPublisher, error) { return nil, down }
		},
	}
	for name, breakIt := range tests {
		t.Run(name, func(t *testing.T) {
			pub := &fakePublisher{}
			s := newTestService(0.8, pub)
			breakIt(s, pub)
			resp := s.handle(t.Context(), functest.BinaryRequest(created))
			body := functest.MustDecodeError(t, resp)
			if resp.StatusCode != http.StatusServiceUnavailable || body.Error.Code != "unavailable" || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("%d %v %s", resp.StatusCode, resp.Header, resp.Body)
			}
		})
	}
}

func TestProcessStopsWaitingWhenTheCallerLeaves(t *testing.T) {
	pub := &fakePublisher{}
	s := newTestService(1, pub)
	s.provider = Provider{SuccessRate: 1, MinDelay: time.Hour, MaxDelay: time.Hour}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	resp := s.handle(ctx, functest.BinaryRequest(signedCreated(newPayment(uuid.New()))))
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("%d %s", resp.StatusCode, resp.Body)
	}
	if sent := pub.published(); len(sent) != 0 {
		t.Fatalf("published %d events after the caller left", len(sent))
	}
}

func TestProcessRejectsBadEvents(t *testing.T) {
	p := newPayment(uuid.MustParse("0b6c6f0e-1f57-4b38-9d2b-6a0a5c1c9f10"))
	// Each bad event is signed as it is, so that what is refused is the content.
	withData := func(change func(m map[string]any)) cloudevents.Event {
		e := events.Created(p)
		var m map[string]any
		if err := json.Unmarshal(e.Data(), &m); err != nil {
			t.Fatal(err)
		}
		change(m)
		if err := e.SetData(cloudevents.ApplicationJSON, m); err != nil {
			t.Fatal(err)
		}
		return functest.Signed(e)
	}
	otherSubject := events.Created(p)
	otherSubject.SetSubject(uuid.NewString())
	otherSubject = functest.Signed(otherSubject)
	noID := functest.BinaryRequest(signedCreated(p))
	noID.Header.Del("Ce-Id")
	textData := functest.BinaryRequest(signedCreated(p))
	textData.Header.Set("Content-Type", "text/plain")

	tests := map[string]handler.Request{
		"unknown type":               functest.MustStructuredRequest(t, functest.Signed(events.Processed(payment.Result{PaymentID: p.ID, Success: true, Processed: testNow})), "text/plain"),
		"not a CloudEvent":           {Method: http.MethodPost, Header: http.Header{"Content-Type": {"text/plain"}}, Body: []byte("payment created")},
		"empty body":                 {Method: http.MethodPost, Header: http.Header{}},
		"no event id":                noID,
		"text data":                  textData,
		"subject is another payment": functest.MustStructuredRequest(t, otherSubject, "application/cloudevents+json"),
		"data without user":          functest.MustStructuredRequest(t, withData(func(m map[string]any) { delete(m, "userId") }), "text/plain"),
		"data with zero amount":      functest.MustStructuredRequest(t, withData(func(m map[string]any) { m["amount"] = "0" }), "text/plain"),
		"data with a bad amount":     functest.MustStructuredRequest(t, withData(func(m map[string]any) { m["amount"] = "1.234" }), "text/plain"),
		"data with an unknown field": functest.MustStructuredRequest(t, withData(func(m map[string]any) { m["currency"] = "RUB" }), "text/plain"),
		"data without paymentId":     functest.MustStructuredRequest(t, withData(func(m map[string]any) { delete(m, "paymentId") }), "text/plain"),
	}
	for name, req := range tests {
		t.Run(name, func(t *testing.T) {
			pub := &fakePublisher{}
			resp := newTestService(0.8, pub).handle(t.Context(), req)
			body := functest.MustDecodeError(t, resp)
			if resp.StatusCode != http.StatusBadRequest || body.Error.Code != "invalid_request" {
				t.Fatalf("%d %s", resp.StatusCode, resp.Body)
			}
			if sent := pub.published(); len(sent) != 0 {
				t.Fatalf("published %d events for a bad event", len(sent))
			}
		})
	}
}

// An event create-payment did not sign is 401 in every mode, and nothing is published.
func TestProcessRefusesUnsignedEvents(t *testing.T) {
	p := newPayment(uuid.New())
	unsigned := events.Created(p)
	otherKey := events.Created(p)
	eventsig.MustNew(strings.Repeat("k", 32)).Sign(&otherKey)
	tampered := signedCreated(p)
	tampered.SetSource("/functions/someone")
	for _, e := range map[string]cloudevents.Event{"unsigned": unsigned, "signed with another key": otherKey, "tampered": tampered} {
		for mode, req := range map[string]handler.Request{
			"binary":                   functest.BinaryRequest(e),
			"structured":               functest.MustStructuredRequest(t, e, "application/cloudevents+json"),
			"structured as text/plain": functest.MustStructuredRequest(t, e, "text/plain"),
		} {
			pub := &fakePublisher{}
			resp := newTestService(1, pub).handle(t.Context(), req)
			body := functest.MustDecodeError(t, resp)
			if resp.StatusCode != http.StatusUnauthorized || body.Error.Code != "unauthorized" || !strings.Contains(body.Error.Message, "not signed by this stack") {
				t.Errorf("%s, %s: %d %s", mode, e.Extensions()[eventsig.Extension], resp.StatusCode, resp.Body)
			}
			if sent := pub.published(); len(sent) != 0 {
				t.Errorf("%s: published %d events for an unsigned one", mode, len(sent))
			}
		}
	}
}

// A provider whose clock is behind create-payment's still answers no earlier
// than the payment's creation, which apply-result requires.
func TestProcessNeverAnswersBeforeCreation(t *testing.T) {
	pub := &fakePublisher{}
	s := newTestService(1, pub)
	s.now = func() time.Time { return testNow.Add(-time.Second) }
	p := newPayment(uuid.New())
	if resp := s.handle(t.Context(), functest.BinaryRequest(signedCreated(p))); resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, resp.Body)
	}
	r, err := events.ProcessedResult(pub.published()[0].event)
	if err != nil || !r.Processed.Equal(p.Created) {
		t.Fatalf("processed %v (%v), want the creation time %v", r.Processed, err, p.Created)
	}
}

func TestProcessMethodNotAllowed(t *testing.T) {
	pub := &fakePublisher{}
	req := functest.BinaryRequest(signedCreated(newPayment(uuid.New())))
	req.Method = http.MethodGet
	resp := newTestService(0.8, pub).handle(t.Context(), req)
	body := functest.MustDecodeError(t, resp)
	if resp.StatusCode != http.StatusMethodNotAllowed || body.Error.Code != "method_not_allowed" || resp.Header.Get("Allow") != http.MethodPost {
		t.Fatalf("%d %v %s", resp.StatusCode, resp.Header, resp.Body)
	}
	if len(pub.published()) != 0 {
		t.Fatal("a GET published an event")
	}
}

func TestLoadConfig(t *testing.T) {
	secrets := functest.MustSecretsDir(t)
	c, err := LoadConfig(config.New(config.Map(map[string]string{"KAFKA_BROKERS": "k:9092", "OPENFAAS_SECRETS_DIR": secrets})))
	want := Provider{SuccessRate: 0.8, MinDelay: 3 * time.Second, MaxDelay: 25 * time.Second}
	if err != nil || c.Provider != want || c.ResultsTopic != "paymentsResults" || !slices.Equal(c.Brokers, []string{"k:9092"}) ||
		c.EventKeys.SigningKeyID() != functest.EventKeys.SigningKeyID() {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
	instant := map[string]string{"KAFKA_BROKERS": "k:9092", "OPENFAAS_SECRETS_DIR": secrets, "PAYMENT_PROVIDER_MIN_DELAY": "0", "PAYMENT_PROVIDER_MAX_DELAY": "0s", "PAYMENT_PROVIDER_SUCCESS_RATE": "1"}
	if c, err := LoadConfig(config.New(config.Map(instant))); err != nil || c.Provider != (Provider{SuccessRate: 1}) {
		t.Fatalf("instant: %+v, %v", c, err)
	}
	bad := []map[string]string{
		{"KAFKA_BROKERS": "k:9092", "PAYMENT_PROVIDER_SUCCESS_RATE": "1.5"},
		{"KAFKA_BROKERS": "k:9092", "PAYMENT_PROVIDER_SUCCESS_RATE": "-0.1"},
		{"KAFKA_BROKERS": "k:9092", "PAYMENT_PROVIDER_SUCCESS_RATE": "most"},
		{"KAFKA_BROKERS": "k:9092", "PAYMENT_PROVIDER_MIN_DELAY": "10s", "PAYMENT_PROVIDER_MAX_DELAY": "5s"},
		{"KAFKA_BROKERS": "k:9092", "PAYMENT_PROVIDER_MIN_DELAY": "-1s"},
		{},
		{"KAFKA_BROKERS": "k:9092", "OPENFAAS_SECRETS_DIR": t.TempDir()}, // no event key
	}
	for _, vars := range bad {
		if vars["OPENFAAS_SECRETS_DIR"] == "" && len(vars) > 0 {
			vars["OPENFAAS_SECRETS_DIR"] = secrets
		}
		if _, err := LoadConfig(config.New(config.Map(vars))); err == nil {
			t.Errorf("LoadConfig(%v) accepted it", vars)
		}
	}
}
