package function

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/uuid"
	handler "github.com/openfaas/templates-sdk/go-http"

	"handler/function/functions/pkg/config"
	"handler/function/functions/pkg/events"
	"handler/function/functions/pkg/eventsig"
	"handler/function/functions/pkg/functest"
	"handler/function/functions/pkg/memory"
	"handler/function/functions/pkg/payment"
	"handler/function/functions/pkg/storetest"
)

var testNow = time.Date(2026, 11, 25, 15, 4, 5, 123456000, time.UTC)

func newTestService(s store) *service {
	return &service{store: s, keys: functest.EventKeys, log: slog.New(slog.DiscardHandler)}
}

// signedProcessed is r's "processed" event as process-payment signs it.
func signedProcessed(r payment.Result) cloudevents.Event { return functest.Signed(events.Processed(r)) }

// MustPending stores a new pending payment.
func MustPending(tb testing.TB, s *memory.Store) payment.Payment {
	tb.Helper()
	p := storetest.MustPayment(tb, uuid.New(), "125.50", testNow)
	storetest.MustCreate(tb, s, p)
	return p
}

func MustGet(tb testing.TB, s *memory.Store, p payment.Payment) payment.Payment {
	tb.Helper()
	got, err := s.GetPayment(tb.Context(), p.ID, p.UserID)
	if err != nil {
		tb.Fatal(err)
	}
	return got
}

func result(id uuid.UUID, success bool, processed time.Time) payment.Result {
	return payment.Result{PaymentID: id, Success: success, Details: fmt.Sprint("details ", success), Processed: processed}
}

func TestApplyResult(t *testing.T) {
	shapes := map[string]func(tb testing.TB, e cloudevents.Event) handler.Request{
		"binary": func(_ testing.TB, e cloudevents.Event) handler.Request { return functest.BinaryRequest(e) },
		"structured": func(tb testing.TB, e cloudevents.Event) handler.Request {
			return functest.MustStructuredRequest(tb, e, "application/cloudevents+json")
		},
		"structured as text/plain": func(tb testing.TB, e cloudevents.Event) handler.Request {
			return functest.MustStructuredRequest(tb, e, "text/plain")
		},
	}
	for name, shape := range shapes {
		for _, success := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s success=%v", name, success), func(t *testing.T) {
				st := memory.New()
				p := MustPending(t, st)
				r := result(p.ID, success, testNow.Add(7*time.Second))
				resp := newTestService(st).handle(t.Context(), shape(t, signedProcessed(r)))
				want := payment.Rejected
				if success {
					want = payment.Completed
				}
				var answered payment.Payment
				if err := json.Unmarshal(resp.Body, &answered); err != nil || resp.StatusCode != http.StatusOK || answered.State != want {
					t.Fatalf("%d %s (%v), want %s", resp.StatusCode, resp.Body, err, want)
				}
				got := MustGet(t, st, p)
				if got.State != want || got.Processed == nil || !got.Processed.Equal(r.Processed) ||
					got.ExtPaymentDetails == nil || *got.ExtPaymentDetails != r.Details {
					t.Fatalf("stored %+v after %+v", got, r)
				}
			})
		}
	}
}

func TestApplyResultDuplicateChangesNothing(t *testing.T) {
	st := memory.New()
	p := MustPending(t, st)
	s := newTestService(st)
	first := result(p.ID, true, testNow.Add(time.Second))
	if resp := s.handle(t.Context(), functest.BinaryRequest(signedProcessed(first))); resp.StatusCode != http.StatusOK {
		t.Fatalf("first: %d %s", resp.StatusCode, resp.Body)
	}
	before := MustGet(t, st, p)

	// A redelivery, and a late recomputation with another time and details.
	late := first
	late.Processed, late.Details = testNow.Add(time.Hour), "recomputed"
	for _, r := range []payment.Result{first, late} {
		resp := s.handle(t.Context(), functest.MustStructuredRequest(t, signedProcessed(r), "text/plain"))
		var answered payment.Payment
		if err := json.Unmarshal(resp.Body, &answered); err != nil || resp.StatusCode != http.StatusOK || answered.State != payment.Completed {
			t.Fatalf("duplicate: %d %s (%v)", resp.StatusCode, resp.Body, err)
		}
		if after := MustGet(t, st, p); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Fatalf("a duplicate changed the payment:\n%+v\n%+v", before, after)
		}
	}
}

