// Package runner stands the whole stack up on one machine without Docker or
// Kubernetes: Postgres (a private cluster, or DATABASE_URL), Kafka (an embedded
// 3-broker kfake cluster, or KAFKA_BROKERS), each function of stack.yml built as
// faas-cli would build it and run as its own process, a gateway with OpenFaaS's
// HTTP contract, a Kafka connector and a cron connector, and the UI.
//
// What is real: the functions' code and build, Postgres, the Kafka protocol,
// HTTP between every part. What stands in: kfake for Apache Kafka, and small
// local versions of the OpenFaaS gateway and connectors (see their packages).
package runner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"handler/function/db"
	"handler/function/functions/pkg/config"
	"handler/function/local/connector"
	"handler/function/local/fnbuild"
	"handler/function/local/gateway"
	"handler/function/local/overview"
	"handler/function/local/pgcluster"
	"handler/function/local/scaler"
	"handler/function/local/stack"
)

// Stack is a running local stack.
type Stack struct {
	cfg   Config
	log   *slog.Logger
	base  *slog.Logger // without a component: the gateway and connector name themselves
	logs  io.Writer    // where the functions' own logs go, a line each, prefixed with the name
	stack *stack.Stack

	DatabaseURL string
	Brokers     []string
	GatewayURL  string
	// APIKey is what create-payment and get-payment require as a bearer token;
	// it lives in StateDir/secrets/payments-api-key and survives restarts.
	APIKey string
	// AdminPassword is the gateway's admin password for /system/* (user
	// gateway.DefaultAdminUser), in StateDir/secrets/basic-auth-password as
	// OpenFaaS names the secret.
	AdminPassword string

	pg        *pgcluster.Cluster
	kafka     *embeddedKafka
	scaler    *scaler.Scaler
	gateway   *gateway.Gateway
	connector *connector.Connector
	files     uint64 // the open-file limit

	// envMu guards envOf: variables set by Restart, given to every replica of
	// the function started afterwards.
	envMu sync.Mutex
	envOf map[string]map[string]string
}

// Start brings every part up, in dependency order, and returns once the
// gateway accepts calls. Run it under a context that ends the stack; Wait
// blocks until everything has stopped.
func Start(ctx context.Context, cfg Config, logs io.Writer) (*Stack, error) {
	base := slog.New(slog.NewTextHandler(logs, nil))
	log := base.With("component", "runner")
	st, err := stack.Load(filepath.Join(cfg.Root, "stack.yml"))
	if err != nil {
		return nil, err
	}
	for name, labels := range cfg.Labels {
		fn, ok := st.Functions[name]
		if !ok {
			return nil, fmt.Errorf("labels for %s: no such function", name)
		}
		fn.Labels = maps.Clone(fn.Labels)
		maps.Copy(fn.Labels, labels)
		st.Functions[name] = fn
	}
	s := &Stack{cfg: cfg, log: log, base: base, logs: logs, stack: st, envOf: map[string]map[string]string{}}
	s.files = raiseFileLimit(filesNeeded(subscribers(st)), log)
	if err := os.MkdirAll(cfg.StateDir, 0o755); err != nil {
		return nil, err
	}
	if err := s.startPostgres(ctx); err != nil {
		s.stopServices()
		return nil, err
	}
	if err := s.startKafka(ctx); err != nil {
		s.stopServices()
		return nil, err
	}
	return s, nil
}

func (s *Stack) startPostgres(ctx context.Context) error {
	s.DatabaseURL = s.cfg.DatabaseURL
	if s.DatabaseURL == "" {
		start := time.Now()
		pg, err := pgcluster.Start(ctx, pgcluster.Options{Dir: filepath.Join(s.cfg.StateDir, "postgres"), Port: s.cfg.PostgresPort, Durable: true})
		if err != nil {
			return err
		}
		s.pg = pg
		if err := pg.CreateDatabase(ctx, "payments", ""); err != nil && !strings.Contains(err.Error(), "already exists") {
			return err
		}
		s.DatabaseURL = pg.URL("payments")
		s.log.Info("postgres started", "url", s.DatabaseURL, "took", time.Since(start).Round(time.Millisecond))
	}
	applied, err := db.Migrate(ctx, s.DatabaseURL)
	if err != nil {
		return err
	}
	s.log.Info("database migrated", "applied", applied)
	return nil
}

