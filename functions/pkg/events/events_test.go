package events_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/uuid"

	"handler/function/functions/pkg/events"
	"handler/function/functions/pkg/eventsig"
	"handler/function/functions/pkg/payment"
)

var (
	paymentID = uuid.MustParse("0b6c6f0e-1f57-4b38-9d2b-6a0a5c1c9f10")
	userID    = uuid.MustParse("5d1f7a58-3c1e-4e0c-8a57-0f6f2f1f3b11")
	created   = time.Date(2026, 11, 25, 15, 4, 5, 123456000, time.UTC)
)

func newPayment() payment.Payment {
	return payment.New(paymentID, payment.Request{
		UserID: userID, AccountNumber: "40817810099910004312", Amount: payment.MustParseAmount("125.50"), Description: "Rent",
	}, created)
}

func newResult() payment.Result {
	return payment.Result{PaymentID: paymentID, Success: true, Details: "ref 42", Processed: created.Add(3 * time.Second)}
}

// The three shapes an event arrives in over HTTP.

func binaryMode(e cloudevents.Event) (http.Header, []byte) {
	h := http.Header{}
	h.Set("Ce-Specversion", e.SpecVersion())
	h.Set("Ce-Id", e.ID())
	h.Set("Ce-Source", e.Source())
	h.Set("Ce-Type", e.Type())
	h.Set("Ce-Subject", e.Subject())
	h.Set("Ce-Time", e.Time().Format(time.RFC3339Nano))
	h.Set("Ce-Partitionkey", fmt.Sprint(e.Extensions()[events.PartitionKey]))
	h.Set("Content-Type", e.DataContentType())
	return h, e.Data()
}

func MustStructured(tb testing.TB, e cloudevents.Event, contentType string) (http.Header, []byte) {
	tb.Helper()
	body, err := json.Marshal(e)
	if err != nil {
		tb.Fatal(err)
	}
	h := http.Header{}
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	return h, body
}

// The signature covers the data in canonical form, and eventsig.Sign signs the
// data as it is: both events must carry their data in that form already, or a
// consumer would find the signature wrong. Values that encoders write
// differently (HTML characters, non-ASCII text, a nil or set pointer) included.
func TestEventDataIsCanonical(t *testing.T) {
	awkward := `<a href="x">&amp;</a> ✓ \ "quoted"` + "\t\u2028"
	settled := newPayment()
	processed := created.Add(time.Second)
	settled.State, settled.Processed, settled.ExtPaymentDetails = payment.Completed, &processed, &awkward
	withText := newPayment()
	withText.Description, withText.AccountNumber = awkward, "№ 42"
	for name, e := range map[string]cloudevents.Event{
		"created":           events.Created(newPayment()),
		"created, settled":  events.Created(settled),
		"created, text":     events.Created(withText),
		"processed":         events.Processed(newResult()),
		"processed, failed": events.Processed(payment.Result{PaymentID: paymentID, Details: awkward, Processed: created}),
	} {
		if canonical := eventsig.Canonical(e.Data()); string(canonical) != string(e.Data()) {
			t.Errorf("%s: data %s, canonical %s", name, e.Data(), canonical)
		}
	}
}

func TestCreatedEnvelope(t *testing.T) {
	p := newPayment()
	e := events.Created(p)
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	checks := map[string][2]string{
		"specversion":     {e.SpecVersion(), "1.0"},
		"type":            {e.Type(), "dev.paymentpet.payment.created.v1"},
		"source":          {e.Source(), "/functions/create-payment"},
		"subject":         {e.Subject(), p.ID.String()},
		"partitionkey":    {fmt.Sprint(e.Extensions()["partitionkey"]), p.ID.String()},
		"datacontenttype": {e.DataContentType(), "application/json"},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", name, c[0], c[1])
		}
	}
	if !e.Time().Equal(p.Created) {
		t.Errorf("time = %v, want %v", e.Time(), p.Created)
	}
	if _, err := uuid.Parse(e.ID()); err != nil {
		t.Errorf("id %q is not a UUID", e.ID())
	}
	if events.Created(p).ID() == e.ID() {
		t.Error("two created events share an id")
	}
	var data map[string]any
	if err := json.Unmarshal(e.Data(), &data); err != nil {
		t.Fatal(err)
	}
	wantKeys := []string{"accountNumber", "amount", "created", "description", "extPaymentDetails", "paymentId", "processed", "state", "userId"}
	if keys := slices.Sorted(maps.Keys(data)); !slices.Equal(keys, wantKeys) {
		t.Errorf("data keys = %v, want %v", keys, wantKeys)
	}
	if data["amount"] != "125.50" || data["state"] != "pending" || data["processed"] != nil {
		t.Errorf("data = %v", data)
	}
	back, err := events.CreatedPayment(e)
	if err != nil || fmt.Sprint(back) != fmt.Sprint(p) {
		t.Fatalf("CreatedPayment = %+v, %v; want %+v", back, err, p)
	}
}

