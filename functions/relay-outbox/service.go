package function

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"handler/function/functions/pkg/api"
	"handler/function/functions/pkg/config"
	"handler/function/functions/pkg/kafka"
	"handler/function/functions/pkg/lazy"
	"handler/function/functions/pkg/outbox"
	"handler/function/functions/pkg/postgres"
)

const name = "relay-outbox"

// Config is this function's configuration, read once per process.
type Config struct {
	Database    config.Database
	Brokers     []string
	MaxDuration time.Duration
	// Retention is how long sent events and idempotency keys are kept.
	Retention time.Duration
}

// minRetention keeps an Idempotency-Key for longer than any client retries a create.
const minRetention = time.Hour

// LoadConfig reads the configuration and applies defaults.
func LoadConfig(env *config.Env) (Config, error) {
	c := Config{
		Database:    env.Database(),
		Brokers:     env.Brokers(),
		MaxDuration: env.Duration("RELAY_MAX_DURATION", 20*time.Second),
		Retention:   env.Duration("RETENTION_PERIOD", 24*time.Hour),
	}
	return c, errors.Join(env.Err(), c.Validate())
}

// Validate checks the values.
func (c Config) Validate() error {
	if c.MaxDuration <= 0 {
		return errors.New("RELAY_MAX_DURATION must be positive")
	}
	if c.Retention < minRetention {
		return fmt.Errorf("RETENTION_PERIOD must be at least %s: a client may retry a create with its Idempotency-Key until then", minRetention)
	}
	return nil
}

type service struct {
	cfg   Config
	relay func(context.Context) (drainer, error)
	store expirer
	log   *slog.Logger
	now   func() time.Time
}

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
	relay := lazy.New(func() (drainer, error) {
		pub, err := kafka.NewPublisher(kafka.Config{Brokers: cfg.Brokers, ClientID: name})
		if err != nil {
			return nil, err
		}
		return &outbox.Relay{Store: db, Publisher: pub}, nil
	})
	return &service{cfg: cfg, relay: relay.Get, store: db, log: log, now: time.Now}, nil
}

// expireBatch bounds the rows one statement removes, so a large backlog is
// worked off in short transactions that each end within the database timeout.
const expireBatch = 1000

// expire removes, batch by batch, the sent events and idempotency keys older
// than the retention period, until none are left or the budget is spent; what
// is left waits for the next run. It fails only when the database does.
func (s *service) expire(ctx context.Context, budget time.Duration) (events, keys int, err error) {
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	before := s.now().Add(-s.cfg.Retention)
	for ctx.Err() == nil {
		e, k, err := s.store.Expire(ctx, before, expireBatch)
		events, keys = events+e, keys+k
		if err != nil && ctx.Err() == nil {
			return events, keys, err
		}
		if e < expireBatch && k < expireBatch {
			break
		}
	}
	return events, keys, nil
}
