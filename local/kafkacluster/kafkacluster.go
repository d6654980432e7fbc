// Package kafkacluster runs a real Apache Kafka cluster on this machine
// without Docker: 1 or 3 KRaft nodes, each a broker and a controller in its
// own java process, listening on loopback ports, with its own data folder.
//
// The broker's jars come from Maven Central (org.apache.kafka:kafka_2.13 at
// Version and its runtime dependencies, see pom.xml), fetched once into a
// cache folder by mvn. Java 17 or later runs them.
//
// On three nodes every topic is replicated 3 times with
// min.insync.replicas=2, so a producer with acks=all keeps writing, and
// loses nothing it was told was written, while any one broker is down. On
// one node both are 1. Kill (kill -9) and Restart let tests and learners take
// a broker away and bring it back.
//
// The embedded kfake cluster of the local runner speaks the same protocol;
// this one is the real thing, for proving the system against it.
package kafkacluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrRunning says a broker of the cluster folder is already running.
var ErrRunning = errors.New("kafka cluster already running")

// ErrNoJava says java is missing or too old, with the fix.
var ErrNoJava = errors.New("java 17 or later is needed to run Apache Kafka " + Version + ": install it with `apt-get install openjdk-17-jre-headless` or set JAVA")

// Cluster is a cluster folder and its brokers, running or not.
type Cluster struct {
	cfg     Config
	log     *slog.Logger
	dist    Dist
	id      string
	brokers []*broker
}

// broker is one node: its folder, ports and, when this process started it,
// the channel closed when it exits.
type broker struct {
	id             int
	port           int
	controllerPort int
	dir            string

	mu     sync.Mutex
	exited chan struct{} // nil when not started by this process
}

// forget drops the exit channel and pid file of a broker that was stopped or
// killed on purpose, so that waiting for the others does not take its exit
// for a failure.
func (b *broker) forget() {
	b.mu.Lock()
	b.exited = nil
	b.mu.Unlock()
	_ = os.Remove(b.pidFile()) // a stale pid file is harmless (pid checks the process), just untidy
}

func (b *broker) propsFile() string { return filepath.Join(b.dir, "server.properties") }
func (b *broker) dataDir() string   { return filepath.Join(b.dir, "data") }
func (b *broker) logFile() string   { return filepath.Join(b.dir, "broker.log") }
func (b *broker) pidFile() string   { return filepath.Join(b.dir, "broker.pid") }

// state is cluster.json: what must stay the same for the data to be usable.
type state struct {
	ClusterID       string `json:"clusterId"`
	Version         string `json:"version"`
	Ports           []int  `json:"ports"`
	ControllerPorts []int  `json:"controllerPorts"`
}

// Start formats the cluster folder on first use and starts every broker, and
// returns once every broker answers metadata requests and the cluster lists
// them all. On failure the brokers it started are stopped.
//
// The folder keeps its topics and records between starts; a folder made for
// another number of brokers or other ports is refused (Remove it first).
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("kafka cluster config: %w", err)
	}
	if err := checkJava(ctx, cfg.Java); err != nil {
		return nil, err
	}
	dist, err := FetchDist(ctx, cfg.DistDir, cfg.Maven, cfg.Logger)
	if err != nil {
		return nil, err
	}
	st, err := loadOrCreateState(cfg)
	if err != nil {
		return nil, err
	}
	c := newCluster(cfg, dist, st)
	if running := c.runningIDs(); len(running) > 0 {
		return nil, fmt.Errorf("%w in %s: brokers %v (stop them first)", ErrRunning, cfg.Dir, running)
	}

	start := time.Now()
	if err := c.writeConfigs(); err != nil {
		return nil, err
	}
	if err := c.format(ctx); err != nil {
		return nil, err
	}
	for _, b := range c.brokers {
		if err := c.startBroker(b); err != nil {
			c.Stop()
			return nil, err
		}
	}
	wctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()
	err = c.waitServing(wctx, c.IDs()...)
	if err == nil {
		err = c.WaitBrokers(wctx, len(c.brokers))
	}
	if err != nil {
		c.Stop()
		return nil, fmt.Errorf("kafka cluster did not come up: %w", err)
	}
	c.log.Info("kafka cluster ready", "version", Version, "brokers", strings.Join(c.Brokers(), ","),
		"took_ms", time.Since(start).Milliseconds())
	return c, nil
}

