// Package pgcluster runs a private PostgreSQL cluster from the server binaries
// installed on the machine: for the local runner (kept in .local/ between runs)
// and for integration tests (a throwaway folder). No Docker, no system service.
package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoServer says the server binaries are missing, with the fix.
var ErrNoServer = errors.New("PostgreSQL server binaries (initdb, pg_ctl) not found: install them with `apt-get install postgresql` (Debian/Ubuntu) or set PG_BINDIR")

// Options say where the cluster lives.
type Options struct {
	// Dir holds the data folder; it survives Stop, so data survives restarts.
	Dir string
	// Port is the TCP port on 127.0.0.1.
	Port int
	// BinDir holds initdb and pg_ctl; empty means PG_BINDIR or the newest
	// /usr/lib/postgresql/*/bin, then PATH.
	BinDir string
	// Durable keeps fsync on. Tests turn it off: their data is thrown away.
	Durable bool
	// TakeOver stops a server found running on Dir's data before starting
	// ours. Set it only when that server's owner is known to be gone (the
	// local runner holds its state folder's lock, so a server there was left
	// by a runner that died); otherwise Start refuses to touch it.
	TakeOver bool
}

// ErrPortInUse says another program listens on the cluster's port.
var ErrPortInUse = errors.New("the port is in use by another program")

// Cluster is a running private cluster.
type Cluster struct {
	opts    Options
	bin     string
	runAs   string // "postgres" when we are root: initdb refuses to run as root
	logFile string
}

// Start initialises the cluster if Dir has none yet, and starts it.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	bin, err := findBinDir(opts.BinDir)
	if err != nil {
		return nil, err
	}
	c := &Cluster{opts: opts, bin: bin, logFile: filepath.Join(opts.Dir, "postgres.log")}
	if os.Geteuid() == 0 {
		c.runAs = "postgres"
		if _, err := user.Lookup(c.runAs); err != nil {
			return nil, fmt.Errorf("running as root needs the postgres user to run the server: %w", err)
		}
	}
	data := c.dataDir()
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := c.initdb(ctx); err != nil {
			return nil, err
		}
	}
	// A server left running by a runner that was killed outright would make
	// start fail; stop it first (its data is kept) so it starts with our
	// options, but only when the caller knows its owner is gone.
	if c.pgctl(ctx, "status") == nil {
		if !opts.TakeOver {
			return nil, fmt.Errorf("a postgres server already runs on %s, started by another program", opts.Dir)
		}
		if err := c.pgctl(ctx, "stop", "-w", "-m", "fast"); err != nil {
			return nil, fmt.Errorf("stop the postgres left running in %s: %w", opts.Dir, err)
		}
	}
	// pg_ctl would only say "could not start server" and leave the reason
	// in the log; a taken port is the usual one, so look first.
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", opts.Port))
	if err != nil {
		return nil, fmt.Errorf("postgres port %d: %w (%v)", opts.Port, ErrPortInUse, err)
	}
	ln.Close()
	if err := c.pgctl(ctx, "start", "-w", "-t", "60", "-l", c.logFile, "-o", c.serverOptions()); err != nil {
		return nil, fmt.Errorf("start postgres (log: %s): %w", c.logFile, err)
	}
	if err := c.waitReady(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Cluster) dataDir() string { return filepath.Join(c.opts.Dir, "data") }

func (c *Cluster) serverOptions() string {
	o := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -k %s -c max_connections=300", c.opts.Port, c.opts.Dir)
	if !c.opts.Durable {
		o += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
	}
	return o
}

func (c *Cluster) initdb(ctx context.Context) error {
	if err := os.MkdirAll(c.opts.Dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", c.opts.Dir, err)
	}
	if c.runAs != "" {
		if err := chownToUser(c.opts.Dir, c.runAs); err != nil {
			return err
		}
	}
	out, err := c.command(ctx, filepath.Join(c.bin, "initdb"), "-D", c.dataDir(), "-U", "postgres",
		"--auth=trust", "-E", "UTF8", "--locale=C.UTF-8").CombinedOutput()
	if err != nil {
		return fmt.Errorf("initdb: %w: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

func (c *Cluster) pgctl(ctx context.Context, args ...string) error {
	args = append([]string{"-D", c.dataDir()}, args...)
	cmd := c.command(ctx, filepath.Join(c.bin, "pg_ctl"), args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl %s: %w: %s", args[2], err, bytes.TrimSpace(out))
	}
	return nil
}

// command runs a server binary, as the postgres user when we are root.
func (c *Cluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	if c.runAs != "" {
		args = append([]string{"-u", c.runAs, "--", name}, args...)
		name = "runuser"
	}
	cmd := exec.CommandContext(ctx, name, args...)
	// The server must outlive a cancelled start-up context only via Stop.
	cmd.Cancel = func() error { return cmd.Process.Kill() }
	return cmd
}

func (c *Cluster) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := pgx.Connect(ctx, c.URL("postgres"))
		if err == nil {
			return conn.Close(ctx)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("postgres did not accept connections (log: %s): %w", c.logFile, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// URL returns a connection URL for database name.
func (c *Cluster) URL(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.opts.Port, name)
}

// Port is the server's TCP port.
func (c *Cluster) Port() int { return c.opts.Port }

// CreateDatabase creates database name, from template when it is not empty.
func (c *Cluster) CreateDatabase(ctx context.Context, name, template string) error {
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(ctx)
	sql := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if template != "" {
		sql += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// Stop shuts the server down (fast mode: rolls back open transactions) and
// keeps the data.
func (c *Cluster) Stop() error {
	// SIGINT to the postmaster is what pg_ctl's fast mode sends; sending it
	// ourselves and watching the pid file go saves starting runuser and
	// pg_ctl, half a second of every Ctrl-C.
	pidFile := filepath.Join(c.dataDir(), "postmaster.pid")
	if raw, err := os.ReadFile(pidFile); err == nil {
		first, _, _ := strings.Cut(string(raw), "\n")
		if pid, err := strconv.Atoi(strings.TrimSpace(first)); err == nil && pid > 0 && syscall.Kill(pid, syscall.SIGINT) == nil {
			for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				if _, err := os.Stat(pidFile); errors.Is(err, os.ErrNotExist) {
					return nil
				}
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return c.pgctl(ctx, "stop", "-w", "-m", "fast")
}

// Kill stops the server abruptly (immediate mode), as a crash would.
func (c *Cluster) Kill() error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return c.pgctl(ctx, "stop", "-w", "-m", "immediate")
}

// Restart starts a stopped cluster again on the same port.
func (c *Cluster) Restart(ctx context.Context) error {
	if err := c.pgctl(ctx, "start", "-w", "-t", "60", "-l", c.logFile, "-o", c.serverOptions()); err != nil {
		return err
	}
	return c.waitReady(ctx)
}

func findBinDir(dir string) (string, error) {
	if dir == "" {
		dir = os.Getenv("PG_BINDIR")
	}
	if dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "pg_ctl")); err != nil {
			return "", fmt.Errorf("%w (looked in %s)", ErrNoServer, dir)
		}
		return dir, nil
	}
	candidates, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	sort.Slice(candidates, func(i, j int) bool { return versionOf(candidates[i]) > versionOf(candidates[j]) })
	if len(candidates) > 0 {
		return filepath.Dir(candidates[0]), nil
	}
	if path, err := exec.LookPath("pg_ctl"); err == nil {
		return filepath.Dir(path), nil
	}
	return "", ErrNoServer
}

func versionOf(pgctl string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(pgctl))))
	return v
}
