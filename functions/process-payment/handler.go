// process-payment stands in for the external payment provider. It receives a
// "payment created" CloudEvent signed by create-payment (anything else is 401),
// answers after a delay, and publishes the provider's result, signed, to
// paymentsResults. It acknowledges the event (2xx) only after Kafka
// acknowledged the result, so a lost result means a redelivery.
package function

import (
	"context"
	"fmt"
	"net/http"
	"time"

	handler "github.com/openfaas/templates-sdk/go-http"

	"handler/function/functions/pkg/api"
	"handler/function/functions/pkg/events"
	"handler/function/functions/pkg/lazy"
	"handler/function/functions/pkg/payment"
)

// resultPublisher sends the provider's result, a CloudEvent in structured
// JSON; nil means Kafka acknowledged it.
type resultPublisher interface {
	PublishJSON(ctx context.Context, topic, key string, event []byte) error
}

var deps = lazy.New(newService)

// Handle is the OpenFaaS entry point.
func Handle(req handler.Request) (handler.Response, error) {
	return api.Serve(req, deps.Get, (*service).handle), nil
}

func (s *service) handle(ctx context.Context, req handler.Request) handler.Response {
	if req.Method != http.MethodPost {
		return api.MethodNotAllowed(s.log, http.MethodPost)
	}
	e, err := events.Decode(ctx, req.Header, req.Body, payment.EventCreated)
	if err != nil {
		return api.Error(s.log, err)
	}
	// Only events the stack signed (create-payment's) count: any other is 401,
	// which the connector dead-letters (a 4xx is not retried).
	if err := s.keys.Verify(e); err != nil {
		return api.Error(s.log, err)
	}
	p, err := events.CreatedPayment(e)
	if err != nil {
		return api.Error(s.log, err)
	}
	// The ids go into the lines themselves: a logger made With them for every
	// call would encode them whether or not a line follows.
	failed := func(err error) handler.Response {
		return api.Error(s.log.With("paymentId", p.ID, "eventId", e.ID()), err)
	}

	// The decision is a function of the payment id: a redelivered event gets the
	// same answer, as a real provider would give for an already-known payment.
	decision := s.provider.Decide(p.ID)
	select {
	case <-time.After(decision.Delay):
	case <-ctx.Done():
		return failed(payment.Unavailable("provider call", ctx.Err()))
	}
	result := payment.Result{PaymentID: p.ID, Success: decision.Success, Details: decision.Details, Processed: s.processedAt(p)}

	publisher, err := s.publisher(ctx)
	if err != nil {
		return failed(payment.Unavailable("kafka", err))
	}
	out := events.Processed(result)
	s.keys.Sign(&out)
	encoded, err := out.MarshalJSON() // not json.Marshal, which would scan and copy the bytes again
	if err != nil {
		return failed(fmt.Errorf("encode result event: %w", err))
	}
	if err := publisher.PublishJSON(ctx, s.cfg.ResultsTopic, p.ID.String(), encoded); err != nil {
		return failed(err)
	}
	s.log.Info("payment processed", "paymentId", p.ID, "eventId", e.ID(), "success", result.Success,
		"delay_ms", decision.Delay.Milliseconds(), "resultEventId", out.ID())
	return api.JSON(http.StatusOK, result)
}
