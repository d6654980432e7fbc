package function

import (
	"context"
	"fmt"
	"log/slog"

	"handler/function/functions/pkg/api"
	"handler/function/functions/pkg/config"
	"handler/function/functions/pkg/postgres"
)

const name = "apply-result"

// Config is this function's configuration, read once per process.
type Config struct {
	Database config.Database
}

// LoadConfig reads the configuration.
func LoadConfig(env *config.Env) (Config, error) {
	return Config{Database: env.Database()}, env.Err()
}

type service struct {
	store store
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
	return &service{store: db, log: log}, nil
}
