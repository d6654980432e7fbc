package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"handler/function/local/runner"
	"handler/function/local/stack"
)

// bench is one run: the stack under test and what has been measured so far.
type bench struct {
	cfg      Config
	stack    *runner.Stack
	fns      *stack.Stack
	stateDir string
	client   *http.Client
	db       *pgxpool.Pool // the payments database, for setting up and checking
	progress *progress
	results  *Results
}

// Run starts the stack, runs the configured phases, prints the table to out
// and the progress to status, and writes the results as JSON. A phase that
// fails is recorded and the others still run; Run then returns an error.
func Run(ctx context.Context, cfg Config, out, status io.Writer) error {
	res := newResults(cfg)
	logs, err := openLog(cfg.LogFile)
	if err != nil {
		return err
	}
	defer logs.Close()
	stateDir, cleanup, err := prepareStateDir(cfg)
	if err != nil {
		return err
	}
	defer cleanup()
	fns, err := stack.Load(filepath.Join(cfg.Root, "stack.yml"))
	if err != nil {
		return err
	}
	rcfg, err := runnerConfig(cfg, stateDir)
	if err != nil {
		return err
	}

	p := newProgress(status)
	p.Line("starting the stack in %s (logs: %s)", stateDir, cfg.LogFile)
	st, err := runner.Start(ctx, rcfg, logs)
	if err != nil {
		return fmt.Errorf("start the stack: %w", err)
	}
	// The stack outlives ctx just long enough to be stopped in order.
	stackCtx, stopStack := context.WithCancel(context.WithoutCancel(ctx))
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- st.Run(stackCtx, func() { close(ready) }) }()
	defer func() {
		p.Line("stopping the stack")
		stopStack()
		if err := <-done; err != nil {
			slog.Error("stack stopped with an error", "err", err)
		}
	}()
	select {
	case <-ready:
	case err := <-done:
		done <- err // for the deferred stop
		return fmt.Errorf("stack stopped before it was ready (see %s): %w", cfg.LogFile, err)
	case <-ctx.Done():
		return ctx.Err()
	}

	pool, err := pgxpool.New(ctx, st.DatabaseURL)
	if err != nil {
		return fmt.Errorf("connect to the payments database: %w", err)
	}
	defer pool.Close()
	b := &bench{cfg: cfg, stack: st, fns: fns, stateDir: stateDir, client: newClient(), db: pool, progress: p, results: res}
	defer b.client.CloseIdleConnections()

	cpuStart, cpuErr := sampleCPU(stateDir)
	var errs []error
	step := func(name string, fn func(context.Context) error) {
		if ctx.Err() != nil {
			return
		}
		res.noteLoad(name)
		if err := fn(ctx); err != nil {
			err = fmt.Errorf("%s: %w", name, err)
			p.Line("FAILED %v", err)
			res.Errors = append(res.Errors, err.Error())
			errs = append(errs, err)
		}
	}
	if cfg.ProfileDir != "" {
		step("profiling", b.enableProfiling)
	}
	step("memory when idle", func(ctx context.Context) error { return b.measureMemory("idle") })
	if cfg.runs(phaseStartup) {
		step(phaseStartup, b.measureStartup)
	}
	if cfg.runs(phaseLimits) {
		step("limit: pgbench", b.measurePGBench)
		step("limit: sarama", b.measureSarama)
	}
	// Waiting is measured on a fresh stack: the retries and redeliveries
	// that trail an overload would otherwise count as its queries.
	if cfg.runs(phaseLongPoll) {
		step(phaseLongPoll, b.measureLongPoll)
	}
	// After the waiting phase: its reads would count in that phase's
	// quiet baseline (Postgres reports a backend's counts with a delay).
	if cfg.runs(phaseLimits) {
		step("limit: gateway read", b.measureGatewayRead)
	}
	if cfg.runs(phaseThroughput) {
		step(phaseThroughput, b.measureThroughput)
	}
	if cfg.runs(phaseDirect) {
		step(phaseDirect, b.measureDirect)
	}
	if cfg.runs(phaseLatency) {
		step(phaseLatency, b.measureLatency)
	}
	if cfg.runs(phaseE2E) {
		step(phaseE2E, b.measureEndToEnd)
	}
	if cfg.runs(phaseDelay) {
		step(phaseDelay, b.measureDelayed)
	}
	step("memory after the load", func(ctx context.Context) error {
		if err := b.settle(ctx); err != nil {
			return err
		}
		return b.measureMemory("afterLoad")
	})
	res.finish()
	if cpuEnd, err := sampleCPU(stateDir); err == nil && cpuErr == nil {
		res.Machine.OthersCPU = othersShare(cpuStart, cpuEnd)
	}
	if err := ctx.Err(); err != nil {
		errs = append(errs, err)
	}

	res.evaluate()
	if err := res.write(cfg.Out); err != nil {
		errs = append(errs, err)
	}
	res.printTable(out)
	fmt.Fprintf(out, "\nresults: %s\n", cfg.Out)
	return errors.Join(errs...)
}

