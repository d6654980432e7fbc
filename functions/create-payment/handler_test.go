package function

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	handler "github.com/openfaas/templates-sdk/go-http"

	"handler/function/functions/pkg/api"
	"handler/function/functions/pkg/config"
	"handler/function/functions/pkg/events"
	"handler/function/functions/pkg/functest"
	"handler/function/functions/pkg/memory"
	"handler/function/functions/pkg/outbox"
	"handler/function/functions/pkg/payment"
)

const (
	testUser  = "5d1f7a58-3c1e-4e0c-8a57-0f6f2f1f3b11"
	testTopic = "payments-test"
	validBody = `{"userId":"` + testUser + `","accountNumber":"40817810099910004312","amount":"125.50","description":"Rent"}`
)

var testNow = time.Date(2026, 11, 25, 15, 4, 5, 123456789, time.UTC)

// countingStore is the memory store, counting the writes that reach it.
type countingStore struct {
	*memory.Store
	mu      sync.Mutex
	creates int
}

func (s *countingStore) CreatePayment(ctx context.Context, p payment.Payment, key, fingerprint string, msg outbox.Message) (payment.Payment, bool, error) {
	s.mu.Lock()
	s.creates++
	s.mu.Unlock()
	return s.Store.CreatePayment(ctx, p, key, fingerprint, msg)
}

type fixture struct {
	svc   *service
	store *countingStore
	pub   *functest.Publisher
}

// newFixture builds the service on the memory store; the relay is a real
// outbox.Relay publishing through the fake publisher.
func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	f := &fixture{store: &countingStore{Store: memory.New()}, pub: &functest.Publisher{}}
	ids := 0
	f.svc = &service{
		cfg: Config{
			PaymentsTopic: testTopic, MaxAmount: payment.MustParseAmount("1000000.00"), PublishTimeout: 30 * time.Second,
			EventKeys: functest.EventKeys,
		},
		gate:  api.NewGate(0, ""),
		store: f.store,
		relay: func(context.Context) (relay, error) {
			return &outbox.Relay{Store: f.store, Publisher: f.pub}, nil
		},
		log:     slog.New(slog.DiscardHandler),
		now:     func() time.Time { return testNow },
		sending: make(chan struct{}, maxSending),
		newID: func() uuid.UUID {
			ids++
			return uuid.MustParse(fmt.Sprintf("00000000-0000-4000-8000-%012d", ids))
		},
	}
	return f
}

func (f *fixture) post(tb testing.TB, body string, header map[string]string) handler.Response {
	tb.Helper()
	h := http.Header{"Content-Type": {"application/json"}}
	for k, v := range header {
		h.Set(k, v)
	}
	resp := f.svc.handle(tb.Context(), handler.Request{Method: http.MethodPost, Header: h, Body: []byte(body)})
	f.svc.sends.Wait() // the event is sent after the answer
	return resp
}

// MustPendingEvents returns the outbox messages not yet published, leaving them there.
func MustPendingEvents(tb testing.TB, s *memory.Store) []outbox.Message {
	tb.Helper()
	var pending []outbox.Message
	keep := errors.New("peek only")
	_, err := s.PublishOutbox(context.Background(), 1000, func(_ context.Context, batch []outbox.Message) []error {
		pending = append(pending, batch...)
		errs := make([]error, len(batch))
		for i := range errs {
			errs[i] = keep
		}
		return errs
	})
	if err != nil && !errors.Is(err, keep) {
		tb.Fatal(err)
	}
	return pending
}

