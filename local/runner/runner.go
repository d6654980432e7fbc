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
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
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

	lock      *stateLock
	gatewayLn net.Listener // bound in Start, served in Run
	pg        *pgcluster.Cluster
	kafka     *embeddedKafka
	scaler    *scaler.Scaler
	gateway   *gateway.Gateway
	connector *connector.Connector
	files     fileBudget // the open-file limit, shared out

	// envMu guards envOf: variables set by Restart, given to every replica of
	// the function started afterwards.
	envMu sync.Mutex
	envOf map[string]map[string]string
}

// Start takes the state folder's lock, binds or checks every port, and
// starts Postgres and Kafka; Run does the rest. Anything in the way (another
// runner on the folder, a port in use) fails here, at once, with the fix.
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
	// The lock comes first: until we hold it, nothing in the folder is ours
	// to touch (another runner's Postgres least of all).
	if s.lock, err = lockState(cfg.StateDir); err != nil {
		return nil, err
	}
	s.files = budget(raiseFileLimit(filesNeeded(st), log), st, log)
	s.files.log(log)
	for _, start := range []func(context.Context) error{s.bindPorts, s.startPostgres, s.startKafka} {
		if err := start(ctx); err != nil {
			s.stopServices()
			return nil, s.replicaHint(err)
		}
	}
	return s, nil
}

// replicaHint adds, to a port conflict with the stack running from the
// default folder, how to start a replica of that stack instead of a second
// stack: a learner growing the consumer groups meant that.
func (s *Stack) replicaHint(err error) error {
	main := filepath.Join(s.cfg.Root, ".local")
	if !errors.Is(err, errPortInUse) || s.cfg.DatabaseURL != "" || !Running(main) {
		return err
	}
	if same, _ := samePath(main, s.cfg.StateDir); same {
		return err
	}
	return fmt.Errorf("%w\n  A stack is running from %s: for a replica of it (its database and Kafka), run `. %s` first, which sets DATABASE_URL and KAFKA_BROKERS", err, main, filepath.Join(main, StateFile))
}

// bindPorts binds the gateway's address (held until Run serves it) and
// checks that the UI's port is free, so that neither fails after the banner.
func (s *Stack) bindPorts(context.Context) error {
	os.Remove(filepath.Join(s.cfg.StateDir, StateFile)) // left by a runner that was killed
	if s.uiEnabled() {
		if err := portFree(fmt.Sprintf("127.0.0.1:%d", s.cfg.UIPort), "the UI", "UI_PORT=<free port> (or NO_UI=1)"); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", s.cfg.GatewayAddr)
	if err != nil {
		return portError("the gateway", s.cfg.GatewayAddr, "GATEWAY_ADDR=127.0.0.1:<free port>", err)
	}
	s.gatewayLn = ln
	return nil
}

// portFree checks that addr can be listened on now.
func portFree(addr, what, setting string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return portError(what, addr, setting, err)
	}
	return ln.Close()
}

// errPortInUse marks the errors of portError.
var errPortInUse = errors.New("in use by another program")

func portError(what, addr, setting string, err error) error {
	return fmt.Errorf("%s: %s is %w (%v); stop that program, or move ours with %s", what, addr, errPortInUse, err, setting)
}

func (s *Stack) uiEnabled() bool {
	if !s.cfg.UI {
		return false
	}
	_, err := os.Stat(filepath.Join(s.cfg.Root, "ui", "package.json"))
	return err == nil
}

