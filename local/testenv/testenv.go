// Package testenv gives integration tests real dependencies: a private
// PostgreSQL cluster started from the installed server binaries, and an
// in-process Kafka-protocol cluster (kfake). Nothing is mocked and nothing is
// skipped: a missing dependency fails the test.
package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"handler/function/db"
	"handler/function/functions/pkg/postgres"
	"handler/function/local/pgcluster"
)

const templateDB = "payments_template"

var (
	mu      sync.Mutex
	cluster *pgcluster.Cluster
	dir     string
	dbSeq   atomic.Int64
)

// Run runs the tests of a package and stops the cluster afterwards. Call it
// from TestMain: os.Exit(testenv.Run(m)).
func Run(m *testing.M) int {
	code := m.Run()
	mu.Lock()
	defer mu.Unlock()
	if cluster != nil {
		if err := cluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "testenv: stop postgres:", err)
		}
		os.RemoveAll(dir)
	}
	return code
}

// MustPostgres returns the package's cluster, starting it (and migrating a
// template database) on first use.
func MustPostgres(tb testing.TB) *pgcluster.Cluster {
	tb.Helper()
	mu.Lock()
	defer mu.Unlock()
	if cluster != nil {
		return cluster
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var err error
	// Not t.TempDir: the server runs as the postgres user, which must reach it.
	dir, err = os.MkdirTemp("", "payments-pg-")
	if err == nil {
		err = os.Chmod(dir, 0o755)
	}
	if err != nil {
		tb.Fatalf("temp dir for postgres: %v", err)
	}
	c, err := pgcluster.Start(ctx, pgcluster.Options{Dir: dir, Port: MustFreePort(tb)})
	if err != nil {
		os.RemoveAll(dir)
		tb.Fatalf("start postgres: %v", err)
	}
	if err := c.CreateDatabase(ctx, templateDB, ""); err != nil {
		tb.Fatal(err)
	}
	if _, err := db.Migrate(ctx, c.URL(templateDB)); err != nil {
		tb.Fatalf("migrate: %v", err)
	}
	cluster = c
	return c
}

// MustDatabase returns the URL of a new, migrated, empty database.
func MustDatabase(tb testing.TB) string {
	tb.Helper()
	c := MustPostgres(tb)
	name := fmt.Sprintf("t%d_%d_%s", os.Getpid(), dbSeq.Add(1), sanitize(tb.Name()))
	if len(name) > 60 {
		name = name[:60]
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.CreateDatabase(ctx, name, templateDB); err != nil {
		tb.Fatal(err)
	}
	return c.URL(name)
}

// MustStore opens a Postgres store configured by cfg (cfg.URL from
// MustDatabase) and closes it when the test ends.
func MustStore(tb testing.TB, cfg postgres.Config) *postgres.Store {
	tb.Helper()
	s, err := postgres.Open(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	return s
}

// MustDatabaseEnv points DATABASE_URL, which a function's configuration reads,
// at a new migrated database, and returns a store on it.
func MustDatabaseEnv(tb testing.TB) *postgres.Store {
	tb.Helper()
	url := MustDatabase(tb)
	tb.Setenv("DATABASE_URL", url)
	return MustStore(tb, postgres.Config{URL: url})
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			return r
		}
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return '_'
	}, s)
}