func TestCreateRejectsBadInput(t *testing.T) {
	withBody := func(change func(m map[string]any)) string {
		m := map[string]any{}
		if err := json.Unmarshal([]byte(validBody), &m); err != nil {
			t.Fatal(err)
		}
		change(m)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	set := func(field string, v any) string { return withBody(func(m map[string]any) { m[field] = v }) }
	without := func(field string) string { return withBody(func(m map[string]any) { delete(m, field) }) }
	rawAmount := func(raw string) string {
		return `{"userId":"` + testUser + `","accountNumber":"1","amount":` + raw + `,"description":"x"}`
	}
	rawAccount := func(raw string) string {
		return `{"userId":"` + testUser + `","accountNumber":` + raw + `,"amount":1,"description":"x"}`
	}

	tests := []struct {
		name       string
		method     string // POST when empty
		header     map[string]string
		body       string
		wantStatus int
		wantCode   string
		wantField  string // a field the error must name, if any
	}{
		{name: "malformed JSON", body: `{"userId":`, wantStatus: 400, wantCode: "invalid_request"},
		{name: "not JSON at all", body: `userId=1&amount=2`, wantStatus: 400, wantCode: "invalid_request"},
		{name: "empty body", body: ``, wantStatus: 400, wantCode: "invalid_request"},
		{name: "whitespace body", body: " \n ", wantStatus: 400, wantCode: "invalid_request"},
		{name: "JSON array", body: `[` + validBody + `]`, wantStatus: 400, wantCode: "invalid_request"},
		{name: "JSON string", body: `"hello"`, wantStatus: 400, wantCode: "invalid_request"},
		{name: "JSON null", body: `null`, wantStatus: 400, wantCode: "invalid_request", wantField: "userId"},
		{name: "trailing garbage", body: validBody + ` x`, wantStatus: 400, wantCode: "invalid_request"},
		{name: "two objects", body: validBody + validBody, wantStatus: 400, wantCode: "invalid_request"},
		{name: "body over 64 KiB", body: withBody(func(m map[string]any) { m["description"] = strings.Repeat("x", 64<<10) }),
			wantStatus: 413, wantCode: "too_large"},
		{name: "unknown field", body: set("currency", "RUB"), wantStatus: 400, wantCode: "invalid_request", wantField: "currency"},
		{name: "missing userId", body: without("userId"), wantStatus: 400, wantCode: "invalid_request", wantField: "userId"},
		{name: "missing accountNumber", body: without("accountNumber"), wantStatus: 400, wantCode: "invalid_request", wantField: "accountNumber"},
		{name: "missing amount", body: without("amount"), wantStatus: 400, wantCode: "invalid_request", wantField: "amount"},
		{name: "missing description", body: without("description"), wantStatus: 400, wantCode: "invalid_request", wantField: "description"},
		{name: "empty object", body: `{}`, wantStatus: 400, wantCode: "invalid_request", wantField: "amount"},
		{name: "null amount", body: set("amount", nil), wantStatus: 400, wantCode: "invalid_request", wantField: "amount"},
		{name: "userId is a number", body: set("userId", 42), wantStatus: 400, wantCode: "invalid_request", wantField: "userId"},
		{name: "accountNumber is a number", body: set("accountNumber", 40817810), wantStatus: 400, wantCode: "invalid_request", wantField: "accountNumber"},
		{name: "description is an object", body: set("description", map[string]any{}), wantStatus: 400, wantCode: "invalid_request", wantField: "description"},
		{name: "amount is a boolean", body: set("amount", true), wantStatus: 400, wantCode: "invalid_request", wantField: "amount"},
		{name: "amount is an object", body: set("amount", map[string]any{"value": 1}), wantStatus: 400, wantCode: "invalid_request", wantField: "amount"},
		{name: "amount is an array", body: set("amount", []int{1}), wantStatus: 400, wantCode: "invalid_request", wantField: "amount"},
		{name: "userId not a UUID", body: set("userId", "user-1"), wantStatus: 400, wantCode: "invalid_request", wantField: "userId"},
		{name: "userId empty", body: set("userId", ""), wantStatus: 400, wantCode: "invalid_request", wantField: "userId"},
		{name: "userId without dashes", body: set("userId", strings.ReplaceAll(testUser, "-", "")), wantStatus: 400, wantCode: "invalid_request", wantField: "userId"},
		{name: "userId in braces", body: set("userId", "{"+testUser+"}"), wantStatus: 400, wantCode: "invalid_request", wantField: "userId"},
		{name: "userId as URN", body: set("userId", "urn:uuid:"+testUser), wantStatus: 400, wantCode: "invalid_request", wantField: "userId"},
		{name: "userId with a bad digit", body: set("userId", "zd1f7a58-3c1e-4e0c-8a57-0f6f2f1f3b11"), wantStatus: 400, wantCode: "invalid_request", wantField: "userId"},
		{name: "nil userId", body: set("userId", uuid.Nil.String()), wantStatus: 400, wantCode: "invalid_request", wantField: "userId"},
		{name: "empty accountNumber", body: set("accountNumber", ""), wantStatus: 400, wantCode: "invalid_request", wantField: "accountNumber"},
		{name: "accountNumber too long", body: set("accountNumber", strings.Repeat("1", 65)), wantStatus: 400, wantCode: "invalid_request", wantField: "accountNumber"},
		{name: "NUL in description", body: set("description", "rent\x00"), wantStatus: 400, wantCode: "invalid_request", wantField: "description"},
		{name: "invalid UTF-8 in description", body: `{"userId":"` + testUser + `","accountNumber":"1","amount":1,"description":"` + "\xff" + `"}`,
			wantStatus: 400, wantCode: "invalid_request"},
		{name: "lone high surrogate in description", body: strings.Replace(validBody, `"Rent"`, `"Rent \ud800"`, 1),
			wantStatus: 400, wantCode: "invalid_request", wantField: "description"},
		{name: "lone low surrogate in accountNumber", body: rawAccount(`"\uDC00 1"`), wantStatus: 400, wantCode: "invalid_request", wantField: "accountNumber"},
		{name: "surrogates in the wrong order", body: rawAccount(`"\udc00\ud800"`), wantStatus: 400, wantCode: "invalid_request", wantField: "accountNumber"},
		{name: "high surrogate before a letter", body: rawAccount(`"\ud800\u0041"`), wantStatus: 400, wantCode: "invalid_request", wantField: "accountNumber"},
		{name: "two high surrogates", body: rawAccount(`"\ud83d\ud83d"`), wantStatus: 400, wantCode: "invalid_request", wantField: "accountNumber"},
		{name: "high surrogate ends the text", body: rawAccount(`"1\ud83d"`), wantStatus: 400, wantCode: "invalid_request", wantField: "accountNumber"},
		{name: "lone surrogate in userId", body: `{"userId":"\ud800","accountNumber":"1","amount":1,"description":"x"}`,
			wantStatus: 400, wantCode: "invalid_request", wantField: "userId"},
		{name: "description too long", body: set("description", strings.Repeat("x", 501)), wantStatus: 400, wantCode: "invalid_request", wantField: "description"},
		{name: "zero amount", body: rawAmount(`0`), wantStatus: 400, wantCode: "invalid_request", wantField: "amount"},
		{name: "zero amount string", body: rawAmount(`"0.00"`), wantStatus: 400, wantCode: "invalid_request", wantField: "amount"},
		{name: "negative amount", body: rawAmount(`-1`), wantStatus: 400, wantCode: "invalid_request", wantField: "amount"},
		{name: "negative amount string", body: rawAmount(`"-5.00"`), wantStatus: 400, wantCode: "invalid_request", wantField: "amount"},
		{name: "NaN amount string", body: rawAmount(`"NaN"`), wantStatus: 400, wantCode: "invalid_request", wantField: "amount"},
		{name: "NaN amount literal", body: rawAmount(`NaN`), wantStatus: 400, wantCode: "invalid_request"},
		{name: "Infinity amount string", body: rawAmount(`"Infinity"`), wantStatus: 400, wantCode: "invalid_request", wantField: "amount"},
		{name: "exponent amount", body: rawAmount(`1e3`), wantStatus: 400, wantCode: "invalid_request", wantField: "amount"},
		{name: "huge amount", body: rawAmount(`1e308`), wantStatus: 400, wantCode: "invalid_request", wantField: "amount"},
		{name: "huge amount digits", body: rawAmount(`123456789012345678901234567890`), wantStatus: 400, wantCode: "invalid_request", wantField: "amount"},
		{name: "three decimals", body: rawAmount(`1.005`), wantStatus: 400, wantCode: "invalid_request", wantField: "amount"},
		{name: "three decimals string", body: rawAmount(`"1.005"`), wantStatus: 400, wantCode: "invalid_request", wantField: "amount"},
		{name: "amount text", body: rawAmount(`"ten"`), wantStatus: 400, wantCode: "invalid_request", wantField: "amount"},
		{name: "amount above the maximum", body: rawAmount(`1000000.01`), wantStatus: 400, wantCode: "invalid_request", wantField: "amount"},
		{name: "several bad fields", body: `{"userId":"x","accountNumber":"","amount":"0","description":"ok"}`,
			wantStatus: 400, wantCode: "invalid_request", wantField: "accountNumber"},
		{name: "text/plain", header: map[string]string{"Content-Type": "text/plain"}, body: validBody, wantStatus: 415, wantCode: "unsupported_media_type"},
		{name: "form", header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, body: validBody, wantStatus: 415, wantCode: "unsupported_media_type"},
		{name: "unparsable Content-Type", header: map[string]string{"Content-Type": "application/json; ;"}, body: validBody, wantStatus: 415, wantCode: "unsupported_media_type"},
		{name: "GET", method: http.MethodGet, body: validBody, wantStatus: 405, wantCode: "method_not_allowed"},
		{name: "PUT", method: http.MethodPut, body: validBody, wantStatus: 405, wantCode: "method_not_allowed"},
		{name: "Idempotency-Key too long", header: map[string]string{"Idempotency-Key": strings.Repeat("k", 256)}, body: validBody,
			wantStatus: 400, wantCode: "invalid_request", wantField: "Idempotency-Key"},
		{name: "Idempotency-Key with a control character", header: map[string]string{"Idempotency-Key": "key\x01"}, body: validBody,
			wantStatus: 400, wantCode: "invalid_request", wantField: "Idempotency-Key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			h := http.Header{"Content-Type": {"application/json"}}
			for k, v := range tt.header {
				h[http.CanonicalHeaderKey(k)] = []string{v} // raw, so bad values reach the function
			}
			method := cmp.Or(tt.method, http.MethodPost)
			resp := f.svc.handle(t.Context(), handler.Request{Method: method, Header: h, Body: []byte(tt.body)})
			body := functest.MustDecodeError(t, resp)
			if resp.StatusCode != tt.wantStatus || body.Error.Code != tt.wantCode {
				t.Fatalf("status %d code %q, want %d %q: %s", resp.StatusCode, body.Error.Code, tt.wantStatus, tt.wantCode, resp.Body)
			}
			if tt.wantField != "" {
				if body.Error.Fields[tt.wantField] == "" || !strings.Contains(body.Error.Message, tt.wantField) {
					t.Fatalf("the error does not name %s: %s", tt.wantField, resp.Body)
				}
			}
			if tt.wantStatus == 405 && resp.Header.Get("Allow") != http.MethodPost {
				t.Fatalf("Allow = %q", resp.Header.Get("Allow"))
			}
			if f.store.creates != 0 {
				t.Fatalf("bad input reached the store %d times", f.store.creates)
			}
			if list, err := f.store.ListPayments(t.Context(), uuid.MustParse(testUser), 10); err != nil || len(list) != 0 {
				t.Fatalf("payments stored: %v, %v", list, err)
			}
			if pending := MustPendingEvents(t, f.store.Store); len(pending) != 0 {
				t.Fatalf("events stored: %v", pending)
			}
			if sent := f.pub.Messages(); len(sent) != 0 {
				t.Fatalf("events published: %v", sent)
			}
		})
	}
}