// Open returns the cluster of an existing folder, running or not, to stop it,
// kill or restart a broker, or describe it. It starts nothing and fetches
// nothing. The folder's cluster.json decides
// the brokers and ports; those of cfg are ignored.
func Open(ctx context.Context, cfg Config) (*Cluster, error) {
	cfg = cfg.WithDefaults()
	st, err := readState(cfg.Dir)
	if err != nil {
		return nil, err
	}
	cfg.Brokers, cfg.Ports, cfg.ControllerPorts = len(st.Ports), st.Ports, st.ControllerPorts
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("kafka cluster in %s: %w", cfg.Dir, err)
	}
	// No jars yet: only Restart needs them, and stopping must work without
	// Maven.
	return newCluster(cfg, Dist{}, st), nil
}

// Remove stops whatever runs in the cluster folder and deletes it.
func Remove(ctx context.Context, cfg Config) error {
	c, err := Open(ctx, cfg)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	default:
		if err := c.Stop(); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(cfg.Dir); err != nil {
		return fmt.Errorf("remove kafka cluster: %w", err)
	}
	return nil
}

func newCluster(cfg Config, dist Dist, st state) *Cluster {
	c := &Cluster{cfg: cfg, log: cfg.Logger.With("component", "kafkacluster"), dist: dist, id: st.ClusterID}
	for i := range st.Ports {
		c.brokers = append(c.brokers, &broker{
			id: i + 1, port: st.Ports[i], controllerPort: st.ControllerPorts[i],
			dir: filepath.Join(cfg.Dir, fmt.Sprintf("broker-%d", i+1)),
		})
	}
	return c
}

// Brokers are the bootstrap addresses of every broker, running or not: the
// value for KAFKA_BROKERS.
func (c *Cluster) Brokers() []string {
	addrs := make([]string, len(c.brokers))
	for i, b := range c.brokers {
		addrs[i] = fmt.Sprintf("%s:%d", Host, b.port)
	}
	return addrs
}

// IDs are the brokers' node ids, 1 to n.
func (c *Cluster) IDs() []int {
	ids := make([]int, len(c.brokers))
	for i, b := range c.brokers {
		ids[i] = b.id
	}
	return ids
}

// ClusterID is the id the folder was formatted with.
func (c *Cluster) ClusterID() string { return c.id }

// Config is the cluster's configuration, with its defaults.
func (c *Cluster) Config() Config { return c.cfg }

// LogFile is broker id's log.
func (c *Cluster) LogFile(id int) string {
	if b, err := c.broker(id); err == nil {
		return b.logFile()
	}
	return ""
}

// Pid is broker id's process id, or 0 when it is not running.
func (c *Cluster) Pid(id int) int {
	b, err := c.broker(id)
	if err != nil {
		return 0
	}
	return c.pid(b)
}

// Kill kills broker id with SIGKILL, as a crash would, and returns once the
// process is gone. Its data stays; Restart brings it back.
func (c *Cluster) Kill(id int) error {
	b, err := c.broker(id)
	if err != nil {
		return err
	}
	pid := c.pid(b)
	if pid == 0 {
		return fmt.Errorf("kafka broker %d is not running", id)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill kafka broker %d (pid %d): %w", id, pid, err)
	}
	if !c.waitExit(b, pid, time.Minute) {
		return fmt.Errorf("kafka broker %d (pid %d) still running a minute after SIGKILL", id, pid)
	}
	b.forget()
	c.log.Info("kafka broker killed", "broker", id, "pid", pid)
	return nil
}

