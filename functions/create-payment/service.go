package function

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"handler/function/functions/pkg/api"
	"handler/function/functions/pkg/config"
	"handler/function/functions/pkg/events"
	"handler/function/functions/pkg/eventsig"
	"handler/function/functions/pkg/kafka"
	"handler/function/functions/pkg/lazy"
	"handler/function/functions/pkg/outbox"
	"handler/function/functions/pkg/payment"
	"handler/function/functions/pkg/postgres"
	"handler/function/functions/pkg/ratelimit"
)

const name = "create-payment"

// Config is this function's configuration, read once per process.
type Config struct {
	Database       config.Database
	Brokers        []string
	PaymentsTopic  string
	MaxAmount      payment.Amount
	PublishTimeout time.Duration
	// APIKeys, when any, are required as Authorization: Bearer <key>.
	APIKeys []string
	// RatePerUser and RateBurst limit creates per user and instance (0 turns it off).
	RatePerUser float64
	RateBurst   int
	// MaxInFlight bounds the creates one instance serves at once; past it
	// they are refused with 503 at once (0 turns it off).
	MaxInFlight int
	// EventKeys sign the "created" events, so process-payment knows them for ours.
	EventKeys *eventsig.Keys
}

// LoadConfig reads the configuration and applies defaults.
func LoadConfig(env *config.Env) (Config, error) {
	c := Config{
		Database:       env.Database(),
		Brokers:        env.Brokers(),
		PaymentsTopic:  env.String("PAYMENTS_TOPIC", events.PaymentsTopic),
		PublishTimeout: env.Duration("PUBLISH_TIMEOUT", 2*time.Second),
		APIKeys:        env.APIKeys(),
		RatePerUser:    env.Float("RATE_LIMIT_PER_USER", 10),
		RateBurst:      env.Int("RATE_LIMIT_BURST", 20),
		MaxInFlight:    env.Int("MAX_IN_FLIGHT", 128),
	}
	max, err := payment.ParseAmount(env.String("PAYMENT_MAX_AMOUNT", "1000000.00"))
	c.MaxAmount = max
	keys, keysErr := eventsig.New(env.EventKeys())
	c.EventKeys = keys
	return c, errors.Join(env.Err(), wrapIf("PAYMENT_MAX_AMOUNT", err), keysErr, c.Validate())
}

// Validate checks the values that have no safe default.
func (c Config) Validate() error {
	if c.MaxAmount <= 0 {
		return errors.New("PAYMENT_MAX_AMOUNT must be positive")
	}
	if c.PublishTimeout <= 0 {
		return errors.New("PUBLISH_TIMEOUT must be positive")
	}
	if c.RatePerUser < 0 || c.RateBurst < 0 {
		return errors.New("RATE_LIMIT_PER_USER and RATE_LIMIT_BURST must not be negative")
	}
	if c.MaxInFlight < 0 {
		return errors.New("MAX_IN_FLIGHT must not be negative")
	}
	return nil
}

func wrapIf(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}

type service struct {
	// skipPublishUntil (unix nanoseconds) pauses publishing after a failure.
	skipPublishUntil atomic.Int64
	// sending holds a token per event being sent after its answer; sends
	// counts them, so that tests can wait for them. (A call waits only for
	// its store, within DB_TIMEOUT, which config.Database checks against the
	// function's timeout; PUBLISH_TIMEOUT runs after the answer.)
	sending chan struct{}
	sends   sync.WaitGroup

	cfg     Config
	gate    *api.Gate
	limiter *ratelimit.PerKey
	store   store
	relay   func(context.Context) (relay, error)
	log     *slog.Logger
	now     func() time.Time
	newID   func() uuid.UUID
}

// newService builds the process's dependencies on the first invocation.
func newService() (*service, error) {
	log := api.Logger(name)
	cfg, err := LoadConfig(config.FromOS())
	if err != nil {
		return nil, fmt.Errorf("%s configuration: %w", name, err)
	}
	db, err := postgres.Open(context.Background(), postgres.Config{URL: cfg.Database.URL, Timeout: cfg.Database.Timeout})
	if err != nil {
		return nil, err
	}
	// The producer is built apart from the pool: Kafka being down must not stop
	// payments from being accepted.
	producer := lazy.New(func() (relay, error) {
		pub, err := kafka.NewPublisher(kafka.Config{Brokers: cfg.Brokers, ClientID: name})
		if err != nil {
			return nil, err
		}
		return &outbox.Relay{Store: db, Publisher: pub}, nil
	})
	if len(cfg.APIKeys) == 0 {
		log.Warn("no API key configured (secret payments-api-key): requests are not authenticated")
	}
	return &service{
		cfg: cfg, store: db, relay: producer.Get, log: log,
		gate:    api.NewGate(cfg.MaxInFlight, "create-payment is at capacity on this instance, retry shortly"),
		limiter: ratelimit.New(cfg.RatePerUser, cfg.RateBurst, time.Now),
		now:     time.Now, newID: uuid.New,
		sending: make(chan struct{}, maxSending),
	}, nil
}

// createdMessage is the signed "created" event bound for topic, encoded once
// for the outbox and Kafka. It is stored signed, so the relay publishes it as
// it is.
func createdMessage(p payment.Payment, topic string, keys *eventsig.Keys) (outbox.Message, error) {
	e := events.Created(p)
	keys.Sign(&e)
	return outbox.NewMessage(topic, p.ID.String(), e)
}
