// relay-outbox publishes events that create-payment stored but could not
// publish at once (Kafka was down, or the instance stopped between commit and
// publish). The cron-connector invokes it on a schedule; each invocation first
// removes what is kept only for RETENTION_PERIOD, sent events (they hold
// account numbers) and idempotency keys, then drains the outbox, all within
// RELAY_MAX_DURATION. Unsent events are never removed.
package function

import (
	"context"
	"net/http"
	"time"

	handler "github.com/openfaas/templates-sdk/go-http"

	"handler/function/functions/pkg/api"
	"handler/function/functions/pkg/lazy"
	"handler/function/functions/pkg/payment"
)

// drainer empties the outbox and reports how many events it published.
type drainer interface {
	Drain(ctx context.Context) (int, error)
}

// expirer removes up to limit sent events and idempotency keys older than before.
type expirer interface {
	Expire(ctx context.Context, before time.Time, limit int) (events, keys int, err error)
}

var deps = lazy.New(newService)

// Handle is the OpenFaaS entry point.
func Handle(req handler.Request) (handler.Response, error) {
	return api.Serve(req, deps.Get, (*service).handle), nil
}

type report struct {
	Published     int `json:"published"`
	ExpiredEvents int `json:"expiredEvents"`
	ExpiredKeys   int `json:"expiredKeys"`
}

func (s *service) handle(ctx context.Context, req handler.Request) handler.Response {
	// The cron-connector and Knative's PingSource both POST.
	if req.Method != http.MethodPost {
		return api.MethodNotAllowed(s.log, http.MethodPost)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.MaxDuration)
	defer cancel()
	// Retention first, and for a quarter of the run at most: it needs only the
	// database, so neither Kafka being down nor an event it refuses stops it.
	events, keys, err := s.expire(ctx, s.cfg.MaxDuration/4)
	if events+keys > 0 {
		s.log.Info("retention period passed", "eventsRemoved", events, "keysCleared", keys)
	}
	if err != nil {
		return api.Error(s.log, err)
	}
	relay, err := s.relay(ctx)
	if err != nil {
		return api.Error(s.log, payment.Unavailable("kafka", err))
	}
	n, err := relay.Drain(ctx)
	if n > 0 {
		s.log.Info("outbox relayed", "published", n)
	}
	if err != nil && ctx.Err() == nil {
		return api.Error(s.log, err)
	}
	return api.JSON(http.StatusOK, report{Published: n, ExpiredEvents: events, ExpiredKeys: keys})
}