func (s *Stack) startKafka(ctx context.Context) error {
	s.Brokers = s.cfg.KafkaBrokers
	if len(s.Brokers) == 0 {
		s.kafka = &embeddedKafka{dir: filepath.Join(s.cfg.StateDir, "kafka"), ports: s.cfg.KafkaPorts}
		if err := s.kafka.Start(); err != nil {
			return err
		}
		s.Brokers = s.kafka.Brokers()
		s.log.Info("embedded kafka started", "brokers", strings.Join(s.Brokers, ","))
	}
	var topics []string
	for _, fn := range s.stack.Sorted() {
		topics = append(topics, fn.Topics()...)
	}
	// Waits with backoff for a slow broker instead of crashing (the original
	// stand's start-up race).
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	replication := int16(min(3, len(s.Brokers)))
	if err := connector.EnsureTopics(ctx, s.Brokers, topics, s.cfg.Partitions, replication); err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	return nil
}

// Run builds and starts the functions, the gateway and the connectors, and
// blocks until ctx ends and everything has stopped.
func (s *Stack) Run(ctx context.Context, ready func()) error {
	defer s.stopServices()
	start := time.Now()
	binaries, err := fnbuild.BuildAll(ctx, s.cfg.Root, s.stack, s.cfg.StateDir)
	if err != nil {
		return fmt.Errorf("build functions: %w", err)
	}
	s.log.Info("functions built", "took", time.Since(start).Round(time.Millisecond))
	secrets, err := s.writeSecrets()
	if err != nil {
		return err
	}

	logDir := filepath.Join(s.cfg.StateDir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}
	// Each function runs as replicas within its scale labels (package scaler).
	sc, err := scaler.New(s.stack.Sorted(), func(fn stack.Function) scaler.Process {
		s.envMu.Lock()
		env := withEnv(s.functionEnv(fn, secrets), s.envOf[fn.Name])
		s.envMu.Unlock()
		return &process{name: fn.Name, binary: binaries[fn.Name], env: env,
			log: s.log, out: s.logs, logFile: filepath.Join(logDir, fn.Name+".log")}
	}, s.base)
	if err != nil {
		return err
	}
	s.scaler = sc
	// One registry for the gateway's and the connector's metrics, served at
	// the gateway's /metrics and read by the autoscaler.
	registry := prometheus.NewRegistry()
	// What the UI's System page shows, streamed by the gateway.
	ov, err := overview.New(s.stack.Sorted(), sc, registry, s.Brokers, func(t string) string { return t + connector.DefaultDLQSuffix })
	if err != nil {
		return err
	}
	defer ov.Close()
	openapi, err := os.ReadFile(filepath.Join(s.cfg.Root, "docs", "openapi.yaml"))
	if err != nil {
		return err
	}
	gw, err := gateway.New(gateway.Config{
		OpenAPI:   openapi,
		Addr:      s.cfg.GatewayAddr,
		Functions: s.stack.Sorted(),
		Upstream:  sc.Lookup,
		Replicas:  sc.Replicas,
		Scale:     sc.Scale,
		Wake:      sc.Wake,
		Registry:  registry,
		Overview:  func(ctx context.Context) any { return ov.Snapshot(ctx) },
		Replay: func(ctx context.Context, r gateway.ReplayRequest) (int, error) {
			return ov.Replay(ctx, r.Topic, r.Partition, r.Offset, gateway.ErrNoDeadLetters)
		},
		AdminPassword: s.AdminPassword,
		// The functions' own parser, so the gateway accepts exactly their keys.
		APIKeys:       config.New(config.Map(map[string]string{"OPENFAAS_SECRETS_DIR": secrets})).APIKeys(),
		CallbackHosts: s.cfg.CallbackHosts,
	}, s.base)
	if err != nil {
		return err
	}
	s.gateway = gw
	s.GatewayURL = "http://" + s.cfg.GatewayAddr
	conn, err := connector.New(connector.Config{
		MaxInFlightOf: inFlightBounds(s.files, s.stack, s.log),
		Brokers:       s.Brokers,
		GatewayURL:    s.GatewayURL,
		GatewayHTTP2:  true,
		Functions:     s.stack.Sorted(),
		CronEvery:     s.cfg.RelayEvery,
		Tap: func(r connector.Record) {
			headers := make(map[string]string, len(r.Headers))
			for _, h := range r.Headers {
				headers[h.Key] = string(h.Value)
			}
			gw.Events().Publish(gateway.EventFromRecord(r.Topic, r.Partition, r.Offset, r.Key, r.Value, headers, r.Timestamp))
		},
		Logger:   s.base,
		Registry: registry,
	})
	if err != nil {
		return err
	}
	s.connector = conn

	errs := make(chan error, 3)
	sc.Start()
	defer sc.Stop()
	autoscaleCtx, stopAutoscaler := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAutoscaler()
	autoscalerDone := make(chan struct{})
	go func() {
		defer close(autoscalerDone)
		(&scaler.Autoscaler{Scaler: sc, Metrics: registry, Log: s.base}).Run(autoscaleCtx)
	}()
	gwCtx, stopGateway := context.WithCancel(context.WithoutCancel(ctx))
	defer stopGateway()
	go func() { errs <- gw.Run(gwCtx) }()
	connCtx, stopConnector := context.WithCancel(context.WithoutCancel(ctx))
	defer stopConnector()
	connDone := make(chan error, 1)
	go func() { connDone <- conn.Run(connCtx) }()

	// From here on every exit goes through the stop sequence below, so that no
	// process outlives the runner.
	runErr := s.waitFunctions(ctx)
	uiCtx, stopUI := context.WithCancel(context.WithoutCancel(ctx))
	defer stopUI()
	uiDone := make(chan error, 1)
	uiRunning, connRunning := false, true
	if runErr == nil && s.cfg.UI {
		if _, err := os.Stat(filepath.Join(s.cfg.Root, "ui", "package.json")); err == nil {
			uiRunning, runErr = s.startUI(uiCtx, uiDone)
			if runErr == nil {
				s.log.Info("ui ready", "url", fmt.Sprintf("http://localhost:%d", s.cfg.UIPort))
			}
		}
	}
	if runErr == nil {
		s.log.Info("stack ready", "gateway", s.GatewayURL, "brokers", strings.Join(s.Brokers, ","), "database", s.DatabaseURL, "took", time.Since(start).Round(time.Millisecond))
		if ready != nil {
			ready()
		}
		select {
		case <-ctx.Done():
		case runErr = <-errs:
		case runErr = <-connDone:
			connRunning = false
		case runErr = <-uiDone:
			uiRunning = false
		}
	}
	// Stop in reverse order: the UI, no new events, then no new calls, then the functions.
	s.log.Info("stopping")
	stopUI()
	if uiRunning {
		<-uiDone
	}
	stopConnector()
	if connRunning {
		if err := <-connDone; err != nil && !errors.Is(err, context.Canceled) && runErr == nil {
			runErr = err
		}
	}
	stopGateway()
	stopAutoscaler()
	<-autoscalerDone
	sc.Stop()
	return runErr
}

