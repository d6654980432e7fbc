// apply-result records the provider's result: it moves a payment from pending
// to completed or rejected, exactly once. A result not signed by the stack is
// refused (401). A redelivered result is acknowledged and changes nothing; an
// unknown payment, an impossible transition or a result that cannot be true
// (processed before the payment was created, details over the limit) is a
// permanent failure (400: not retried, dead-lettered); a database outage is
// transient (503: retried).
package function

import (
	"context"
	"errors"
	"net/http"

	"github.com/google/uuid"
	handler "github.com/openfaas/templates-sdk/go-http"

	"handler/function/functions/pkg/api"
	"handler/function/functions/pkg/events"
	"handler/function/functions/pkg/lazy"
	"handler/function/functions/pkg/payment"
)

// store is what this function needs of the payment store.
type store interface {
	UpdatePayment(ctx context.Context, id uuid.UUID, apply func(*payment.Payment) error) (payment.Payment, error)
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
	e, err := events.Decode(ctx, req.Header, req.Body, payment.EventProcessed)
	if err != nil {
		return api.Error(s.log, err)
	}
	// Only results the stack signed (process-payment's) count: any other is
	// 401, which the connector dead-letters (a 4xx is not retried).
	if err := s.keys.Verify(e); err != nil {
		return api.Error(s.log, err)
	}
	result, err := events.ProcessedResult(e)
	if err != nil {
		return api.Error(s.log, err)
	}
	p, err := s.store.UpdatePayment(ctx, result.PaymentID, func(p *payment.Payment) error { return p.Apply(result) })
	// The ids go into the lines themselves: a logger made With them for every
	// call would encode them whether or not a line follows.
	switch {
	case errors.Is(err, payment.ErrAlreadyApplied):
		s.log.Info("duplicate result ignored", "paymentId", result.PaymentID, "eventId", e.ID(), "state", p.State)
		return api.JSON(http.StatusOK, p)
	case payment.ErrorCode(err) == payment.ENOTFOUND:
		// Permanent: retrying cannot create the payment. 400 sends it to the dead letters.
		err = payment.Errorf(payment.EINVALID, "result for unknown payment %s", result.PaymentID)
		fallthrough
	case err != nil:
		return api.Error(s.log.With("paymentId", result.PaymentID, "eventId", e.ID()), err)
	}
	s.log.Info("payment result applied", "paymentId", result.PaymentID, "eventId", e.ID(), "state", p.State)
	return api.JSON(http.StatusOK, p)
}
