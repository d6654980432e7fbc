//go:build integration

package runner_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"handler/function/local/runner"
	"handler/function/local/testenv"
)

// childEnv, when set, makes the test binary a runner that starts its
// services and waits to be killed: the stale-lock test kills it with -9.
const childEnv = "RUNNER_TEST_CHILD_STATE"

// runChild is the child's whole life: Start from the settings in its
// environment, say "started", and wait.
func runChild() {
	cfg := mustChildConfig(os.Getenv(childEnv), os.Getenv)
	s, err := runner.Start(context.Background(), cfg, io.Discard)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("started", s.DatabaseURL)
	select {}
}

func mustChildConfig(state string, getenv func(string) string) runner.Config {
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	pg, _ := strconv.Atoi(getenv("RUNNER_TEST_PG_PORT"))
	var kafka []int
	for _, p := range strings.Split(getenv("RUNNER_TEST_KAFKA_PORTS"), ",") {
		n, _ := strconv.Atoi(p)
		kafka = append(kafka, n)
	}
	return runner.Config{
		Root:         root,
		StateDir:     state,
		GatewayAddr:  getenv("RUNNER_TEST_GATEWAY"),
		PostgresPort: pg,
		KafkaPorts:   kafka,
		Partitions:   1,
		RelayEvery:   time.Second,
		FunctionEnv:  map[string]string{},
	}
}

// ports is one stack's set of ports, as the environment the child reads.
type ports map[string]string

func mustPorts(t *testing.T) ports {
	t.Helper()
	return ports{
		"RUNNER_TEST_PG_PORT":     strconv.Itoa(testenv.MustFreePort(t)),
		"RUNNER_TEST_GATEWAY":     fmt.Sprintf("127.0.0.1:%d", testenv.MustFreePort(t)),
		"RUNNER_TEST_KAFKA_PORTS": fmt.Sprintf("%d,%d,%d", testenv.MustFreePort(t), testenv.MustFreePort(t), testenv.MustFreePort(t)),
	}
}

func (p ports) get(k string) string { return p[k] }

// mustStateDir is a state folder the postgres user can reach (the server
// runs as that user when the tests run as root).
func mustStateDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "payments-lock-")
	if err == nil {
		err = os.Chmod(dir, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// mustStart starts a stack's services (not its functions) and stops them at
// the end of the test.
func mustStart(t *testing.T, cfg runner.Config) *runner.Stack {
	t.Helper()
	s, err := runner.Start(context.Background(), cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func mustPing(t *testing.T, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("postgres at %s: %v", url, err)
	}
	conn.Close(ctx)
}

func TestSecondRunnerOnTheSameFolderIsRefused(t *testing.T) {
	state := mustStateDir(t)
	first := mustStart(t, mustChildConfig(state, mustPorts(t).get))

	start := time.Now()
	second, err := runner.Start(context.Background(), mustChildConfig(state, mustPorts(t).get), io.Discard)
	if err == nil {
		second.Close()
		t.Fatal("a second runner started on a folder in use")
	}
	if !errors.Is(err, runner.ErrLocked) {
		t.Fatalf("second start: %v, want ErrLocked", err)
	}
	for _, want := range []string{"pid " + strconv.Itoa(os.Getpid()), "LOCAL_STATE_DIR=", "GATEWAY_ADDR=", "LOCAL_PG_PORT=", "LOCAL_KAFKA_PORTS=", "UI_PORT="} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal does not say %q:\n%v", want, err)
		}
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the refusal took %v, want it at once", took)
	}
	// The first stack's Postgres is untouched.
	mustPing(t, first.DatabaseURL)
}

func TestStaleLockOfAKilledRunnerIsTakenOver(t *testing.T) {
	state := mustStateDir(t)
	p := mustPorts(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+state)
	for k, v := range p {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if !strings.HasPrefix(line, "started ") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the child runner did not start: %q", line)
	}
	// Killed outright: no stop sequence runs, its Postgres stays up, and
	// only the kernel releases its lock.
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	leftover := strings.TrimSpace(strings.TrimPrefix(line, "started "))
	mustPing(t, leftover)

	s := mustStart(t, mustChildConfig(state, p.get))
	mustPing(t, s.DatabaseURL)
	raw, err := os.ReadFile(filepath.Join(state, "runner.lock"))
	if err != nil || strings.TrimSpace(string(raw)) != strconv.Itoa(os.Getpid()) {
		t.Fatalf("lock file holds %q (%v), want our pid %d", raw, err, os.Getpid())
	}
}

func TestPortsInUseFailTheStartWithTheSetting(t *testing.T) {
	for _, tc := range []struct {
		name    string
		take    func(cfg runner.Config) string // the address to occupy
		setting string
	}{
		{"gateway", func(cfg runner.Config) string { return cfg.GatewayAddr }, "GATEWAY_ADDR="},
		{"postgres", func(cfg runner.Config) string { return fmt.Sprintf("127.0.0.1:%d", cfg.PostgresPort) }, "LOCAL_PG_PORT="},
		{"kafka", func(cfg runner.Config) string { return fmt.Sprintf("127.0.0.1:%d", cfg.KafkaPorts[1]) }, "LOCAL_KAFKA_PORTS="},
		{"ui", func(cfg runner.Config) string { return fmt.Sprintf("127.0.0.1:%d", cfg.UIPort) }, "UI_PORT="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := mustChildConfig(mustStateDir(t), mustPorts(t).get)
			cfg.UI, cfg.UIPort = true, testenv.MustFreePort(t)
			addr := tc.take(cfg)
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			start := time.Now()
			s, err := runner.Start(context.Background(), cfg, io.Discard)
			if err == nil {
				s.Close()
				t.Fatalf("started with %s taken", addr)
			}
			if !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), tc.setting) {
				t.Fatalf("the error names neither %s nor %s:\n%v", addr, tc.setting, err)
			}
			if took := time.Since(start); took > 20*time.Second {
				t.Errorf("failing took %v, want at once", took)
			}
			// Nothing was left holding the folder: a start after the conflict
			// is gone succeeds.
			ln.Close()
			mustStart(t, cfg)
		})
	}
}