func (s *Stack) waitFunctions(ctx context.Context) error {
	deadline := time.Now().Add(time.Minute)
	for {
		missing := []string{}
		for _, name := range s.scaler.Names() {
			if !s.Ready(name) {
				missing = append(missing, name)
			}
		}
		if len(missing) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("functions not ready after a minute: %s", strings.Join(missing, ", "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// writeSecrets puts the OpenFaaS secrets where the functions read them. The
// API key and the event key are generated once and survive restarts.
func (s *Stack) writeSecrets() (string, error) {
	dir := filepath.Join(s.cfg.StateDir, "secrets")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "payments-db-url"), []byte(s.DatabaseURL), 0o600); err != nil {
		return "", err
	}
	var err error
	if s.APIKey, err = generatedSecret(dir, "payments-api-key", 24); err != nil {
		return "", err
	}
	// Signs and verifies the events between the functions (package eventsig).
	if _, err := generatedSecret(dir, "payments-event-key", 32); err != nil {
		return "", err
	}
	// The gateway's admin, as OpenFaaS keeps it: user and password secrets.
	if err := os.WriteFile(filepath.Join(dir, "basic-auth-user"), []byte(gateway.DefaultAdminUser), 0o600); err != nil {
		return "", err
	}
	if s.AdminPassword, err = generatedSecret(dir, "basic-auth-password", 24); err != nil {
		return "", err
	}
	return dir, nil
}

// generatedSecret returns the secret file dir/name, first writing n random
// bytes, hex-encoded, into it when it does not exist, so it survives restarts.
func generatedSecret(dir, name string, n int) (string, error) {
	file := filepath.Join(dir, name)
	value, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		random := make([]byte, n)
		rand.Read(random)
		value = []byte(hex.EncodeToString(random))
		err = os.WriteFile(file, value, 0o600)
	}
	if err != nil {
		return "", fmt.Errorf("secret %s: %w", name, err)
	}
	return strings.TrimSpace(string(value)), nil
}

// functionEnv is the function's stack.yml environment, with the runner's own
// value for any variable the stack declares and is set in the runner's
// environment, and with the local addresses of Kafka and the secrets.
func (s *Stack) functionEnv(fn stack.Function, secrets string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TZ=UTC"}
	for k, v := range fn.Environment {
		if override, ok := s.cfg.FunctionEnv[k]; ok {
			v = override
		}
		env = append(env, k+"="+v)
	}
	if _, ok := fn.Environment["KAFKA_BROKERS"]; ok {
		env = append(env, "KAFKA_BROKERS="+strings.Join(s.Brokers, ","))
	}
	return append(env, "OPENFAAS_SECRETS_DIR="+secrets)
}

// Kill crashes one replica of a function (kill -9); it is replaced.
func (s *Stack) Kill(function string) error {
	f := s.scaler.Function(function)
	if f == nil {
		return fmt.Errorf("no function %s", function)
	}
	return f.Kill()
}

// Ready reports whether a function has a replica up.
func (s *Stack) Ready(function string) bool {
	_, available := s.scaler.Replicas(function)
	return available > 0
}

// Restart sets vars in the environment of a function's replicas and replaces
// every running replica (kill -9); the benchmark switches process-payment
// between an instant and the real provider delay this way. Calls in flight
// fail and are retried, as after a crash.
func (s *Stack) Restart(function string, vars map[string]string) error {
	f := s.scaler.Function(function)
	if f == nil {
		return fmt.Errorf("no function %s", function)
	}
	s.envMu.Lock()
	merged := maps.Clone(s.envOf[function])
	if merged == nil {
		merged = map[string]string{}
	}
	maps.Copy(merged, vars)
	s.envOf[function] = merged
	s.envMu.Unlock()
	return f.KillAll()
}

// PauseDeliveries stops the connector fetching records for the functions
// until ResumeDeliveries: the benchmark measures what a create costs alone.
func (s *Stack) PauseDeliveries() { s.connector.Pause() }

// ResumeDeliveries delivers the records that waited.
func (s *Stack) ResumeDeliveries() { s.connector.Resume() }

// FunctionURL is the address of one of a function's replicas now, for calls
// that bypass the gateway (the benchmark compares the two).
func (s *Stack) FunctionURL(function string) (string, bool) {
	u, ok := s.scaler.Lookup(function)
	if !ok {
		return "", false
	}
	return u.String(), true
}

// Restarts counts the replicas of a function that died and were replaced.
func (s *Stack) Restarts(function string) int { return s.scaler.Function(function).Restarts() }

// Scaler is the stack's replica manager, for tests and experiments.
func (s *Stack) Scaler() *scaler.Scaler { return s.scaler }

// StopKafka stops the embedded Kafka cluster, keeping its data.
func (s *Stack) StopKafka() error {
	if s.kafka == nil {
		return errors.New("kafka is not embedded")
	}
	s.kafka.Stop()
	return nil
}

// StartKafka starts the embedded Kafka cluster again from its data.
func (s *Stack) StartKafka() error {
	if s.kafka == nil {
		return errors.New("kafka is not embedded")
	}
	return s.kafka.Start()
}

func (s *Stack) stopServices() {
	if s.kafka != nil {
		s.kafka.Stop()
	}
	if s.pg != nil {
		if err := s.pg.Stop(); err != nil {
			s.log.Error("stop postgres", "err", err)
		}
	}
}
