// Package events turns payment events into CloudEvents and back. Everything
// about the envelope lives here: types, sources, subjects, partition keys, and
// the three shapes an event may arrive in over HTTP.
package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/google/uuid"

	"handler/function/functions/pkg/payment"
)

// Default topics, as in stack.yml and eventing/kafka.
const (
	PaymentsTopic = "payments"
	ResultsTopic  = "paymentsResults"
	// DeadLetterSuffix names a topic's dead-letter topic: payments.dlq.
	DeadLetterSuffix = ".dlq"
)

// Sources name the function that produced an event.
const (
	SourceCreatePayment  = "/functions/create-payment"
	SourceProcessPayment = "/functions/process-payment"
)

// PartitionKey is the CloudEvents extension that Kafka bindings map to the record key.
const PartitionKey = "partitionkey"

// processedNamespace makes the id of a "processed" event a function of the
// payment id, so a redelivered result carries the same id and can be recognised.
var processedNamespace = uuid.MustParse("8d3f2b7e-7c61-4c3e-9a59-1d2f0e6b5a10")

// Created is the event announcing a new pending payment.
func Created(p payment.Payment) cloudevents.Event {
	data := createdData{AccountNumber: p.AccountNumber, Amount: p.Amount, Created: p.Created, Description: p.Description,
		ExtPaymentDetails: p.ExtPaymentDetails, PaymentID: p.ID, Processed: p.Processed, State: p.State, UserID: p.UserID}
	return newEvent(uuid.NewString(), payment.EventCreated, SourceCreatePayment, p.ID, p.Created, data)
}

// Processed is the event carrying the provider's result for a payment.
func Processed(r payment.Result) cloudevents.Event {
	id := uuid.NewSHA1(processedNamespace, []byte(r.PaymentID.String())).String()
	data := processedData{ExtPaymentDetails: r.Details, PaymentID: r.PaymentID, Processed: r.Processed, Success: r.Success}
	return newEvent(id, payment.EventProcessed, SourceProcessPayment, r.PaymentID, r.Processed, data)
}

// The data of the two events as they are written: a Payment and a Result with
// their fields in the order of their JSON names, so that encoding/json writes
// them in the canonical form their signature covers (sorted keys, compact;
// eventsig.Canonical) and the signer has nothing to re-encode. They are read
// back into payment.Payment and payment.Result, whose JSON names they share.
type createdData struct {
	AccountNumber     string         `json:"accountNumber"`
	Amount            payment.Amount `json:"amount"`
	Created           time.Time      `json:"created"`
	Description       string         `json:"description"`
	ExtPaymentDetails *string        `json:"extPaymentDetails"`
	PaymentID         uuid.UUID      `json:"paymentId"`
	Processed         *time.Time     `json:"processed"`
	State             payment.State  `json:"state"`
	UserID            uuid.UUID      `json:"userId"`
}

type processedData struct {
	ExtPaymentDetails string    `json:"extPaymentDetails"`
	PaymentID         uuid.UUID `json:"paymentId"`
	Processed         time.Time `json:"processed"`
	Success           bool      `json:"success"`
}

func newEvent(id, typ, source string, paymentID uuid.UUID, at time.Time, data any) cloudevents.Event {
	e := cloudevents.NewEvent()
	e.SetID(id)
	e.SetType(typ)
	e.SetSource(source)
	e.SetSubject(paymentID.String())
	e.SetTime(at)
	e.SetExtension(PartitionKey, paymentID.String())
	// Marshalling our own structs cannot fail.
	_ = e.SetData(cloudevents.ApplicationJSON, data)
	return e
}

// Decode reads a CloudEvent from an HTTP request in any of the shapes it
// arrives in: binary mode (ce- headers, as Knative's KafkaSource delivers),
// structured mode (application/cloudevents+json), or a structured body with some
// other content type (the OpenFaaS Kafka connector forwards the record value as
// text/plain). The event must be valid and of the wanted type.
func Decode(ctx context.Context, header http.Header, body []byte, wantType string) (cloudevents.Event, error) {
	e := &event.Event{}
	msg := cehttp.NewMessage(header, io.NopCloser(bytes.NewReader(body)))
	var err error
	switch msg.ReadEncoding() {
	case binding.EncodingBinary:
		e, err = binding.ToEvent(ctx, msg)
	case binding.EncodingBatch:
		err = errors.New("a batch of events where one is expected")
	default: // structured, or a structured body under another content type
		err = decodeStructured(body, e)
	}
	if err != nil {
		return cloudevents.Event{}, payment.Errorf(payment.EINVALID, "not a CloudEvent: %v", err)
	}
	if err := e.Validate(); err != nil {
		return cloudevents.Event{}, payment.Errorf(payment.EINVALID, "invalid CloudEvent: %v", err)
	}
	if e.Type() != wantType {
		return cloudevents.Event{}, payment.Errorf(payment.EINVALID, "unexpected event type %q, want %q", e.Type(), wantType)
	}
	return *e, nil
}

// decodeStructured reads one event in structured mode with the SDK's own
// decoder, called directly: through json.Unmarshal (as binding.ToEvent does)
// encoding/json checks the bytes and then walks them again before handing them
// over, a third of the decoding's cost. The bytes are still checked here,
// since the SDK's reader ignores what follows the event.
func decodeStructured(body []byte, e *event.Event) error {
	if !json.Valid(body) {
		return errors.New("the body is not one JSON value")
	}
	return e.UnmarshalJSON(body)
}

// decodeData decodes an event's JSON data strictly into v.
func decodeData(e cloudevents.Event, v any) error {
	if ct := e.DataContentType(); ct != "" && ct != cloudevents.ApplicationJSON && ct != "text/json" {
		return payment.Errorf(payment.EINVALID, "event %s: data content type %q, want application/json", e.ID(), ct)
	}
	dec := json.NewDecoder(bytes.NewReader(e.Data()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return payment.Errorf(payment.EINVALID, "event %s: bad data: %v", e.ID(), err)
	}
	return nil
}

// checkPaymentID requires the payment id the data names, and that it is the
// event's subject when there is one.
func checkPaymentID(e cloudevents.Event, id uuid.UUID) error {
	if id == uuid.Nil {
		return payment.Errorf(payment.EINVALID, "event %s: data has no paymentId", e.ID())
	}
	if e.Subject() != "" && e.Subject() != id.String() {
		return payment.Errorf(payment.EINVALID, "event %s: subject %q does not match paymentId %s", e.ID(), e.Subject(), id)
	}
	return nil
}

// CreatedPayment decodes the data of a "payment created" event.
func CreatedPayment(e cloudevents.Event) (payment.Payment, error) {
	var p payment.Payment
	if err := decodeData(e, &p); err != nil {
		return payment.Payment{}, err
	}
	if err := checkPaymentID(e, p.ID); err != nil {
		return payment.Payment{}, err
	}
	if p.Amount <= 0 || p.UserID == uuid.Nil {
		return payment.Payment{}, payment.Errorf(payment.EINVALID, "event %s: payment without user or amount", e.ID())
	}
	return p, nil
}

// ProcessedResult decodes the data of a "payment processed" event.
func ProcessedResult(e cloudevents.Event) (payment.Result, error) {
	var r payment.Result
	if err := decodeData(e, &r); err != nil {
		return payment.Result{}, err
	}
	if err := checkPaymentID(e, r.PaymentID); err != nil {
		return payment.Result{}, err
	}
	if r.Processed.IsZero() {
		return payment.Result{}, payment.Errorf(payment.EINVALID, "event %s: result without processed time", e.ID())
	}
	return r, nil
}