// MustKafka starts an in-process 3-broker Kafka-protocol cluster with the given
// topics (3 partitions each) and returns its bootstrap addresses. It stops
// when the test ends.
func MustKafka(tb testing.TB, topics ...string) (*kfake.Cluster, []string) {
	tb.Helper()
	opts := []kfake.Opt{kfake.NumBrokers(3), kfake.AllowAutoTopicCreation()}
	if len(topics) > 0 {
		opts = append(opts, kfake.SeedTopics(3, topics...))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		tb.Fatalf("start kfake: %v", err)
	}
	tb.Cleanup(c.Close)
	return c, c.ListenAddrs()
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

// MustFreezePostgres stalls the package's Postgres cluster as a hung server or
// a network that drops every packet would: SIGSTOP to the postmaster, then to
// every process it started. Open connections stay open and new ones are
// accepted by the kernel, but nothing answers. It returns thaw (SIGCONT),
// which the test's cleanup also runs, so a failing test never leaves the
// cluster frozen.
func MustFreezePostgres(tb testing.TB) (thaw func()) {
	tb.Helper()
	postmaster := mustPostmaster(tb)
	var stopped []int
	var once sync.Once
	thaw = func() {
		once.Do(func() {
			for _, pid := range stopped {
				if err := syscall.Kill(pid, syscall.SIGCONT); err != nil && !errors.Is(err, syscall.ESRCH) {
					tb.Errorf("thaw postgres process %d: %v", pid, err)
				}
			}
		})
	}
	tb.Cleanup(thaw)
	// The postmaster first, so that it starts no process after the children are listed.
	if err := syscall.Kill(postmaster, syscall.SIGSTOP); err != nil {
		tb.Fatalf("freeze the postmaster: %v", err)
	}
	stopped = append(stopped, postmaster)
	children, err := childrenOf(postmaster)
	if err != nil {
		tb.Fatalf("list postgres processes: %v", err)
	}
	for _, pid := range children {
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil && !errors.Is(err, syscall.ESRCH) {
			tb.Fatalf("freeze postgres process %d: %v", pid, err)
		}
		stopped = append(stopped, pid)
	}
	return thaw
}

// mustPostmaster starts the package's Postgres cluster if needed and returns
// its postmaster's pid.
func mustPostmaster(tb testing.TB) int {
	tb.Helper()
	MustPostgres(tb)
	mu.Lock()
	pidFile := filepath.Join(dir, "data", "postmaster.pid")
	mu.Unlock()
	raw, err := os.ReadFile(pidFile)
	if err != nil {
		tb.Fatalf("postmaster pid: %v", err)
	}
	first, _, _ := strings.Cut(string(raw), "\n")
	postmaster, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		tb.Fatalf("postmaster.pid: %v", err)
	}
	return postmaster
}

// MustPostgresCPU returns the CPU time the package's Postgres server has used
// so far: the postmaster, its living children (backends included), and the
// children it has reaped. Benchmarks report the difference per operation.
func MustPostgresCPU(tb testing.TB) time.Duration {
	tb.Helper()
	postmaster := mustPostmaster(tb)
	children, err := childrenOf(postmaster)
	if err != nil {
		tb.Fatalf("list postgres processes: %v", err)
	}
	var ticks uint64
	for i, pid := range append([]int{postmaster}, children...) {
		stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
		if err != nil {
			continue // gone meanwhile: its time is now the postmaster's cutime
		}
		// Fields after "(comm)": state is field 3, utime..cstime are 14–17.
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		last := 15 // utime and stime
		if i == 0 {
			last = 17 // and, for the postmaster, its reaped children's
		}
		for k := 14; k <= last && k-3 < len(f); k++ {
			n, _ := strconv.ParseUint(f[k-3], 10, 64)
			ticks += n
		}
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
}

// childrenOf lists the processes whose parent is pid, from /proc.
func childrenOf(pid int) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []int
	for _, entry := range entries {
		child, err := strconv.Atoi(entry.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", entry.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid …; comm may hold spaces and parentheses.
		_, rest, ok := strings.Cut(string(stat[bytes.LastIndexByte(stat, ')')+1:]), " ")
		fields := strings.Fields(rest)
		if ok && len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out, nil
}

// WaitLimit bounds a test's wait for something to happen: generous, because
// the machine is small and shared. Tests never assert how long anything took.
const WaitLimit = 60 * time.Second

// MustEventually polls cond until it holds, failing the test after WaitLimit.
func MustEventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(WaitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
