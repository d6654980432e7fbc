// create-payment stores a new payment as pending and announces it on Kafka.
//
// The payment and its "created" event are written in one statement (the
// outbox); the event is then sent from memory, with no transaction open, and
// marked sent. If Kafka is down the request still succeeds and relay-outbox
// publishes the event later.
package function

import (
	"context"
	"net/http"
	"time"

	handler "github.com/openfaas/templates-sdk/go-http"

	"handler/function/functions/pkg/api"
	"handler/function/functions/pkg/lazy"
	"handler/function/functions/pkg/outbox"
	"handler/function/functions/pkg/payment"
)

// store is what this function needs of the payment store.
type store interface {
	CreatePayment(ctx context.Context, p payment.Payment, idempotencyKey, fingerprint string, msg outbox.Message) (payment.Payment, bool, error)
}

// relay publishes outbox events right after the commit.
type relay interface {
	PublishNow(ctx context.Context, msgs ...outbox.Message) (int, error)
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
	leave, err := s.gate.Enter()
	if err != nil {
		return api.Error(s.log, err)
	}
	defer leave()
	if err := api.Authorize(req, s.cfg.APIKeys); err != nil {
		return api.Error(s.log, err)
	}
	r, key, err := decodeRequest(req, s.cfg.MaxAmount)
	if err != nil {
		return api.Error(s.log, err)
	}
	if ok, wait := s.limiter.Allow(r.UserID.String()); !ok {
		return api.Error(s.log, &payment.Error{Code: payment.ERATELIMITED,
			Message: "too many payments for this user, retry later", RetryAfter: wait})
	}
	p := payment.New(s.newID(), r, s.now())
	msg := createdMessage(p, s.cfg.PaymentsTopic, s.cfg.EventKeys)
	stored, replayed, err := s.store.CreatePayment(ctx, p, key, r.Fingerprint(), msg)
	if err != nil {
		return api.Error(s.log, err)
	}
	if replayed {
		s.log.Info("idempotent replay", "paymentId", stored.ID)
		resp := api.JSON(http.StatusCreated, stored)
		resp.Header.Set("Idempotent-Replayed", "true")
		return resp
	}
	s.publish(ctx, msg)
	// Per call at debug level only: at hundreds of creates per second a line
	// each costs a few per cent of the CPU (docs/benchmarks.md). Failures are
	// always logged.
	s.log.Debug("payment created", "paymentId", stored.ID, "eventId", msg.Event.ID(), "amount", stored.Amount)
	return api.JSON(http.StatusCreated, stored)
}

// publish tries to send the new event now, for at most PublishTimeout. A
// failure is not the client's problem: the event is safe in the outbox. After
// Kafka failed it does not try again for a while, so that while Kafka is down
// creates answer at once instead of each waiting PublishTimeout for nothing.
//
// The payment is committed, so the send goes on if the client hangs up: it
// runs on its own deadline, not the request's. (A client leaving used to end
// the send and pause publishing for every create, as if Kafka had failed.)
func (s *service) publish(ctx context.Context, msg outbox.Message) {
	if s.now().UnixNano() < s.skipPublishUntil.Load() {
		s.log.Info("event left in outbox: Kafka failed recently", "paymentId", msg.Key, "eventId", msg.Event.ID())
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.PublishTimeout)
	defer cancel()
	sent := 0
	r, err := s.relay(ctx)
	if err == nil {
		sent, err = r.PublishNow(ctx, msg)
	}
	if err != nil {
		if sent == 0 { // Kafka failed, not just the marking in Postgres
			s.skipPublishUntil.Store(s.now().Add(publishPause).UnixNano())
		}
		s.log.Warn("event left in outbox", "paymentId", msg.Key, "eventId", msg.Event.ID(), "err", err)
	}
}

// publishPause is how long publishing is skipped after a failure; the relay
// publishes what piles up meanwhile.
const publishPause = 5 * time.Second