func TestProcessedEnvelope(t *testing.T) {
	r := newResult()
	e := events.Processed(r)
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	if e.Type() != "dev.paymentpet.payment.processed.v1" || e.Source() != "/functions/process-payment" ||
		e.Subject() != r.PaymentID.String() || fmt.Sprint(e.Extensions()["partitionkey"]) != r.PaymentID.String() ||
		e.DataContentType() != "application/json" || !e.Time().Equal(r.Processed) {
		t.Fatalf("envelope = %s", e)
	}
	var data map[string]any
	if err := json.Unmarshal(e.Data(), &data); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"paymentId": r.PaymentID.String(), "success": true, "extPaymentDetails": "ref 42", "processed": "2026-11-25T15:04:08.123456Z"}
	if !maps.Equal(data, want) {
		t.Fatalf("data = %v, want %v", data, want)
	}

	// The id is a function of the payment: a redelivered or recomputed result
	// carries the same id; another payment's result does not.
	later := r
	later.Processed = r.Processed.Add(time.Hour)
	if events.Processed(later).ID() != e.ID() {
		t.Error("the same payment's result got a different id")
	}
	other := r
	other.PaymentID = userID
	if events.Processed(other).ID() == e.ID() {
		t.Error("another payment's result got the same id")
	}
}

func TestDecodeAcceptsEveryShape(t *testing.T) {
	want := newResult()
	e := events.Processed(want)
	binary := func() (http.Header, []byte) { return binaryMode(e) }
	binaryNoType := func() (http.Header, []byte) { h, b := binaryMode(e); h.Del("Content-Type"); return h, b }
	structured := func(contentType string) func() (http.Header, []byte) {
		return func() (http.Header, []byte) { return MustStructured(t, e, contentType) }
	}
	shapes := map[string]func() (http.Header, []byte){
		"binary":                     binary,
		"binary without data type":   binaryNoType,
		"structured":                 structured("application/cloudevents+json"),
		"structured with charset":    structured("application/cloudevents+json; charset=utf-8"),
		"structured as text/plain":   structured("text/plain"),
		"structured as octet-stream": structured("application/octet-stream"),
		"structured without type":    structured(""),
	}
	for name, shape := range shapes {
		t.Run(name, func(t *testing.T) {
			header, body := shape()
			got, err := events.Decode(context.Background(), header, body, payment.EventProcessed)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got.ID() != e.ID() || got.Source() != e.Source() || got.Subject() != e.Subject() {
				t.Fatalf("decoded %s, want %s", got, e)
			}
			r, err := events.ProcessedResult(got)
			if err != nil {
				t.Fatalf("ProcessedResult: %v", err)
			}
			if r.PaymentID != want.PaymentID || r.Success != want.Success || r.Details != want.Details || !r.Processed.Equal(want.Processed) {
				t.Fatalf("result = %+v, want %+v", r, want)
			}
		})
	}
}

// structuredJSON is a valid "processed" event as a JSON object, to be broken by the cases.
func structuredJSON() map[string]any {
	return map[string]any{
		"specversion":     "1.0",
		"id":              "evt-1",
		"source":          events.SourceProcessPayment,
		"type":            payment.EventProcessed,
		"subject":         paymentID.String(),
		"datacontenttype": "application/json",
		"data": map[string]any{
			"paymentId": paymentID.String(), "success": true, "extPaymentDetails": "ok", "processed": "2026-11-25T15:04:08Z",
		},
	}
}

