// create-payment stores a new payment as pending and announces it on Kafka.
//
// The payment and its "created" event are written in one statement (the
// outbox) and the client is answered; the event is then sent from memory, with
// no transaction open, and marked sent. If Kafka is down, or this instance
// stops before the send, relay-outbox publishes the event later.
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
	msg, err := createdMessage(p, s.cfg.PaymentsTopic, s.cfg.EventKeys)
	if err != nil {
		return api.Error(s.log, err)
	}
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
	s.publishAfterAnswer(msg)
	// Per call at debug level only: at hundreds of creates per second a line
	// each costs a few per cent of the CPU (docs/benchmarks.md). Failures are
	// always logged.
	s.log.Debug("payment created", "paymentId", stored.ID, "eventId", msg.Event.ID(), "amount", stored.Amount)
	return api.JSON(http.StatusCreated, stored)
}

// publishAfterAnswer sends the new event while the answer goes out. The
// payment and its event are committed together, so the client has nothing to
// wait for: Kafka's acknowledgement (and marking the event sent) would only add
// to every create's latency. The send runs on its own deadline, so a client
// hanging up does not stop it. At most maxSending sends run at once; past
// that (Kafka slow) an event waits in the outbox for the relay.
func (s *service) publishAfterAnswer(msg outbox.Message) {
	select {
	case s.sending <- struct{}{}:
	default:
		s.log.Debug("event left in outbox: too many sends in flight", "paymentId", msg.Key, "eventId", msg.Event.ID())
		return
	}
	s.sends.Add(1)
	go func() {
		defer func() { <-s.sending; s.sends.Done() }()
		s.publish(msg)
	}()
}

// maxSending bounds the events being sent at once by one instance.
const maxSending = 4096

// publish tries to send the new event now, for at most PublishTimeout. A
// failure is not the client's problem: the event is safe in the outbox. After
// Kafka failed it does not try again for a while, so that while Kafka is down
// the sends do not pile up, each waiting PublishTimeout for nothing.
func (s *service) publish(msg outbox.Message) {
	if s.now().UnixNano() < s.skipPublishUntil.Load() {
		// Not logged above debug: while Kafka is down this is every create, and
		// the failure that started the pause was logged.
		s.log.Debug("event left in outbox: Kafka failed recently", "paymentId", msg.Key, "eventId", msg.Event.ID())
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.PublishTimeout)
	defer cancel()
	sent := 0
	r, err := s.relay(ctx)
	if err == nil {
		sent, err = r.PublishNow(ctx, msg)
	}
	if err != nil {
		if sent == 0 { // Kafka failed, not just the marking in Postgres
			s.skipPublishUntil.Store(s.now().Add(publishPause).UnixNano())
			s.log.Warn("event left in outbox, publishing paused", "paymentId", msg.Key, "eventId", msg.Event.ID(),
				"pause_ms", publishPause.Milliseconds(), "err", err)
			return
		}
		s.log.Warn("event sent but not marked: the relay sends it again", "paymentId", msg.Key, "eventId", msg.Event.ID(), "err", err)
	}
}

// publishPause is how long publishing is skipped after a failure; the relay
// publishes what piles up meanwhile.
const publishPause = 5 * time.Second
