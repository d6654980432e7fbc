package function

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"handler/function/functions/pkg/api"
	"handler/function/functions/pkg/config"
	"handler/function/functions/pkg/eventsig"
	"handler/function/functions/pkg/postgres"
)

const name = "apply-result"

// Config is this function's configuration, read once per process.
type Config struct {
	Database config.Database
	// EventKeys verify that a result was signed by process-payment.
	EventKeys *eventsig.Keys
}

// LoadConfig reads the configuration.
func LoadConfig(env *config.Env) (Config, error) {
	c := Config{Database: env.Database()}
	keys, err := eventsig.New(env.EventKeys())
	c.EventKeys = keys
	return c, errors.Join(env.Err(), err)
}

type service struct {
	store store
	keys  *eventsig.Keys
	log   *slog.Logger
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
	return &service{store: db, keys: cfg.EventKeys, log: log}, nil
}
