// Command kafka-cluster runs a real Apache Kafka cluster (KRaft, 1 or 3
// brokers on loopback ports) in the background for the local stack and its
// experiments (docs/experiments.md):
//
//	kafka-cluster start [-brokers 3] [-reset]  start, wait until ready, print KAFKA_BROKERS, return
//	kafka-cluster stop                         stop every broker (make kafka-cluster-stop)
//	kafka-cluster kill ID                      kill -9 broker ID
//	kafka-cluster restart ID                   start broker ID again, wait until it is back in sync
//	kafka-cluster status                       brokers, pids, every partition's leader and ISR, consumer groups
//
// The brokers run detached: they keep running after this command returns,
// until `kafka-cluster stop`. Data stays in the cluster folder between
// starts; -reset deletes it first.
//
// Settings from the environment: KAFKA_CLUSTER_DIR (default
// .local/kafka-cluster), KAFKA_DIST_DIR (the jar cache, default
// .local/kafka-dist), KAFKA_CLUSTER_PORT (the first client port, default
// 29092; controllers listen 100 higher), KAFKA_HEAP (default 256m), JAVA and
// MVN (the commands to run).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"handler/function/local/kafkacluster"
	"handler/function/local/stack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "kafka-cluster:", err)
		os.Exit(1)
	}
}

const usage = "usage: kafka-cluster start [-brokers 1|3] [-reset] | stop | kill ID | restart ID | status"

func run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	cfg, err := configFromEnv()
	if err != nil {
		return err
	}
	switch args[0] {
	case "start":
		return start(ctx, cfg, args[1:], out)
	case "stop":
		c, err := kafkacluster.Open(ctx, cfg)
		if errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(out, "no kafka cluster in %s\n", cfg.Dir)
			return nil
		}
		if err != nil {
			return err
		}
		return c.Stop()
	case "kill", "restart":
		if len(args) != 2 {
			return errors.New(usage)
		}
		id, err := strconv.Atoi(args[1])
		if err != nil {
			return fmt.Errorf("broker id %q: %w", args[1], err)
		}
		c, err := kafkacluster.Open(ctx, cfg)
		if err != nil {
			return err
		}
		if args[0] == "kill" {
			return c.Kill(id)
		}
		if err := c.Restart(ctx, id); err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
		defer cancel()
		n, err := c.WaitInSync(wctx, id)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "broker %d is back and in sync on all %d of its partitions\n", id, n)
		return nil
	case "status":
		c, err := kafkacluster.Open(ctx, cfg)
		if err != nil {
			return err
		}
		return status(ctx, c, out)
	default:
		return fmt.Errorf("unknown command %q; %s", args[0], usage)
	}
}

func start(ctx context.Context, cfg kafkacluster.Config, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("start", flag.ContinueOnError)
	brokers := fs.Int("brokers", 3, "number of brokers: 1 or 3")
	reset := fs.Bool("reset", false, "delete the cluster folder (topics, records, offsets) first")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.Brokers = *brokers
	cfg.Ports = portRange(cfg.Ports[0], *brokers)
	cfg.ControllerPorts = portRange(cfg.ControllerPorts[0], *brokers)
	if *reset {
		if err := kafkacluster.Remove(ctx, cfg); err != nil {
			return err
		}
	}
	began := time.Now()
	c, err := kafkacluster.Start(ctx, cfg)
	if errors.Is(err, kafkacluster.ErrRunning) {
		// Starting twice is not an error when the running cluster is the
		// one asked for: print it again.
		if c, openErr := kafkacluster.Open(ctx, cfg); openErr == nil && len(c.IDs()) == *brokers && allRunning(c) {
			fmt.Fprintln(out, "already running")
			return printCluster(c, out)
		}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Apache Kafka %s: %d KRaft broker(s) ready in %s\n", kafkacluster.Version, len(c.IDs()), time.Since(began).Round(100*time.Millisecond))
	return printCluster(c, out)
}

func printCluster(c *kafkacluster.Cluster, out io.Writer) error {
	addrs := c.Brokers()
	for i, id := range c.IDs() {
		fmt.Fprintf(out, "  broker %d  %s  pid %d  log %s\n", id, addrs[i], c.Pid(id), c.LogFile(id))
	}
	cfg := c.Config()
	fmt.Fprintf(out, "  replication %d, min.insync.replicas %d\n\n", cfg.ReplicationFactor(), cfg.MinInsyncReplicas())
	fmt.Fprintf(out, "KAFKA_BROKERS=%s\n\n", strings.Join(addrs, ","))
	fmt.Fprintf(out, "Use it:  make run KAFKA_BROKERS=%s\nStop it: make kafka-cluster-stop\n", strings.Join(addrs, ","))
	return nil
}

func allRunning(c *kafkacluster.Cluster) bool {
	for _, id := range c.IDs() {
		if c.Pid(id) == 0 {
			return false
		}
	}
	return true
}

func status(ctx context.Context, c *kafkacluster.Cluster, out io.Writer) error {
	addrs := c.Brokers()
	running := 0
	for i, id := range c.IDs() {
		state := "not running"
		if pid := c.Pid(id); pid != 0 {
			state = fmt.Sprintf("pid %d", pid)
			running++
		}
		fmt.Fprintf(out, "broker %d  %s  %s\n", id, addrs[i], state)
	}
	if running == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	return kafkacluster.WriteStatus(ctx, out, addrs)
}

// configFromEnv reads the settings once, with the cluster and the jar cache
// under the project's .local folder.
func configFromEnv() (kafkacluster.Config, error) {
	root, err := stack.FindRoot()
	if err != nil {
		return kafkacluster.Config{}, err
	}
	port := kafkacluster.DefaultPort
	if v := os.Getenv("KAFKA_CLUSTER_PORT"); v != "" {
		if port, err = strconv.Atoi(v); err != nil {
			return kafkacluster.Config{}, fmt.Errorf("KAFKA_CLUSTER_PORT: %w", err)
		}
	}
	cfg := kafkacluster.Config{
		Dir:             env("KAFKA_CLUSTER_DIR", filepath.Join(root, ".local", "kafka-cluster")),
		DistDir:         env("KAFKA_DIST_DIR", filepath.Join(root, ".local", "kafka-dist")),
		Brokers:         3,
		Ports:           portRange(port, 3),
		ControllerPorts: portRange(port+100, 3),
		Heap:            os.Getenv("KAFKA_HEAP"),
		Java:            os.Getenv("JAVA"),
		Maven:           os.Getenv("MVN"),
		Detach:          true,
		Logger:          slog.New(slog.NewTextHandler(os.Stderr, nil)),
	}.WithDefaults()
	return cfg, cfg.Validate()
}

func portRange(first, n int) []int {
	ports := make([]int, n)
	for i := range ports {
		ports[i] = first + i
	}
	return ports
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