func TestApplyResultContraryIsPermanent(t *testing.T) {
	st := memory.New()
	p := MustPending(t, st)
	s := newTestService(st)
	if resp := s.handle(t.Context(), functest.BinaryRequest(signedProcessed(result(p.ID, false, testNow)))); resp.StatusCode != http.StatusOK {
		t.Fatalf("first: %d %s", resp.StatusCode, resp.Body)
	}
	before := MustGet(t, st, p)
	resp := s.handle(t.Context(), functest.BinaryRequest(signedProcessed(result(p.ID, true, testNow.Add(time.Second)))))
	body := functest.MustDecodeError(t, resp)
	if resp.StatusCode != http.StatusBadRequest || body.Error.Code != "invalid_request" {
		t.Fatalf("%d %s", resp.StatusCode, resp.Body)
	}
	if after := MustGet(t, st, p); fmt.Sprint(after) != fmt.Sprint(before) || after.State != payment.Rejected {
		t.Fatalf("a contrary result changed the payment:\n%+v\n%+v", before, after)
	}
}

func TestApplyResultUnknownPaymentIsPermanent(t *testing.T) {
	st := memory.New()
	MustPending(t, st)
	unknown := uuid.New()
	resp := newTestService(st).handle(t.Context(), functest.BinaryRequest(signedProcessed(result(unknown, true, testNow))))
	body := functest.MustDecodeError(t, resp)
	if resp.StatusCode != http.StatusBadRequest || body.Error.Code != "invalid_request" {
		t.Fatalf("%d %s", resp.StatusCode, resp.Body)
	}
}

func TestApplyResultStoreOutageIsTransient(t *testing.T) {
	st := memory.New()
	p := MustPending(t, st)
	st.Fail = payment.Unavailable("database", errors.New("connection refused"))
	resp := newTestService(st).handle(t.Context(), functest.BinaryRequest(signedProcessed(result(p.ID, true, testNow))))
	body := functest.MustDecodeError(t, resp)
	if resp.StatusCode != http.StatusServiceUnavailable || body.Error.Code != "unavailable" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("%d %v %s", resp.StatusCode, resp.Header, resp.Body)
	}
	st.Fail = nil
	if got := MustGet(t, st, p); got.State != payment.Pending {
		t.Fatalf("state %s after an outage", got.State)
	}
}

func TestApplyResultRejectsBadEvents(t *testing.T) {
	st := memory.New()
	p := MustPending(t, st)
	good := result(p.ID, true, testNow)
	// Each bad event is signed as it is, so that what is refused is the content.
	withData := func(change func(m map[string]any)) cloudevents.Event {
		e := events.Processed(good)
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
	otherSubject := events.Processed(good)
	otherSubject.SetSubject(uuid.NewString())
	otherSubject = functest.Signed(otherSubject)
	noSource := functest.BinaryRequest(signedProcessed(good))
	noSource.Header.Del("Ce-Source")

	tests := map[string]handler.Request{
		"created event":              functest.MustStructuredRequest(t, functest.Signed(events.Created(p)), "text/plain"),
		"not a CloudEvent":           {Method: http.MethodPost, Header: http.Header{"Content-Type": {"text/plain"}}, Body: []byte("{")},
		"empty body":                 {Method: http.MethodPost, Header: http.Header{}},
		"no source":                  noSource,
		"subject is another payment": functest.MustStructuredRequest(t, otherSubject, "application/cloudevents+json"),
		"no processed time":          functest.MustStructuredRequest(t, withData(func(m map[string]any) { delete(m, "processed") }), "text/plain"),
		"success not a boolean":      functest.MustStructuredRequest(t, withData(func(m map[string]any) { m["success"] = "true" }), "text/plain"),
		"unknown field":              functest.MustStructuredRequest(t, withData(func(m map[string]any) { m["amount"] = "1.00" }), "text/plain"),
		"no paymentId":               functest.MustStructuredRequest(t, withData(func(m map[string]any) { delete(m, "paymentId") }), "text/plain"),
		// Results that cannot be true: before the payment existed, or details past the documented limit.
		"processed before creation": functest.BinaryRequest(signedProcessed(result(p.ID, true, p.Created.Add(-time.Microsecond)))),
		"processed in 1999":         functest.BinaryRequest(signedProcessed(result(p.ID, true, time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC)))),
		"details over 1024 bytes": functest.MustStructuredRequest(t, withData(func(m map[string]any) {
			m["extPaymentDetails"] = strings.Repeat("d", payment.MaxDetailsBytes+1)
		}), "application/cloudevents+json"),
	}
	s := newTestService(st)
	for name, req := range tests {
		t.Run(name, func(t *testing.T) {
			resp := s.handle(t.Context(), req)
			body := functest.MustDecodeError(t, resp)
			if resp.StatusCode != http.StatusBadRequest || body.Error.Code != "invalid_request" {
				t.Fatalf("%d %s", resp.StatusCode, resp.Body)
			}
			if got := MustGet(t, st, p); got.State != payment.Pending {
				t.Fatalf("a bad event changed the state to %s", got.State)
			}
		})
	}
}

