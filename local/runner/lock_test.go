package runner

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"handler/function/local/scaler"
	"handler/function/local/stack"
)

func TestLockStateRefusesASecondHolderUntilReleased(t *testing.T) {
	dir := t.TempDir()
	first, err := lockState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !Running(dir) {
		t.Fatal("Running is false while the lock is held")
	}
	if _, err := lockState(dir); !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock: %v, want ErrLocked", err)
	}
	first.unlock()
	if Running(dir) {
		t.Fatal("Running is true after the lock was released")
	}
	second, err := lockState(dir)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	second.unlock()
}

// MustRunningStack makes root/.local look like a running stack's folder: its
// lock held and its state file written.
func MustRunningStack(tb testing.TB, root string, vars [][2]string) {
	tb.Helper()
	dir := filepath.Join(root, ".local")
	l, err := lockState(dir)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(l.unlock)
	if err := writeState(dir, vars); err != nil {
		tb.Fatal(err)
	}
}

func TestAReplicaSharesTheRunningStacksKafka(t *testing.T) {
	root := t.TempDir()
	MustRunningStack(t, root, [][2]string{
		{"KAFKA_BROKERS", "127.0.0.1:19092,127.0.0.1:19093"},
		{"DATABASE_URL", "postgres://postgres@127.0.0.1:15432/payments?sslmode=disable"},
	})
	state, err := ReadState(filepath.Join(root, ".local"))
	if err != nil || state["KAFKA_BROKERS"] != "127.0.0.1:19092,127.0.0.1:19093" {
		t.Fatalf("ReadState: %v, %v", state, err)
	}
	replica := func(db string) *Stack {
		return &Stack{log: slog.New(slog.NewTextHandler(io.Discard, nil)),
			cfg: Config{Root: root, StateDir: filepath.Join(root, ".local", "replica-2"), DatabaseURL: db}}
	}
	if got := replica("postgres://postgres@localhost:15432/payments").sharedBrokers(); strings.Join(got, ",") != "127.0.0.1:19092,127.0.0.1:19093" {
		t.Fatalf("a replica on the same database got brokers %v", got)
	}
	if got := replica("postgres://postgres@127.0.0.1:5432/other").sharedBrokers(); got != nil {
		t.Fatalf("a stack on another database got the running stack's brokers %v", got)
	}
	main := replica("postgres://postgres@127.0.0.1:15432/payments")
	main.cfg.StateDir = filepath.Join(root, ".local")
	if got := main.sharedBrokers(); got != nil {
		t.Fatalf("the stack itself got brokers %v", got)
	}
}

func TestNoStateWithoutARunner(t *testing.T) {
	dir := t.TempDir()
	if err := writeState(dir, [][2]string{{"KAFKA_BROKERS", "127.0.0.1:1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadState(dir); err == nil {
		t.Fatal("a state file without a runner holding the folder was read as a running stack")
	}
}

func TestUIStartErrorNamesThePortAndTheSetting(t *testing.T) {
	out := "ui | Error: listen EADDRINUSE: address already in use 127.0.0.1:4000"
	err := uiStartError(4000, errors.New("exit status 1"), out)
	for _, want := range []string{"4000", "UI_PORT="} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v does not say %q", err, want)
		}
	}
	if err := uiStartError(4000, errors.New("exit status 1"), "something else"); !strings.Contains(err.Error(), "something else") {
		t.Errorf("%v does not carry the UI's output", err)
	}
}

func TestAFunctionThatCannotStartFailsTheStartAtOnce(t *testing.T) {
	script := filepath.Join(t.TempDir(), "broken")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho 'config: PAYMENTS_TOPIC is required' >&2\nexit 2\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	sc, err := scaler.New([]stack.Function{{Name: "broken"}}, func(fn stack.Function) scaler.Process {
		return &process{name: fn.Name, binary: script, out: io.Discard}
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	sc.Start()
	defer sc.Stop()
	s := &Stack{scaler: sc}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	err = s.waitFunctions(ctx)
	if err == nil || !strings.Contains(err.Error(), "PAYMENTS_TOPIC is required") {
		t.Fatalf("waitFunctions: %v, want the function's own message", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("failing took %v, want at once (not the minute's wait)", took)
	}
}

func TestAPortConflictWithTheRunningStackSaysHowToStartAReplica(t *testing.T) {
	root := t.TempDir()
	MustRunningStack(t, root, [][2]string{{"KAFKA_BROKERS", "127.0.0.1:19092"}})
	s := &Stack{cfg: Config{Root: root, StateDir: filepath.Join(root, ".local", "replica-2")}}
	conflict := portError("postgres", "127.0.0.1:15432", "LOCAL_PG_PORT=<free port>", errors.New("bind: address already in use"))
	if err := s.replicaHint(conflict); !strings.Contains(err.Error(), "stack.env") || !strings.Contains(err.Error(), "LOCAL_PG_PORT") {
		t.Fatalf("%v: want the port's setting and how to make a replica", err)
	}
	s.cfg.DatabaseURL = "postgres://postgres@127.0.0.1:15432/payments"
	if err := s.replicaHint(conflict); strings.Contains(err.Error(), "stack.env") {
		t.Fatalf("%v: a runner given DATABASE_URL is told to source stack.env", err)
	}
}

func TestAReplicaSharesTheRunningStacksKeys(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	primary := &Stack{log: log, cfg: Config{StateDir: t.TempDir()}}
	from, err := primary.writeSecrets()
	if err != nil {
		t.Fatal(err)
	}
	replica := &Stack{log: log, cfg: Config{StateDir: t.TempDir(), SecretsFrom: from}}
	dir, err := replica.writeSecrets()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"payments-api-key", "payments-event-key"} {
		want, _ := os.ReadFile(filepath.Join(from, name))
		got, _ := os.ReadFile(filepath.Join(dir, name))
		if len(want) == 0 || string(got) != string(want) {
			t.Errorf("%s: the replica has %q, the stack %q", name, got, want)
		}
	}
	if primary.AdminPassword == replica.AdminPassword {
		t.Error("the replica's gateway shares the admin password; each gateway has its own")
	}
	// Its own folder named (a terminal that sourced its own stack.env): nothing to copy.
	again := &Stack{log: log, cfg: Config{StateDir: primary.cfg.StateDir, SecretsFrom: from}}
	if _, err := again.writeSecrets(); err != nil {
		t.Fatal(err)
	}
}
