// get-payment returns one of a user's payments, or their latest payments.
//
// With wait=N it long-polls: it answers as soon as the payment leaves pending,
// or after N seconds with the payment still pending. Waiting costs the database
// nothing: the process holds one LISTEN connection and is woken by NOTIFY.
package function

import (
	"context"
	"net/http"
	"time"

	"github.com/google/uuid"
	handler "github.com/openfaas/templates-sdk/go-http"

	"handler/function/functions/pkg/api"
	"handler/function/functions/pkg/lazy"
	"handler/function/functions/pkg/payment"
)

// store is what this function needs of the payment store.
type store interface {
	GetPayment(ctx context.Context, id, userID uuid.UUID) (payment.Payment, error)
	ListPayments(ctx context.Context, userID uuid.UUID, limit int) ([]payment.Payment, error)
	// Subscribe signals the returned channel when the payment may have changed.
	Subscribe(ctx context.Context, id uuid.UUID) (<-chan struct{}, func(), error)
}

var deps = lazy.New(newService)

// Handle is the OpenFaaS entry point.
func Handle(req handler.Request) (handler.Response, error) {
	return api.Serve(req, deps.Get, (*service).handle), nil
}

func (s *service) handle(ctx context.Context, req handler.Request) handler.Response {
	if req.Method != http.MethodGet {
		return api.MethodNotAllowed(s.log, http.MethodGet)
	}
	if err := api.Authorize(req, s.cfg.APIKeys); err != nil {
		return api.Error(s.log, err)
	}
	q, err := parseQuery(req.QueryString, s.cfg.MaxWait)
	if err != nil {
		return api.Error(s.log, err)
	}
	if q.List {
		list, err := s.store.ListPayments(ctx, q.UserID, q.Limit)
		if err != nil {
			return api.Error(s.log, err)
		}
		return api.JSON(http.StatusOK, paymentList{Payments: list})
	}
	p, err := s.get(ctx, q.ID, q.UserID, q.Wait)
	if err != nil {
		return api.Error(s.log, err)
	}
	return api.JSON(http.StatusOK, p)
}

// get reads the payment and, while it is pending and wait allows, waits for a
// change. Subscribing before the first read means a change between the read
// and the wait cannot be missed.
func (s *service) get(ctx context.Context, id, userID uuid.UUID, wait time.Duration) (payment.Payment, error) {
	if wait <= 0 {
		return s.store.GetPayment(ctx, id, userID)
	}
	// Each waiter holds little, but a bound keeps one instance from being
	// swamped; past it, clients are asked to come back shortly.
	leave, err := s.waiters.Enter()
	if err != nil {
		return payment.Payment{}, err
	}
	defer leave()
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	changed, stop, err := s.store.Subscribe(ctx, id)
	if err != nil {
		return payment.Payment{}, err
	}
	defer stop()
	for {
		p, err := s.store.GetPayment(context.WithoutCancel(ctx), id, userID)
		if err != nil || p.State.Final() {
			return p, err
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return p, nil // the deadline: answer with the still-pending payment
		}
	}
}

type paymentList struct {
	Payments []payment.Payment `json:"payments"`
}