// A result process-payment did not sign is 401 in every mode and changes nothing.
func TestApplyResultRefusesUnsignedEvents(t *testing.T) {
	st := memory.New()
	p := MustPending(t, st)
	r := result(p.ID, true, testNow.Add(time.Second))
	unsigned := events.Processed(r)
	otherKey := events.Processed(r)
	eventsig.MustNew(strings.Repeat("k", 32)).Sign(&otherKey)
	tampered := signedProcessed(result(p.ID, false, testNow.Add(time.Second)))
	tampered.DataEncoded = unsigned.Data() // a rejection's signature on a success
	s := newTestService(st)
	for _, e := range map[string]cloudevents.Event{"unsigned": unsigned, "signed with another key": otherKey, "tampered": tampered} {
		for mode, req := range map[string]handler.Request{
			"binary":                   functest.BinaryRequest(e),
			"structured":               functest.MustStructuredRequest(t, e, "application/cloudevents+json"),
			"structured as text/plain": functest.MustStructuredRequest(t, e, "text/plain"),
		} {
			resp := s.handle(t.Context(), req)
			body := functest.MustDecodeError(t, resp)
			if resp.StatusCode != http.StatusUnauthorized || body.Error.Code != "unauthorized" || !strings.Contains(body.Error.Message, "not signed by this stack") {
				t.Errorf("%s, %v: %d %s", mode, e.Extensions()[eventsig.Extension], resp.StatusCode, resp.Body)
			}
		}
	}
	if got := MustGet(t, st, p); got.State != payment.Pending {
		t.Fatalf("an unsigned result changed the state to %s", got.State)
	}
}

func TestApplyResultMethodNotAllowed(t *testing.T) {
	st := memory.New()
	p := MustPending(t, st)
	req := functest.BinaryRequest(signedProcessed(result(p.ID, true, testNow)))
	req.Method = http.MethodGet
	resp := newTestService(st).handle(t.Context(), req)
	body := functest.MustDecodeError(t, resp)
	if resp.StatusCode != http.StatusMethodNotAllowed || body.Error.Code != "method_not_allowed" || resp.Header.Get("Allow") != http.MethodPost {
		t.Fatalf("%d %v %s", resp.StatusCode, resp.Header, resp.Body)
	}
	if got := MustGet(t, st, p); got.State != payment.Pending {
		t.Fatalf("a GET changed the state to %s", got.State)
	}
}

func TestLoadConfig(t *testing.T) {
	secrets := functest.MustSecretsDir(t)
	c, err := LoadConfig(config.New(config.Map(map[string]string{"DATABASE_URL": "postgres://x", "OPENFAAS_SECRETS_DIR": secrets})))
	if err != nil || c.Database.URL != "postgres://x" || c.Database.Timeout != config.DefaultDBTimeout || c.EventKeys.SigningKeyID() != functest.EventKeys.SigningKeyID() {
		t.Fatalf("%+v, %v", c, err)
	}
	if _, err := LoadConfig(config.New(config.Map(map[string]string{"OPENFAAS_SECRETS_DIR": secrets}))); err == nil {
		t.Fatal("LoadConfig without a database accepted it")
	}
	_, err = LoadConfig(config.New(config.Map(map[string]string{"DATABASE_URL": "postgres://x", "OPENFAAS_SECRETS_DIR": t.TempDir()})))
	if err == nil || !strings.Contains(err.Error(), "payments-event-key") {
		t.Fatalf("LoadConfig without an event key: %v", err)
	}
}