func (s *Stack) startPostgres(ctx context.Context) error {
	s.DatabaseURL = s.cfg.DatabaseURL
	if s.DatabaseURL == "" {
		start := time.Now()
		// TakeOver: we hold the folder's lock, so a server running on its
		// data was left by a runner that died.
		pg, err := pgcluster.Start(ctx, pgcluster.Options{Dir: filepath.Join(s.cfg.StateDir, "postgres"), Port: s.cfg.PostgresPort, Durable: true, TakeOver: true})
		if errors.Is(err, pgcluster.ErrPortInUse) {
			return portError("postgres", fmt.Sprintf("127.0.0.1:%d", s.cfg.PostgresPort), "LOCAL_PG_PORT=<free port>", err)
		}
		if err != nil {
			return err
		}
		s.pg = pg
		if err := pg.CreateDatabase(ctx, "payments", ""); err != nil && !strings.Contains(err.Error(), "already exists") {
			return err
		}
		s.DatabaseURL = pg.URL("payments")
		s.log.Info("postgres started", "url", s.DatabaseURL, "took_ms", time.Since(start).Milliseconds())
	}
	applied, err := db.Migrate(ctx, s.DatabaseURL)
	if err != nil && s.cfg.DatabaseURL != "" {
		return fmt.Errorf("the database at DATABASE_URL: %w\n  (if DATABASE_URL came from `. .local/stack.env` of a stack that has stopped, `unset DATABASE_URL KAFKA_BROKERS LOCAL_SECRETS_FROM` to run the private ones)", err)
	}
	if err != nil {
		return err
	}
	s.log.Info("database migrated", "applied", applied)
	return nil
}

func (s *Stack) startKafka(ctx context.Context) error {
	s.Brokers = s.cfg.KafkaBrokers
	if len(s.Brokers) == 0 && s.cfg.DatabaseURL != "" {
		s.Brokers = s.sharedBrokers()
	}
	if len(s.Brokers) == 0 {
		for _, p := range s.cfg.KafkaPorts {
			if err := portFree(fmt.Sprintf("127.0.0.1:%d", p), "embedded kafka", "LOCAL_KAFKA_PORTS=<three free ports> (or KAFKA_BROKERS for a Kafka of your own)"); err != nil {
				return err
			}
		}
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
		if s.kafka == nil {
			return fmt.Errorf("create topics on KAFKA_BROKERS=%s: %w\n  (if KAFKA_BROKERS came from `. .local/stack.env` of a stack that has stopped, `unset DATABASE_URL KAFKA_BROKERS LOCAL_SECRETS_FROM` to run the private ones)", strings.Join(s.Brokers, ","), err)
		}
		return fmt.Errorf("create topics: %w", err)
	}
	return nil
}

