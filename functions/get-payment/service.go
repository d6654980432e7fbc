package function

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"handler/function/functions/pkg/api"
	"handler/function/functions/pkg/config"
	"handler/function/functions/pkg/postgres"
)

const name = "get-payment"

// Config is this function's configuration, read once per process.
type Config struct {
	Database config.Database
	// MaxWait caps ?wait=; the function's timeouts in stack.yml must exceed it.
	MaxWait time.Duration
	// MaxWaiters bounds the long-polls waiting at once on this instance.
	MaxWaiters int
	// APIKeys, when any, are required as Authorization: Bearer <key>.
	APIKeys []string
}

// LoadConfig reads the configuration and applies defaults.
func LoadConfig(env *config.Env) (Config, error) {
	c := Config{
		Database:   env.Database(),
		MaxWait:    env.Duration("LONG_POLL_MAX_WAIT", 30*time.Second),
		MaxWaiters: env.Int("LONG_POLL_MAX_WAITERS", 2000),
		APIKeys:    env.APIKeys(),
	}
	return c, errors.Join(env.Err(), c.Validate())
}

// Validate checks the values.
func (c Config) Validate() error {
	if c.MaxWait < 0 || c.MaxWait > 5*time.Minute {
		return errors.New("LONG_POLL_MAX_WAIT must be between 0 and 5m")
	}
	if c.MaxWaiters < 1 {
		return errors.New("LONG_POLL_MAX_WAITERS must be at least 1")
	}
	return nil
}

type service struct {
	cfg     Config
	store   store
	log     *slog.Logger
	waiters *api.Gate // MaxWaiters slots for long-polls
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
	if len(cfg.APIKeys) == 0 {
		log.Warn("no API key configured (secret payments-api-key): requests are not authenticated")
	}
	return &service{cfg: cfg, store: db, log: log, waiters: api.NewGate(cfg.MaxWaiters, "too many long-polls are waiting on this instance, retry later")}, nil
}
