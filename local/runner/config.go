package runner

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"handler/function/local/stack"
)

// Config is the runner's configuration, read once from the environment.
type Config struct {
	// Root is the project folder (the one holding stack.yml).
	Root string
	// StateDir keeps the private Postgres cluster, Kafka's data, builds and
	// secrets between runs (.local/, ignored by git).
	StateDir string
	// GatewayAddr is where the gateway listens.
	GatewayAddr string
	// DatabaseURL, when set, is used instead of a private cluster.
	DatabaseURL string
	// SecretsFrom (LOCAL_SECRETS_FROM, which stack.env sets) is the secrets
	// folder of a running stack this one is a replica of: it takes that
	// stack's API key and event key, so that each verifies the events the
	// other signs (with a key of its own a replica would refuse the running
	// stack's events as forged, and they would be dead-lettered).
	SecretsFrom string
	// PostgresPort is the private cluster's port.
	PostgresPort int
	// KafkaBrokers, when set, are used instead of the embedded cluster.
	KafkaBrokers []string
	// KafkaPorts are the embedded brokers' fixed loopback ports, so kcat and
	// other clients can connect.
	KafkaPorts []int
	// Partitions of every topic.
	Partitions int32
	// RelayEvery replaces relay-outbox's cron schedule locally: nobody wants to
	// wait a minute for an event that missed its first publish.
	RelayEvery time.Duration
	// FunctionEnv overrides the functions' stack.yml environment, for the
	// variables they declare there (PAYMENT_PROVIDER_MAX_DELAY=0, say).
	FunctionEnv map[string]string
	// Labels overrides stack.yml labels per function (function → label →
	// value), e.g. a short com.openfaas.scale.zero-duration for an experiment.
	Labels map[string]map[string]string
	// UI starts the Next.js UI on UIPort when ui/ exists.
	UI     bool
	UIPort int
	// GatewayURLForUI is what the UI's server side calls.
	GatewayURLForUI string
	// CallbackHosts are the hosts an async call's X-Callback-Url may name
	// (GATEWAY_CALLBACK_HOSTS, comma-separated); empty means this machine only.
	CallbackHosts []string
}

// ConfigFromEnv reads the configuration with its defaults.
func ConfigFromEnv() (Config, error) {
	root, err := stack.FindRoot()
	if err != nil {
		return Config{}, err
	}
	c := Config{
		Root:         root,
		StateDir:     env("LOCAL_STATE_DIR", filepath.Join(root, ".local")),
		GatewayAddr:  env("GATEWAY_ADDR", "127.0.0.1:8080"),
		DatabaseURL:  os.Getenv("DATABASE_URL"),
		SecretsFrom:  os.Getenv("LOCAL_SECRETS_FROM"),
		PostgresPort: envInt("LOCAL_PG_PORT", 15432),
		KafkaPorts:   []int{19092, 19093, 19094},
		Partitions:   3,
		RelayEvery:   5 * time.Second,
		FunctionEnv:  map[string]string{},
		UI:           os.Getenv("NO_UI") == "",
		UIPort:       envInt("UI_PORT", 4000),
	}
	if ports := os.Getenv("LOCAL_KAFKA_PORTS"); ports != "" {
		c.KafkaPorts = nil
		for _, p := range strings.Split(ports, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(p))
			if err != nil {
				return c, fmt.Errorf("LOCAL_KAFKA_PORTS: %w", err)
			}
			c.KafkaPorts = append(c.KafkaPorts, n)
		}
	}
	if b := os.Getenv("KAFKA_BROKERS"); b != "" {
		c.KafkaBrokers = strings.Split(b, ",")
	}
	for _, host := range strings.Split(os.Getenv("GATEWAY_CALLBACK_HOSTS"), ",") {
		if host = strings.TrimSpace(host); host != "" {
			c.CallbackHosts = append(c.CallbackHosts, host)
		}
	}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		c.FunctionEnv[k] = v
	}
	return c, c.Validate()
}

// Validate checks the settings.
func (c Config) Validate() error {
	var errs []error
	if c.Root == "" {
		errs = append(errs, errors.New("no project root"))
	}
	if c.DatabaseURL == "" && c.PostgresPort <= 0 {
		errs = append(errs, errors.New("LOCAL_PG_PORT must be a port"))
	}
	if len(c.KafkaBrokers) == 0 && len(c.KafkaPorts) == 0 {
		errs = append(errs, errors.New("no Kafka brokers and no ports for the embedded ones"))
	}
	if c.Partitions <= 0 {
		errs = append(errs, errors.New("partitions must be positive"))
	}
	return errors.Join(errs...)
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func envInt(name string, def int) int {
	n, err := strconv.Atoi(os.Getenv(name))
	if err != nil {
		return def
	}
	return n
}