// sharedBrokers returns the Kafka brokers of the stack running from the
// default state folder when this runner is a replica of it: it shares that
// stack's database but was given no KAFKA_BROKERS. A replica with a Kafka of
// its own would deliver nothing of the shared payments (its consumer groups
// would live on another broker).
func (s *Stack) sharedBrokers() []string {
	main := filepath.Join(s.cfg.Root, ".local")
	if same, _ := samePath(main, s.cfg.StateDir); same {
		return nil
	}
	state, err := ReadState(main)
	if err != nil || state["KAFKA_BROKERS"] == "" {
		return nil
	}
	if !sameDatabase(state["DATABASE_URL"], s.cfg.DatabaseURL) {
		s.log.Warn("a stack is running from "+main+" with another database: this one starts a Kafka of its own; set KAFKA_BROKERS to share that stack's",
			"its_brokers", state["KAFKA_BROKERS"])
		return nil
	}
	s.log.Info("sharing the Kafka of the stack running from "+main+" (whose database this one uses)", "brokers", state["KAFKA_BROKERS"])
	return strings.Split(state["KAFKA_BROKERS"], ",")
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
	s.log.Info("functions built", "took_ms", time.Since(start).Milliseconds())
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
			out: s.logs, logFile: filepath.Join(logDir, fn.Name+".log")}
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
		// Both from the open-file limit (files.go).
		MaxClientConns: s.files.Clients,
		MaxConnsOf:     s.files.Conns,
	}, s.base)
	if err != nil {
		return err
	}
	s.gateway = gw
	s.GatewayURL = "http://" + s.cfg.GatewayAddr
	conn, err := connector.New(connector.Config{
		MaxInFlightOf: s.files.InFlight,
		Brokers:       s.Brokers,
		GatewayURL:    s.GatewayURL,
		// The connector shares this process with the gateway, so its calls go
		// to the gateway's handler in memory (gateway.Transport): each would
		// otherwise cost a loopback round trip with HTTP/2 framing at both ends.
		HTTPClient: &http.Client{
			Transport:     gw.Transport(connector.MaxResponseBody),
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		Functions: s.stack.Sorted(),
		CronEvery: s.cfg.RelayEvery,
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
		(&scaler.Autoscaler{Scaler: sc, Metrics: registry, Log: s.base, MachineMax: scaler.MachineMax(runtime.NumCPU())}).Run(autoscaleCtx)
	}()
	gwCtx, stopGateway := context.WithCancel(context.WithoutCancel(ctx))
	defer stopGateway()
	ln := s.gatewayLn
	s.gatewayLn = nil // Serve closes it
	go func() { errs <- gw.Serve(gwCtx, ln) }()
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
	if runErr == nil && s.uiEnabled() {
		uiRunning, runErr = s.startUI(uiCtx, uiDone)
		if runErr == nil {
			s.log.Info("ui ready", "url", fmt.Sprintf("http://localhost:%d", s.cfg.UIPort))
		}
	}
	if runErr == nil {
		runErr = s.writeState()
	}
	if runErr == nil {
		s.log.Info("stack ready", "gateway", s.GatewayURL, "brokers", strings.Join(s.Brokers, ","), "database", s.DatabaseURL, "took_ms", time.Since(start).Milliseconds())
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
	os.Remove(filepath.Join(s.cfg.StateDir, StateFile))
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

// waitFunctions waits until every function has a replica listening; a
// replica that exits before any of its function's did fails the start at
// once, with its last output (later crashes are the scaler's to replace).
func (s *Stack) waitFunctions(ctx context.Context) error {
	deadline := time.Now().Add(time.Minute)
	for {
		missing := []string{}
		for _, name := range s.scaler.Names() {
			if err := s.scaler.Function(name).StartErr(); err != nil {
				return err
			}
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

// writeState tells other terminals and programs where this stack runs.
func (s *Stack) writeState() error {
	vars := [][2]string{
		{"GATEWAY_URL", s.GatewayURL},
		{"KAFKA_BROKERS", strings.Join(s.Brokers, ",")},
		{"DATABASE_URL", s.DatabaseURL},
		{"LOCAL_STATE_DIR", s.cfg.StateDir},
		// For a replica of this stack (Config.SecretsFrom).
		{"LOCAL_SECRETS_FROM", filepath.Join(s.cfg.StateDir, "secrets")},
	}
	if s.uiEnabled() {
		vars = append(vars, [2]string{"UI_URL", fmt.Sprintf("http://localhost:%d", s.cfg.UIPort)})
	}
	if err := writeState(s.cfg.StateDir, vars); err != nil {
		return fmt.Errorf("write %s: %w", StateFile, err)
	}
	return nil
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
	if err := s.shareSecrets(dir, "payments-api-key", "payments-event-key"); err != nil {
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

// shareSecrets copies the named secrets from Config.SecretsFrom into dir,
// for a replica of the stack that keeps them (unless dir is that folder).
func (s *Stack) shareSecrets(dir string, names ...string) error {
	from := s.cfg.SecretsFrom
	if from == "" {
		return nil
	}
	if same, _ := samePath(from, dir); same {
		return nil
	}
	for _, name := range names {
		value, err := os.ReadFile(filepath.Join(from, name))
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, name), value, 0o600)
		}
		if err != nil {
			return fmt.Errorf("secret %s from LOCAL_SECRETS_FROM=%s: %w\n  (if it came from `. .local/stack.env` of a stack that has stopped, `unset DATABASE_URL KAFKA_BROKERS LOCAL_SECRETS_FROM` to run the private ones)", name, from, err)
		}
	}
	s.log.Info("sharing the secrets of the running stack", "from", from, "secrets", strings.Join(names, ","))
	return nil
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

// Close stops what Start started, for a stack that will not Run (Run stops
// everything itself when its context ends).
func (s *Stack) Close() { s.stopServices() }

func (s *Stack) stopServices() {
	if s.gatewayLn != nil {
		s.gatewayLn.Close()
	}
	defer s.lock.unlock() // last: until everything is stopped, the folder is ours
	if s.kafka != nil {
		s.kafka.Stop()
	}
	if s.pg != nil {
		if err := s.pg.Stop(); err != nil {
			s.log.Error("stop postgres", "err", err)
		}
		s.pg = nil
	}
}