// The UI shows these messages beside the amount: each bad amount is worded by
// what is wrong with it, whether it came as a number or as text.
func TestCreateWordsAmountErrorsAlike(t *testing.T) {
	tests := map[string]string{
		`-5`:                             "must be greater than zero",
		`"-5"`:                           "must be greater than zero",
		`"0.00"`:                         "must be greater than zero",
		`1000000.01`:                     "must not exceed 1000000.00",
		`"123456789012345.00"`:           "must not exceed 1000000.00",
		`123456789012345678901234567890`: "must not exceed 1000000.00",
		`"five"`:                         "must be a plain decimal number such as 125.50",
	}
	for raw, want := range tests {
		t.Run(raw, func(t *testing.T) {
			f := newFixture(t)
			body := `{"userId":"` + testUser + `","accountNumber":"1","amount":` + raw + `,"description":"x"}`
			resp := f.svc.handle(t.Context(), handler.Request{Method: http.MethodPost, Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(body)})
			if got := functest.MustDecodeError(t, resp).Error.Fields["amount"]; got != want {
				t.Fatalf("amount %s: field error %q, want %q", raw, got, want)
			}
		})
	}
}

func TestCreateAcceptsValidInput(t *testing.T) {
	tests := []struct {
		name       string
		header     map[string]string
		body       string
		wantAmount string
	}{
		{name: "amount as a string", body: validBody, wantAmount: "125.50"},
		{name: "amount as a number", body: strings.Replace(validBody, `"125.50"`, `125.5`, 1), wantAmount: "125.50"},
		{name: "integer amount", body: strings.Replace(validBody, `"125.50"`, `7`, 1), wantAmount: "7.00"},
		{name: "smallest amount", body: strings.Replace(validBody, `"125.50"`, `0.01`, 1), wantAmount: "0.01"},
		{name: "the maximum amount", body: strings.Replace(validBody, `"125.50"`, `"1000000.00"`, 1), wantAmount: "1000000.00"},
		{name: "JSON with charset", header: map[string]string{"Content-Type": "application/json; charset=utf-8"}, body: validBody, wantAmount: "125.50"},
		{name: "no Content-Type", header: map[string]string{"Content-Type": ""}, body: validBody, wantAmount: "125.50"},
		{name: "surrounding whitespace", body: "\n " + validBody + " \n", wantAmount: "125.50"},
		{name: "body of exactly 64 KiB", body: validBody + strings.Repeat(" ", 64<<10-len(validBody)), wantAmount: "125.50"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			resp := f.post(t, tt.body, tt.header)
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
			}
			var got map[string]any
			if err := json.Unmarshal(resp.Body, &got); err != nil {
				t.Fatal(err)
			}
			if got["amount"] != tt.wantAmount {
				t.Fatalf("amount = %v, want %q", got["amount"], tt.wantAmount)
			}
		})
	}
}

