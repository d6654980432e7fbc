package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunRefusesBadUsage(t *testing.T) {
	t.Setenv("KAFKA_CLUSTER_DIR", t.TempDir())
	t.Setenv("KAFKA_DIST_DIR", t.TempDir())
	for _, args := range [][]string{nil, {"explode"}, {"kill"}, {"kill", "two"}, {"start", "-brokers", "2"}} {
		var out bytes.Buffer
		if err := run(context.Background(), args, &out); err == nil {
			t.Errorf("run(%q) succeeded, want an error", args)
		}
	}
}

func TestStopWithoutCluster(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "never-started")
	t.Setenv("KAFKA_CLUSTER_DIR", dir)
	t.Setenv("KAFKA_DIST_DIR", t.TempDir())
	var out bytes.Buffer
	if err := run(context.Background(), []string{"stop"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "no kafka cluster in "+dir) {
		t.Fatalf("stop printed %q", out.String())
	}
}

func TestConfigFromEnv(t *testing.T) {
	t.Setenv("KAFKA_CLUSTER_DIR", "/tmp/c")
	t.Setenv("KAFKA_DIST_DIR", "/tmp/d")
	t.Setenv("KAFKA_CLUSTER_PORT", "40000")
	t.Setenv("KAFKA_HEAP", "300m")
	cfg, err := configFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Dir != "/tmp/c" || cfg.DistDir != "/tmp/d" || cfg.Ports[0] != 40000 || cfg.ControllerPorts[0] != 40100 || cfg.Heap != "300m" || !cfg.Detach {
		t.Fatalf("config %+v", cfg)
	}
	t.Setenv("KAFKA_CLUSTER_PORT", "many")
	if _, err := configFromEnv(); err == nil {
		t.Fatal("KAFKA_CLUSTER_PORT=many accepted")
	}
}
