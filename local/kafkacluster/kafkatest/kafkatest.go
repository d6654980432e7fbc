// Package kafkatest starts real Apache Kafka clusters (package kafkacluster)
// for tests: in a throwaway folder, on free loopback ports, stopped when the
// test ends. The jars are cached in the project's .local/kafka-dist (or
// KAFKA_DIST_DIR), so Maven fetches them once per machine.
//
// Java 17 and Maven are needed; without them the test fails, it is not
// skipped.
package kafkatest

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"handler/function/local/kafkacluster"
)

// MustCluster starts a cluster of n brokers (1 or 3) and stops it, every
// broker, when the test ends, also when it fails. The brokers log to their
// folder; a failed start puts the end of the log in the failure.
func MustCluster(tb testing.TB, n int) *kafkacluster.Cluster {
	tb.Helper()
	dist, err := distDir()
	if err != nil {
		tb.Fatal(err)
	}
	cfg := kafkacluster.Config{
		Dir:     tb.TempDir(),
		DistDir: dist,
		Brokers: n,
		Logger:  slog.New(slog.NewTextHandler(tbWriter{tb}, nil)),
	}
	for range n {
		cfg.Ports = append(cfg.Ports, MustFreePort(tb))
		cfg.ControllerPorts = append(cfg.ControllerPorts, MustFreePort(tb))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // a first Maven fetch included
	defer cancel()
	start := time.Now()
	c, err := kafkacluster.Start(ctx, cfg)
	if err != nil {
		tb.Fatalf("start a %d-broker Kafka cluster: %v", n, err)
	}
	// Registered after TempDir's own cleanup, so it runs before the folder goes.
	tb.Cleanup(func() {
		if err := c.Stop(); err != nil {
			tb.Errorf("stop the Kafka cluster: %v", err)
		}
		for _, id := range c.IDs() {
			if pid := c.Pid(id); pid != 0 {
				tb.Errorf("Kafka broker %d (pid %d) still running after Stop", id, pid)
			}
		}
	})
	tb.Logf("Apache Kafka %s: %d broker(s) up in %s at %v", kafkacluster.Version, n, time.Since(start).Round(100*time.Millisecond), c.Brokers())
	return c
}

// MustFreePort returns a loopback TCP port that was free a moment ago.
func MustFreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// distDir is KAFKA_DIST_DIR, or .local/kafka-dist in the project folder (the
// one holding stack.yml above the working directory).
func distDir() (string, error) {
	if d := os.Getenv("KAFKA_DIST_DIR"); d != "" {
		return d, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "stack.yml")); err == nil {
			return filepath.Join(dir, ".local", "kafka-dist"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("kafkatest: stack.yml not found above the working directory; set KAFKA_DIST_DIR")
		}
		dir = parent
	}
}

// tbWriter sends the cluster's progress lines to the test log.
type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}