// Escapes that are characters are stored as those characters: a surrogate
// pair is one, and an escaped backslash before "ud800" is text, not an escape.
func TestCreateStoresEscapedCharacters(t *testing.T) {
	for escaped, want := range map[string]string{
		`\ud83d\ude00 rent`: "😀 rent",
		`\uD83D\uDE00`:      "😀",
		`\\ud800`:           `\ud800`,
		`\\\ud83d\ude00`:    `\😀`,
		`\u00e9t\u00e9`:     "été",
	} {
		f := newFixture(t)
		resp := f.post(t, strings.Replace(validBody, `"Rent"`, `"`+escaped+`"`, 1), nil)
		var got payment.Payment
		if err := json.Unmarshal(resp.Body, &got); resp.StatusCode != http.StatusCreated || err != nil || got.Description != want {
			t.Fatalf("%s: %d %s, want description %q", escaped, resp.StatusCode, resp.Body, want)
		}
	}
}

func TestCreateAnswersThePaymentAndPublishesItsEvent(t *testing.T) {
	f := newFixture(t)
	resp := f.post(t, validBody, nil)
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("status %d headers %v: %s", resp.StatusCode, resp.Header, resp.Body)
	}
	var got map[string]any
	dec := json.NewDecoder(bytes.NewReader(resp.Body))
	dec.UseNumber()
	if err := dec.Decode(&got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"paymentId":         "00000000-0000-4000-8000-000000000001",
		"userId":            testUser,
		"accountNumber":     "40817810099910004312",
		"amount":            "125.50",
		"description":       "Rent",
		"state":             "pending",
		"created":           "2026-11-25T15:04:05.123456Z",
		"processed":         nil,
		"extPaymentDetails": nil,
	}
	if !maps.Equal(got, want) {
		t.Fatalf("body = %v\nwant   %v", got, want)
	}

	sent := f.pub.Messages()
	if len(sent) != 1 {
		t.Fatalf("published %d events, want 1", len(sent))
	}
	m := sent[0]
	if m.Topic != testTopic || m.Key != want["paymentId"] || m.Event.Type() != payment.EventCreated || m.Event.Subject() != m.Key {
		t.Fatalf("published %s to %s with key %s", m.Event, m.Topic, m.Key)
	}
	if err := functest.EventKeys.Verify(m.Event); err != nil {
		t.Fatalf("the created event is not signed: %v", err)
	}
	p, err := events.CreatedPayment(m.Event)
	if err != nil || p.ID.String() != want["paymentId"] || p.Amount.String() != "125.50" || p.State != payment.Pending {
		t.Fatalf("event data = %+v, %v", p, err)
	}
	if pending := MustPendingEvents(t, f.store.Store); len(pending) != 0 {
		t.Fatalf("%d events still in the outbox after publishing", len(pending))
	}
	stored, err := f.store.GetPayment(t.Context(), p.ID, p.UserID)
	if err != nil || stored.State != payment.Pending {
		t.Fatalf("stored = %+v, %v", stored, err)
	}
}