// runnerConfig is the stack as make run starts it, on free ports, with an
// instant provider, without the UI.
func runnerConfig(cfg Config, stateDir string) (runner.Config, error) {
	ports, err := freePorts(5)
	if err != nil {
		return runner.Config{}, err
	}
	st, err := stack.Load(filepath.Join(cfg.Root, "stack.yml"))
	if err != nil {
		return runner.Config{}, err
	}
	return runner.Config{
		Labels:       oneReplicaEach(st),
		Root:         cfg.Root,
		StateDir:     stateDir,
		GatewayAddr:  fmt.Sprintf("127.0.0.1:%d", ports[0]),
		PostgresPort: ports[1],
		KafkaPorts:   ports[2:5],
		Partitions:   3,
		RelayEvery:   5 * time.Second,
		FunctionEnv:  instantProvider,
	}, nil
}

// oneReplicaEach pins every function to one replica, never zero: the bench
// measures what each process costs on this machine, and its phases call a
// function's own port. On two cores more replicas add only their pools,
// producers and connections (the autoscaler scaled create-payment and
// get-payment to 10 during a run, and the bench process ran out of open
// files); scaling is shown by TestServerless and the System page instead.
func oneReplicaEach(st *stack.Stack) map[string]map[string]string {
	labels := map[string]map[string]string{}
	for _, fn := range st.Sorted() {
		labels[fn.Name] = map[string]string{
			"com.openfaas.scale.min":  "1",
			"com.openfaas.scale.max":  "1",
			"com.openfaas.scale.zero": "false",
		}
	}
	return labels
}

// instantProvider is process-payment's environment for an instant provider.
var instantProvider = map[string]string{"PAYMENT_PROVIDER_MIN_DELAY": "0", "PAYMENT_PROVIDER_MAX_DELAY": "0"}

// prepareStateDir returns the stack's state folder and what removes it.
func prepareStateDir(cfg Config) (string, func(), error) {
	if cfg.StateDir != "" {
		dir, err := filepath.Abs(cfg.StateDir)
		return dir, func() {}, err
	}
	parent := filepath.Join(cfg.Root, ".local", "bench")
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp(parent, "state-")
	if err != nil {
		return "", nil, err
	}
	// The Postgres server runs as the postgres user when we are root and
	// must reach its folder inside this one.
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", nil, err
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// newClient is the load generator's HTTP client: enough idle connections that
// a thousand long-polls, or a burst of open-loop requests, each keep theirs,
// and no more connections than the gateway takes. The generator runs in the
// stack's process, so each of its connections is one of the process's open
// files, counted in the runner's budget; a call past the bound waits here for
// a connection, and its latency counts from when it was due.
func newClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 4096
	tr.MaxIdleConnsPerHost = runner.MaxClientConns
	tr.MaxConnsPerHost = runner.MaxClientConns
	tr.DisableCompression = true
	return &http.Client{Transport: tr}
}

// settle waits until every payment has left pending and every event has
// been published, so one phase's backlog does not load the next. A create
// phase leaves tens of thousands (deliveries are paused during it), so it
// gives up only when DrainTimeout passes with no progress.
func (b *bench) settle(ctx context.Context) error {
	deadline := time.Now().Add(b.cfg.DrainTimeout)
	var last int64 = -1
	for {
		var pending, unpublished int64
		err := b.db.QueryRow(ctx, `SELECT (SELECT count(*) FROM payments WHERE state = 'pending'),
			(SELECT count(*) FROM outbox WHERE published IS NULL)`).Scan(&pending, &unpublished)
		if err != nil {
			return fmt.Errorf("settle: %w", err)
		}
		if pending == 0 && unpublished == 0 {
			return nil
		}
		if left := pending + unpublished; last < 0 || left < last {
			last, deadline = left, time.Now().Add(b.cfg.DrainTimeout)
		}
		b.progress.Status("settling: %d payments pending, %d events unpublished", pending, unpublished)
		if time.Now().After(deadline) {
			return fmt.Errorf("settle: %d payments still pending and %d events unpublished, none settled for %s", pending, unpublished, b.cfg.DrainTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// databaseURL returns the stack's database URL pointed at another database
// of the same server.
func databaseURL(url, database string) (string, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return "", fmt.Errorf("parse database url: %w", err)
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, database), nil
}

// lockedLog is the stack's log file, buffered: every call is logged, and a
// write per line would cost the machine under test more than the logging.
type lockedLog struct {
	mu   sync.Mutex
	f    *os.File
	w    *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

func openLog(path string) (*lockedLog, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	l := &lockedLog{f: f, w: bufio.NewWriterSize(f, 256<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go l.flushEvery(time.Second)
	return l, nil
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lockedLog) flushEvery(d time.Duration) {
	defer close(l.done)
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.mu.Lock()
			l.w.Flush()
			l.mu.Unlock()
		}
	}
}

func (l *lockedLog) Close() error {
	close(l.stop)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return errors.Join(l.w.Flush(), l.f.Close())
}

// snippet shortens a response body for an error message.
func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