func TestDecodeFailures(t *testing.T) {
	without := func(attr string) func(m map[string]any) { return func(m map[string]any) { delete(m, attr) } }
	set := func(attr string, v any) func(m map[string]any) { return func(m map[string]any) { m[attr] = v } }
	setData := func(field string, v any) func(m map[string]any) {
		return func(m map[string]any) { m["data"].(map[string]any)[field] = v }
	}
	tests := []struct {
		name   string
		change func(m map[string]any) // applied to structuredJSON
		// or a raw request, when change is nil
		header http.Header
		body   string
	}{
		{name: "text that is not JSON", header: http.Header{"Content-Type": {"text/plain"}}, body: "hello"},
		{name: "empty body", header: http.Header{}, body: ""},
		{name: "structured body that is not JSON", header: http.Header{"Content-Type": {"application/cloudevents+json"}}, body: "{"},
		{name: "a JSON array", header: http.Header{"Content-Type": {"text/plain"}}, body: `[1,2]`},
		{name: "a batch", header: http.Header{"Content-Type": {"application/cloudevents-batch+json"}},
			body: `[{"specversion":"1.0","id":"1","source":"/x","type":"` + payment.EventProcessed + `"}]`},
		{name: "plain data without envelope", header: http.Header{"Content-Type": {"application/json"}},
			body: `{"paymentId":"` + paymentID.String() + `","success":true,"extPaymentDetails":"ok","processed":"2026-11-25T15:04:08Z"}`},
		{name: "binary without id", header: http.Header{
			"Ce-Specversion": {"1.0"}, "Ce-Source": {"/x"}, "Ce-Type": {payment.EventProcessed}, "Content-Type": {"application/json"},
		}, body: `{}`},
		{name: "binary without source", header: http.Header{
			"Ce-Specversion": {"1.0"}, "Ce-Id": {"1"}, "Ce-Type": {payment.EventProcessed}, "Content-Type": {"application/json"},
		}, body: `{}`},
		{name: "binary with unknown spec version", header: http.Header{
			"Ce-Specversion": {"9.9"}, "Ce-Id": {"1"}, "Ce-Source": {"/x"}, "Ce-Type": {payment.EventProcessed},
		}, body: `{}`},
		{name: "missing id", change: without("id")},
		{name: "empty id", change: set("id", "")},
		{name: "missing source", change: without("source")},
		{name: "missing specversion", change: without("specversion")},
		{name: "unknown specversion", change: set("specversion", "0.1")},
		{name: "missing type", change: without("type")},
		{name: "unknown type", change: set("type", "dev.paymentpet.payment.refunded.v1")},
		{name: "the other payment event type", change: set("type", payment.EventCreated)},
		{name: "older version of the type", change: set("type", "dev.paymentpet.payment.processed.v0")},
		{name: "text data content type", change: func(m map[string]any) { m["datacontenttype"] = "text/plain"; m["data"] = "ok" }},
		{name: "xml data content type", change: func(m map[string]any) { m["datacontenttype"] = "application/xml"; m["data"] = "<ok/>" }},
		{name: "no data", change: without("data")},
		{name: "null data", change: set("data", nil)},
		{name: "data is a string", change: set("data", "paymentId")},
		{name: "unknown data field", change: setData("amount", "1.00")},
		{name: "data without paymentId", change: func(m map[string]any) { delete(m["data"].(map[string]any), "paymentId") }},
		{name: "paymentId not a UUID", change: setData("paymentId", "42")},
		{name: "success not a boolean", change: setData("success", "yes")},
		{name: "processed not a time", change: setData("processed", "yesterday")},
		{name: "no processed time", change: func(m map[string]any) { delete(m["data"].(map[string]any), "processed") }},
		{name: "subject is another payment", change: set("subject", userID.String())},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header, body := tt.header, []byte(tt.body)
			if tt.change != nil {
				m := structuredJSON()
				tt.change(m)
				var err error
				if body, err = json.Marshal(m); err != nil {
					t.Fatal(err)
				}
				header = http.Header{"Content-Type": {"application/cloudevents+json"}}
			}
			e, err := events.Decode(context.Background(), header, body, payment.EventProcessed)
			if err == nil {
				_, err = events.ProcessedResult(e)
			}
			if code := payment.ErrorCode(err); code != payment.EINVALID {
				t.Fatalf("error %v has code %q, want %q", err, code, payment.EINVALID)
			}
		})
	}
}

// A structured event must be the whole body: one that decodes is refused
// with anything after it.
func TestDecodeRefusesMoreAfterTheEvent(t *testing.T) {
	header, body := MustStructured(t, events.Processed(newResult()), "text/plain")
	if _, err := events.Decode(context.Background(), header, body, payment.EventProcessed); err != nil {
		t.Fatal(err)
	}
	for _, after := range []string{` {"id":"2"}`, `}`, `x`} {
		_, err := events.Decode(context.Background(), header, append(slices.Clip(body), after...), payment.EventProcessed)
		if code := payment.ErrorCode(err); code != payment.EINVALID {
			t.Errorf("with %q after the event: error %v, code %q, want %q", after, err, code, payment.EINVALID)
		}
	}
}

func TestCreatedPaymentFailures(t *testing.T) {
	tests := map[string]func(p *payment.Payment){
		"no user":     func(p *payment.Payment) { p.UserID = uuid.Nil },
		"zero amount": func(p *payment.Payment) { p.Amount = 0 },
		"no id":       func(p *payment.Payment) { p.ID = uuid.Nil },
	}
	for name, change := range tests {
		t.Run(name, func(t *testing.T) {
			p := newPayment()
			change(&p)
			e := events.Created(p)
			e.SetSubject(paymentID.String())
			if _, err := events.CreatedPayment(e); payment.ErrorCode(err) != payment.EINVALID {
				t.Fatalf("CreatedPayment = %v, want %s", err, payment.EINVALID)
			}
		})
	}
	t.Run("unknown field", func(t *testing.T) {
		e := events.Created(newPayment())
		var data map[string]any
		if err := json.Unmarshal(e.Data(), &data); err != nil {
			t.Fatal(err)
		}
		data["currency"] = "RUB"
		if err := e.SetData(cloudevents.ApplicationJSON, data); err != nil {
			t.Fatal(err)
		}
		if _, err := events.CreatedPayment(e); payment.ErrorCode(err) != payment.EINVALID {
			t.Fatalf("CreatedPayment = %v, want %s", err, payment.EINVALID)
		}
	})
}