func TestCreateSucceedsWhenPublishingFails(t *testing.T) {
	tests := map[string]func(f *fixture){
		"publisher fails": func(f *fixture) { f.pub.Err = payment.Unavailable("kafka", errors.New("brokers down")) },
		"relay cannot be built": func(f *fixture) {
			f.svc.relay = func(context.Context) (relay, error) {
				return nil, payment.Unavailable("kafka", errors.New("no brokers"))
			}
		},
	}
	for name, breakIt := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			breakIt(f)
			resp := f.post(t, validBody, nil)
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
			}
			pending := MustPendingEvents(t, f.store.Store)
			if len(pending) != 1 || pending[0].Key != "00000000-0000-4000-8000-000000000001" ||
				pending[0].Topic != testTopic || pending[0].Event.Type() != payment.EventCreated {
				t.Fatalf("outbox = %v, want the payment's created event", pending)
			}
			if sent := f.pub.Messages(); len(sent) != 0 {
				t.Fatalf("published %v", sent)
			}
		})
	}
}

func TestCreateIdempotencyKey(t *testing.T) {
	f := newFixture(t)
	key := map[string]string{"Idempotency-Key": "order-17"}
	first := f.post(t, validBody, key)
	if first.StatusCode != http.StatusCreated || first.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("first: %d %v %s", first.StatusCode, first.Header, first.Body)
	}

	// The same body written differently (number amount, other field order) is the same request.
	same := `{"description":"Rent","amount":125.5,"accountNumber":"40817810099910004312","userId":"` + testUser + `"}`
	replay := f.post(t, same, key)
	if replay.StatusCode != http.StatusCreated || replay.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %v %s", replay.StatusCode, replay.Header, replay.Body)
	}
	if !bytes.Equal(replay.Body, first.Body) {
		t.Fatalf("replay body differs:\n%s\n%s", first.Body, replay.Body)
	}

	reused := f.post(t, strings.Replace(validBody, "125.50", "99.00", 1), key)
	body := functest.MustDecodeError(t, reused)
	if reused.StatusCode != http.StatusUnprocessableEntity || body.Error.Code != "idempotency_key_reused" {
		t.Fatalf("reuse: %d %s", reused.StatusCode, reused.Body)
	}

	list, err := f.store.ListPayments(t.Context(), uuid.MustParse(testUser), 10)
	if err != nil || len(list) != 1 {
		t.Fatalf("stored %d payments (%v), want 1", len(list), err)
	}
	if sent := f.pub.Messages(); len(sent) != 1 {
		t.Fatalf("published %d events, want 1", len(sent))
	}
	if pending := MustPendingEvents(t, f.store.Store); len(pending) != 0 {
		t.Fatalf("outbox holds %v", pending)
	}

	// Without the key, the same body is a new payment.
	again := f.post(t, validBody, nil)
	if again.StatusCode != http.StatusCreated || again.Header.Get("Idempotent-Replayed") != "" || bytes.Equal(again.Body, first.Body) {
		t.Fatalf("without key: %d %v %s", again.StatusCode, again.Header, again.Body)
	}
}

