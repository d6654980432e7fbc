package function

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"handler/function/functions/pkg/api"
	"handler/function/functions/pkg/config"
	"handler/function/functions/pkg/events"
	"handler/function/functions/pkg/eventsig"
	"handler/function/functions/pkg/kafka"
	"handler/function/functions/pkg/lazy"
	"handler/function/functions/pkg/payment"
)

const name = "process-payment"

// Config is this function's configuration, read once per process.
type Config struct {
	Brokers      []string
	ResultsTopic string
	Provider     Provider
	// EventKeys verify "created" events and sign the results.
	EventKeys *eventsig.Keys
}

// LoadConfig reads the configuration and applies defaults: 80 % success after
// 3–25 s, as the original stand. Delays of 0 make the provider instant.
func LoadConfig(env *config.Env) (Config, error) {
	c := Config{
		Brokers:      env.Brokers(),
		ResultsTopic: env.String("RESULTS_TOPIC", events.ResultsTopic),
		Provider: Provider{
			SuccessRate: env.Float("PAYMENT_PROVIDER_SUCCESS_RATE", 0.8),
			MinDelay:    env.Duration("PAYMENT_PROVIDER_MIN_DELAY", 3*time.Second),
			MaxDelay:    env.Duration("PAYMENT_PROVIDER_MAX_DELAY", 25*time.Second),
		},
	}
	keys, err := eventsig.New(env.EventKeys())
	c.EventKeys = keys
	return c, errors.Join(env.Err(), err, c.Validate())
}

// Validate checks the provider's settings.
func (c Config) Validate() error {
	p := c.Provider
	var errs []error
	if p.SuccessRate < 0 || p.SuccessRate > 1 {
		errs = append(errs, errors.New("PAYMENT_PROVIDER_SUCCESS_RATE must be between 0 and 1"))
	}
	if p.MinDelay < 0 || p.MaxDelay < p.MinDelay {
		errs = append(errs, errors.New("PAYMENT_PROVIDER_MIN_DELAY must be >= 0 and <= PAYMENT_PROVIDER_MAX_DELAY"))
	}
	return errors.Join(errs...)
}

type service struct {
	cfg       Config
	provider  Provider
	keys      *eventsig.Keys
	publisher func(context.Context) (resultPublisher, error)
	log       *slog.Logger
	now       func() time.Time
}

// processedAt is the time of the provider's answer for p: now, but never
// before p was created, which apply-result refuses. This machine's clock may
// be a little behind create-payment's.
func (s *service) processedAt(p payment.Payment) time.Time {
	if now := s.now(); !now.Before(p.Created) {
		return now
	}
	return p.Created
}

func newService() (*service, error) {
	log := api.Logger(name)
	cfg, err := LoadConfig(config.FromOS())
	if err != nil {
		return nil, fmt.Errorf("%s configuration: %w", name, err)
	}
	producer := lazy.New(func() (resultPublisher, error) {
		return kafka.NewPublisher(kafka.Config{Brokers: cfg.Brokers, ClientID: name})
	})
	return &service{cfg: cfg, provider: cfg.Provider, keys: cfg.EventKeys, publisher: producer.Get, log: log, now: time.Now}, nil
}