// Restart starts broker id again from its data and returns once it answers
// metadata requests as a member of the cluster. It is then catching up; WaitInSync waits until
// it is back in the in-sync replicas of its partitions.
func (c *Cluster) Restart(ctx context.Context, id int) error {
	b, err := c.broker(id)
	if err != nil {
		return err
	}
	if pid := c.pid(b); pid != 0 {
		return fmt.Errorf("kafka broker %d is running (pid %d)", id, pid)
	}
	if c.dist.Dir == "" {
		if c.dist, err = FetchDist(ctx, c.cfg.DistDir, c.cfg.Maven, c.cfg.Logger); err != nil {
			return err
		}
	}
	if err := c.writeConfigs(); err != nil {
		return err
	}
	start := time.Now()
	if err := c.startBroker(b); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, c.cfg.StartTimeout)
	defer cancel()
	if err := c.waitServing(wctx, id); err != nil {
		return fmt.Errorf("kafka broker %d did not rejoin: %w", id, err)
	}
	c.log.Info("kafka broker restarted", "broker", id, "pid", c.pid(b), "took_ms", time.Since(start).Milliseconds())
	return nil
}

// Stop shuts every running broker down: SIGTERM, so each moves its
// leaderships away and closes its logs cleanly, then SIGKILL for any still
// running after the stop timeout. Data stays.
func (c *Cluster) Stop() error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, b := range c.brokers {
		pid := c.pid(b)
		if pid == 0 {
			continue
		}
		wg.Go(func() {
			if err := c.stopBroker(b, pid); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (c *Cluster) stopBroker(b *broker, pid int) error {
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop kafka broker %d (pid %d): %w", b.id, pid, err)
	}
	if c.waitExit(b, pid, c.cfg.StopTimeout) {
		b.forget()
		c.log.Info("kafka broker stopped", "broker", b.id, "pid", pid)
		return nil
	}
	c.log.Warn("kafka broker did not stop in time; killing it", "broker", b.id, "pid", pid, "timeout_ms", c.cfg.StopTimeout.Milliseconds())
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill kafka broker %d (pid %d): %w", b.id, pid, err)
	}
	if !c.waitExit(b, pid, time.Minute) {
		return fmt.Errorf("kafka broker %d (pid %d) still running a minute after SIGKILL", b.id, pid)
	}
	b.forget()
	return nil
}

func (c *Cluster) broker(id int) (*broker, error) {
	if id < 1 || id > len(c.brokers) {
		return nil, fmt.Errorf("no kafka broker %d (the cluster has %d)", id, len(c.brokers))
	}
	return c.brokers[id-1], nil
}

// pid returns the broker's process id from its pid file, or 0 when that
// process is not running.
func (c *Cluster) pid(b *broker) int {
	raw, err := os.ReadFile(b.pidFile())
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || !isBroker(pid, b.propsFile()) {
		return 0
	}
	return pid
}

func (c *Cluster) runningIDs() []int {
	var ids []int
	for _, b := range c.brokers {
		if c.pid(b) != 0 {
			ids = append(ids, b.id)
		}
	}
	return ids
}

// waitExit waits until process pid of b has exited, and reaps it when this
// process started it.
func (c *Cluster) waitExit(b *broker, pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for isBroker(pid, b.propsFile()) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.mu.Lock()
	exited := b.exited
	b.mu.Unlock()
	if exited != nil {
		select {
		case <-exited:
		case <-time.After(time.Until(deadline) + time.Second):
			return false
		}
	}
	return true
}

// writeConfigs writes cluster.json, log4j2.properties and each broker's
// server.properties: the settings follow this code, not what a folder kept.
func (c *Cluster) writeConfigs() error {
	if err := os.WriteFile(filepath.Join(c.cfg.Dir, "log4j2.properties"), []byte(log4jProperties), 0o644); err != nil {
		return fmt.Errorf("kafka cluster: %w", err)
	}
	for _, b := range c.brokers {
		if err := os.MkdirAll(b.dir, 0o755); err != nil {
			return fmt.Errorf("kafka cluster: %w", err)
		}
		if err := os.WriteFile(b.propsFile(), []byte(serverProperties(c.cfg, b.id, b.dataDir())), 0o644); err != nil {
			return fmt.Errorf("kafka cluster: %w", err)
		}
	}
	return nil
}

// format prepares the data folders that have not been formatted yet, all at
// once: each run of the storage tool is a JVM start.
func (c *Cluster) format(ctx context.Context) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, b := range c.brokers {
		if _, err := os.Stat(filepath.Join(b.dataDir(), "meta.properties")); err == nil {
			continue
		}
		wg.Go(func() {
			args := append(c.jvmArgs("128m", "warn"), "kafka.tools.StorageTool", "format",
				"--cluster-id", c.id, "--config", b.propsFile(), "--ignore-formatted")
			out, err := exec.CommandContext(ctx, c.cfg.Java, args...).CombinedOutput()
			if err == nil {
				err = appendFile(b.logFile(), out)
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("format kafka broker %d: %w\n%s", b.id, err, bytes.TrimSpace(out)))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// jvmArgs are the java options shared by the brokers and the storage tool.
func (c *Cluster) jvmArgs(heap, logLevel string) []string {
	return []string{
		"-Xms64m", "-Xmx" + heap,
		// One GC thread, no concurrent phases: a small heap on a shared
		// machine does not need G1's parallelism.
		"-XX:+UseSerialGC",
		"-XX:+ExitOnOutOfMemoryError",
		"-Djava.awt.headless=true",
		"-Dlog4j2.configurationFile=" + filepath.Join(c.cfg.Dir, "log4j2.properties"),
		"-Dkafka.log.level=" + logLevel,
		"-cp", c.dist.Classpath(),
	}
}

// startBroker starts b's process with its output appended to broker.log and
// records its pid.
func (c *Cluster) startBroker(b *broker) error {
	logf, err := os.OpenFile(b.logFile(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("kafka broker %d log: %w", b.id, err)
	}
	defer logf.Close() // the child has its own copy
	fmt.Fprintf(logf, "\n=== kafkacluster: starting broker %d at %s ===\n", b.id, time.Now().UTC().Format(time.RFC3339))

	args := append(c.jvmArgs(c.cfg.Heap, "info"), "kafka.Kafka", b.propsFile())
	cmd := exec.Command(c.cfg.Java, args...)
	cmd.Dir = b.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = sysProcAttr(c.cfg.Detach)

	exited := make(chan struct{})
	started := make(chan error, 1)
	go func() {
		defer close(exited)
		// Pdeathsig fires when the thread that started the child ends, not
		// the process: keep this goroutine on its thread while the broker
		// runs, so that the Go runtime never retires that thread under it.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait() // the exit status is in broker.log; Kill expects a non-zero one
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("start kafka broker %d: %w", b.id, err)
	}
	b.mu.Lock()
	b.exited = exited
	b.mu.Unlock()
	if err := os.WriteFile(b.pidFile(), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		_ = cmd.Process.Kill()
		return fmt.Errorf("kafka broker %d pid file: %w", b.id, err)
	}
	c.log.Info("kafka broker starting", "broker", b.id, "pid", cmd.Process.Pid, "port", b.port, "log", b.logFile())
	return nil
}

// exitedEarly returns an error for the first broker this process started
// that has exited without being stopped or killed, with the end of its log.
func (c *Cluster) exitedEarly() error {
	for _, b := range c.brokers {
		b.mu.Lock()
		exited := b.exited
		b.mu.Unlock()
		if exited == nil {
			continue
		}
		select {
		case <-exited:
			return fmt.Errorf("kafka broker %d exited (log %s):\n%s", b.id, b.logFile(), logErrors(b.logFile(), 6))
		default:
		}
	}
	return nil
}

func loadOrCreateState(cfg Config) (state, error) {
	st, err := readState(cfg.Dir)
	switch {
	case err == nil:
		if !slices.Equal(st.Ports, cfg.Ports) || !slices.Equal(st.ControllerPorts, cfg.ControllerPorts) {
			return st, fmt.Errorf("%s holds a %d-broker cluster on ports %v (controllers %v), not %d brokers on %v (%v): "+
				"start it as it was, or start afresh with -reset (make kafka-cluster RESET=1), which deletes its data",
				cfg.Dir, len(st.Ports), st.Ports, st.ControllerPorts, cfg.Brokers, cfg.Ports, cfg.ControllerPorts)
		}
		return st, nil
	case !errors.Is(err, fs.ErrNotExist):
		return st, err
	}
	id, err := newClusterID()
	if err != nil {
		return st, err
	}
	st = state{ClusterID: id, Version: Version, Ports: cfg.Ports, ControllerPorts: cfg.ControllerPorts}
	raw, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return st, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return st, fmt.Errorf("kafka cluster: %w", err)
	}
	if err := os.WriteFile(filepath.Join(cfg.Dir, "cluster.json"), append(raw, '\n'), 0o644); err != nil {
		return st, fmt.Errorf("kafka cluster: %w", err)
	}
	return st, nil
}

func readState(dir string) (state, error) {
	var st state
	raw, err := os.ReadFile(filepath.Join(dir, "cluster.json"))
	if err != nil {
		return st, fmt.Errorf("kafka cluster in %s: %w", dir, err)
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return st, fmt.Errorf("kafka cluster in %s: cluster.json: %w", dir, err)
	}
	if st.ClusterID == "" || len(st.Ports) == 0 || len(st.Ports) != len(st.ControllerPorts) {
		return st, fmt.Errorf("kafka cluster in %s: cluster.json is incomplete", dir)
	}
	return st, nil
}

// newClusterID makes a cluster id as Kafka's Uuid.randomUuid does: 16 random
// bytes in URL-safe base64 without padding, never starting with '-' (which
// a command line would take for an option).
func newClusterID() (string, error) {
	for {
		var raw [16]byte
		if _, err := rand.Read(raw[:]); err != nil {
			return "", fmt.Errorf("cluster id: %w", err)
		}
		if id := base64.RawURLEncoding.EncodeToString(raw[:]); id[0] != '-' {
			return id, nil
		}
	}
}

var javaVersion = regexp.MustCompile(`version "(1\.)?(\d+)`)

// checkJava fails with ErrNoJava unless java runs and is version 17 or later,
// which Kafka 4 brokers require.
func checkJava(ctx context.Context, java string) error {
	path, err := exec.LookPath(java)
	if err != nil {
		return ErrNoJava
	}
	out, err := exec.CommandContext(ctx, path, "-version").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w (%s -version: %v)", ErrNoJava, path, err)
	}
	m := javaVersion.FindSubmatch(out)
	if m == nil {
		return fmt.Errorf("%w (cannot read the version of %s: %q)", ErrNoJava, path, bytes.TrimSpace(out))
	}
	if major, _ := strconv.Atoi(string(m[2])); major < 17 {
		return fmt.Errorf("%w (%s is Java %d)", ErrNoJava, path, major)
	}
	return nil
}

func appendFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// logErrors returns the last n error lines of a broker log (ERROR lines and
// their causes), or its last n lines when it has none, for error messages: a
// broker that fails to start ends its log with a stack trace and a shutdown,
// and the reason is further up.
func logErrors(path string, n int) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	var errs []string
	for _, l := range lines {
		if strings.Contains(l, " ERROR ") || strings.HasPrefix(l, "Caused by:") {
			errs = append(errs, l)
		}
	}
	if len(errs) > 0 {
		lines = errs
	}
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