func TestCreateStoreOutage(t *testing.T) {
	f := newFixture(t)
	f.store.Fail = payment.Unavailable("database", errors.New("connection refused"))
	resp := f.post(t, validBody, nil)
	body := functest.MustDecodeError(t, resp)
	if resp.StatusCode != http.StatusServiceUnavailable || body.Error.Code != "unavailable" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("%d %v %s", resp.StatusCode, resp.Header, resp.Body)
	}
	if sent := f.pub.Messages(); len(sent) != 0 {
		t.Fatalf("published %v during an outage", sent)
	}
	f.store.Fail = nil
	if pending := MustPendingEvents(t, f.store.Store); len(pending) != 0 {
		t.Fatalf("outbox holds %v", pending)
	}
}

func TestLoadConfig(t *testing.T) {
	base := map[string]string{"DATABASE_URL": "postgres://x", "KAFKA_BROKERS": "k:9092", "OPENFAAS_SECRETS_DIR": functest.MustSecretsDir(t)}
	with := func(k, v string) map[string]string {
		m := maps.Clone(base)
		m[k] = v
		return m
	}
	t.Run("defaults", func(t *testing.T) {
		c, err := LoadConfig(config.New(config.Map(base)))
		if err != nil {
			t.Fatal(err)
		}
		if c.Database.URL != "postgres://x" || c.Database.Timeout != config.DefaultDBTimeout || !slices.Equal(c.Brokers, []string{"k:9092"}) || c.PaymentsTopic != "payments" ||
			c.MaxAmount.String() != "1000000.00" || c.PublishTimeout != 2*time.Second || c.EventKeys.SigningKeyID() != functest.EventKeys.SigningKeyID() {
			t.Fatalf("config = %+v", c)
		}
	})
	t.Run("settings", func(t *testing.T) {
		m := with("PAYMENT_MAX_AMOUNT", "500.5")
		m["PAYMENTS_TOPIC"], m["PUBLISH_TIMEOUT"] = "p2", "5"
		c, err := LoadConfig(config.New(config.Map(m)))
		if err != nil || c.MaxAmount.String() != "500.50" || c.PaymentsTopic != "p2" || c.PublishTimeout != 5*time.Second {
			t.Fatalf("config = %+v, %v", c, err)
		}
	})
	bad := map[string]map[string]string{
		"max amount not a number": with("PAYMENT_MAX_AMOUNT", "lots"),
		"max amount zero":         with("PAYMENT_MAX_AMOUNT", "0"),
		"publish timeout zero":    with("PUBLISH_TIMEOUT", "0s"),
		"publish timeout garbage": with("PUBLISH_TIMEOUT", "soon"),
		"no database":             with("DATABASE_URL", ""),
		"no brokers":              with("KAFKA_BROKERS", ""),
		"no event key":            with("OPENFAAS_SECRETS_DIR", t.TempDir()),
		"db timeout too long":     with("DB_TIMEOUT", "10s"),
	}
	for name, vars := range bad {
		t.Run(name, func(t *testing.T) {
			if _, err := LoadConfig(config.New(config.Map(vars))); err == nil {
				t.Fatal("LoadConfig accepted it")
			}
		})
	}
}

