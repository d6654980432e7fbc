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
	DatabaseURL string
	Brokers     []string
	MaxDuration time.Duration
}

// LoadConfig reads the configuration and applies defaults.
func LoadConfig(env *config.Env) (Config, error) {
	c := Config{
		DatabaseURL: env.DatabaseURL(),
		Brokers:     env.Brokers(),
		MaxDuration: env.Duration("RELAY_MAX_DURATION", 20*time.Second),
	}
	return c, errors.Join(env.Err(), c.Validate())
}

// Validate checks the values.
func (c Config) Validate() error {
	if c.MaxDuration <= 0 {
		return errors.New("RELAY_MAX_DURATION must be positive")
	}
	return nil
}

type service struct {
	cfg   Config
	relay func(context.Context) (drainer, error)
	log   *slog.Logger
}

func newService() (*service, error) {
	log := api.Logger(name)
	cfg, err := LoadConfig(config.FromOS())
	if err != nil {
		return nil, fmt.Errorf("%s configuration: %w", name, err)
	}
	db, err := postgres.Open(context.Background(), postgres.Config{URL: cfg.DatabaseURL})
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
	return &service{cfg: cfg, relay: relay.Get, log: log}, nil
}
