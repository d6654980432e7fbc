// Package config reads a function's settings from its environment and its
// OpenFaaS secrets. Entry points call it once at start-up and pass the values
// on; adapters never read the environment themselves.
package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// DefaultSecretsDir is where OpenFaaS mounts secrets.
const DefaultSecretsDir = "/var/openfaas/secrets"

// Env looks settings up in environment variables and secret files, collecting
// every error so that a misconfigured function reports all of them at once.
type Env struct {
	lookup     func(string) (string, bool)
	secretsDir string
	errs       []error
}

// FromOS reads the process environment; OPENFAAS_SECRETS_DIR overrides the secrets folder.
func FromOS() *Env { return New(os.LookupEnv) }

// New reads settings through lookup (a map in tests).
func New(lookup func(string) (string, bool)) *Env {
	e := &Env{lookup: lookup, secretsDir: DefaultSecretsDir}
	if dir, ok := lookup("OPENFAAS_SECRETS_DIR"); ok && dir != "" {
		e.secretsDir = dir
	}
	return e
}

// Map is a lookup over a map, for tests.
func Map(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// Err returns every error met so far.
func (e *Env) Err() error { return errors.Join(e.errs...) }

// String returns the variable's value, or def when it is unset or empty.
func (e *Env) String(name, def string) string {
	if v, ok := e.lookup(name); ok && strings.TrimSpace(v) != "" {
		return strings.TrimSpace(v)
	}
	return def
}

// List returns a comma-separated variable as a list without empty items.
func (e *Env) List(name string) []string {
	var out []string
	for _, item := range strings.Split(e.String(name, ""), ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// Duration reads a Go duration ("25s"); a bare integer means seconds, as the
// OpenFaaS watchdog reads its timeouts.
func (e *Env) Duration(name string, def time.Duration) time.Duration {
	v := e.String(name, "")
	if v == "" {
		return def
	}
	if n, err := strconv.Atoi(v); err == nil {
		return time.Duration(n) * time.Second
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s: %w", name, err))
		return def
	}
	return d
}

// Float reads a floating-point setting (a rate, never money).
func (e *Env) Float(name string, def float64) float64 {
	v := e.String(name, "")
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s: %w", name, err))
		return def
	}
	return f
}

// Int reads an integer setting.
func (e *Env) Int(name string, def int) int {
	v := e.String(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s: %w", name, err))
		return def
	}
	return n
}

// Secret reads an OpenFaaS secret: the file <dir>/<name>, or, where Knative
// mounts the secret as a volume, the single file inside the folder <dir>/<name>/.
// A missing secret returns "" and no error: the caller decides whether it is required.
func (e *Env) Secret(name string) string {
	path := filepath.Join(e.secretsDir, name)
	info, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return ""
	}
	if err == nil && info.IsDir() {
		path, err = singleFile(path)
	}
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("secret %s: %w", name, err))
		return ""
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("secret %s: %w", name, err))
		return ""
	}
	return strings.TrimSpace(string(raw))
}

// singleFile finds the one regular file in a Kubernetes secret volume, which
// also holds hidden ..data links.
func singleFile(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	var found []string
	for _, entry := range entries {
		if !strings.HasPrefix(entry.Name(), ".") {
			found = append(found, filepath.Join(dir, entry.Name()))
		}
	}
	if len(found) != 1 {
		return "", fmt.Errorf("folder %s holds %d keys, want 1", dir, len(found))
	}
	return found[0], nil
}

// DatabaseURL is the Postgres connection string: DATABASE_URL, else the secret
// payments-db-url. It is required.
func (e *Env) DatabaseURL() string {
	if v := e.String("DATABASE_URL", ""); v != "" {
		return v
	}
	v := e.Secret("payments-db-url")
	if v == "" {
		e.errs = append(e.errs, errors.New("DATABASE_URL or secret payments-db-url is required"))
	}
	return v
}

// DefaultDBTimeout bounds a database call when DB_TIMEOUT is unset: far above
// what a healthy call takes (milliseconds), far below the function's timeout.
const DefaultDBTimeout = 3 * time.Second

// DefaultFunctionTimeout is the golang-http template's read and write timeout
// and the watchdog's exec_timeout when stack.yml sets none.
const DefaultFunctionTimeout = 10 * time.Second

// Database says where Postgres is and how long a function waits for it.
type Database struct {
	URL string
	// Timeout bounds every database call, connecting and waiting for a pooled
	// connection included, so that a stalled database answers 503 in seconds
	// rather than the platform cutting the call after the work was done.
	Timeout time.Duration
}

// Database reads DATABASE_URL (or the secret payments-db-url) and DB_TIMEOUT,
// which must be shorter than the function's own timeout (FunctionTimeout).
func (e *Env) Database() Database {
	d := Database{URL: e.DatabaseURL(), Timeout: e.Duration("DB_TIMEOUT", DefaultDBTimeout)}
	if err := d.Validate(e.FunctionTimeout()); err != nil {
		e.errs = append(e.errs, err)
	}
	return d
}

// Validate checks that a database call ends within budget, the time the
// platform gives one invocation (0: unbounded).
func (d Database) Validate(budget time.Duration) error {
	// Postgres's statement_timeout counts whole milliseconds; 0 would turn it off.
	if d.Timeout < 100*time.Millisecond {
		return fmt.Errorf("DB_TIMEOUT %s must be at least 100ms", d.Timeout)
	}
	if budget > 0 && d.Timeout >= budget {
		return fmt.Errorf("DB_TIMEOUT %s must be shorter than the function's timeout %s (exec_timeout, write_timeout)", d.Timeout, budget)
	}
	return nil
}

// FunctionTimeout is how long the platform lets one invocation run: the
// shorter of exec_timeout (the watchdog's) and write_timeout (the template's
// HTTP server's), each DefaultFunctionTimeout when unset, as stack.yml's
// environment sets them for both. A value of 0 or less sets no bound; 0 is
// returned when neither does.
func (e *Env) FunctionTimeout() time.Duration {
	var budget time.Duration
	for _, name := range []string{"exec_timeout", "write_timeout"} {
		if d := e.Duration(name, DefaultFunctionTimeout); d > 0 && (budget == 0 || d < budget) {
			budget = d
		}
	}
	return budget
}

// Brokers is the Kafka bootstrap list, KAFKA_BROKERS. It is required.
func (e *Env) Brokers() []string {
	brokers := e.List("KAFKA_BROKERS")
	if len(brokers) == 0 {
		e.errs = append(e.errs, errors.New("KAFKA_BROKERS is required"))
	}
	return brokers
}

// APIKeys are the keys create-payment and get-payment accept, from the secret
// payments-api-key: one or more keys separated by newlines or commas, so a key
// can be rotated by adding the new one before removing the old. None means
// authentication is off.
func (e *Env) APIKeys() []string { return e.secretList("payments-api-key") }

// EventKeys are the keys that sign and verify events (package eventsig), from
// the secret payments-event-key: one or more, separated by newlines or commas;
// the first signs, any verifies.
func (e *Env) EventKeys() []string { return e.secretList("payments-event-key") }

// secretList reads a secret holding a list separated by newlines or commas.
func (e *Env) secretList(name string) []string {
	var items []string
	for _, item := range strings.FieldsFunc(e.Secret(name), func(r rune) bool { return r == '\n' || r == ',' }) {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}