// The payment is committed before the event is sent: a client that hangs up
// does not stop the send, and does not pause publishing for the next creates.
func TestCreatePublishesEvenWhenTheClientLeaves(t *testing.T) {
	f := newFixture(t)
	f.svc.relay = func(context.Context) (relay, error) {
		return &outbox.Relay{Store: f.store, Publisher: contextPublisher{f.pub}}, nil
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // the client is gone by the time the event is sent
	req := handler.Request{Method: http.MethodPost, Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(validBody)}
	f.svc.handle(ctx, req)
	f.svc.sends.Wait()
	if pending := MustPendingEvents(t, f.store.Store); len(pending) != 0 || len(f.pub.Messages()) != 1 {
		t.Fatalf("after a client left: %d published, %d left in the outbox; want it published", len(f.pub.Messages()), len(pending))
	}
	if resp := f.post(t, strings.Replace(validBody, testUser, uuid.NewString(), 1), nil); resp.StatusCode != http.StatusCreated || len(f.pub.Messages()) != 2 {
		t.Fatalf("next create: %d, %d published; want it published at once", resp.StatusCode, len(f.pub.Messages()))
	}
}

// Postgres failing to mark a sent event is not Kafka failing: the next create
// still sends its event at once.
func TestCreateKeepsPublishingWhenOnlyTheMarkFails(t *testing.T) {
	f := newFixture(t)
	f.svc.relay = func(context.Context) (relay, error) {
		return &outbox.Relay{Store: failingMarks{f.store}, Publisher: f.pub}, nil
	}
	for i := range 2 {
		if resp := f.post(t, strings.Replace(validBody, testUser, uuid.NewString(), 1), nil); resp.StatusCode != http.StatusCreated {
			t.Fatalf("create %d: %d %s", i, resp.StatusCode, resp.Body)
		}
	}
	if n := len(f.pub.Messages()); n != 2 {
		t.Fatalf("%d events sent, want both (a failed mark must not pause publishing)", n)
	}
}

// contextPublisher fails once its context has ended, as Sarama's send does.
type contextPublisher struct{ *functest.Publisher }

func (p contextPublisher) PublishJSON(ctx context.Context, topic, key string, event []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return p.Publisher.PublishJSON(ctx, topic, key, event)
}

// failingMarks is a store whose MarkPublished fails, as Postgres timing out would.
type failingMarks struct{ *countingStore }

func (failingMarks) MarkPublished(context.Context, []string) error {
	return payment.Unavailable("database", errors.New("timeout"))
}

// The answer does not wait for Kafka: the payment and its event are committed,
// and the event is sent after. Past the bound on sends in flight (Kafka slow),
// an event waits in the outbox for the relay.
func TestCreateAnswersBeforeKafkaAcknowledges(t *testing.T) {
	f := newFixture(t)
	release := make(chan struct{})
	f.svc.relay = func(context.Context) (relay, error) {
		return &outbox.Relay{Store: f.store, Publisher: blockedPublisher{f.pub, release}}, nil
	}
	f.svc.sending = make(chan struct{}, 1)
	req := func(user string) handler.Request {
		return handler.Request{Method: http.MethodPost, Header: http.Header{"Content-Type": {"application/json"}},
			Body: []byte(strings.Replace(validBody, testUser, user, 1))}
	}
	for i := range 2 {
		if resp := f.svc.handle(t.Context(), req(uuid.NewString())); resp.StatusCode != http.StatusCreated {
			t.Fatalf("create %d while Kafka is slow: %d %s", i, resp.StatusCode, resp.Body)
		}
	}
	if n := len(f.pub.Messages()); n != 0 {
		t.Fatalf("%d events acknowledged before Kafka answered", n)
	}
	close(release)
	f.svc.sends.Wait()
	pending := MustPendingEvents(t, f.store.Store)
	if len(f.pub.Messages()) != 1 || len(pending) != 1 || pending[0].Event.ID() == f.pub.Messages()[0].Event.ID() {
		t.Fatalf("%d sent, %d left in the outbox; want the first sent and the second left for the relay",
			len(f.pub.Messages()), len(pending))
	}
}

// blockedPublisher publishes once release is closed.
type blockedPublisher struct {
	*functest.Publisher
	release <-chan struct{}
}

func (p blockedPublisher) PublishJSON(ctx context.Context, topic, key string, event []byte) error {
	<-p.release
	return p.Publisher.PublishJSON(ctx, topic, key, event)
}
