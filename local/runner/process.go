package runner

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// process is one replica of a function, run as its own OS process, as a
// container would be: a crash takes down only that replica. Package scaler
// decides how many run and replaces one that dies.
type process struct {
	name   string
	binary string
	env    []string
	out    io.Writer
	// logFile, when set, also receives the function's output unprefixed, so a
	// learner can `tail -f .local/logs/process-payment.log`.
	logFile string

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Run starts the process and returns when it exits, or stops it with SIGTERM
// (SIGKILL after a grace period) when ctx ends. It calls ready once the
// process listens. Each replica has its own function and metrics ports. A
// process that exits before it listens returns an error with its last lines
// of output, so that a start-up failure explains itself (package scaler
// fails the stack's start with it rather than restarting it forever).
func (p *process) Run(ctx context.Context, ready func(*url.URL)) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	metricsPort, err := freePort()
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(p.binary)
	cmd.Env = append(append([]string{}, p.env...), "FUNCTION_LISTEN_ADDR="+addr,
		fmt.Sprintf("METRICS_ADDR=127.0.0.1:%d", metricsPort))
	out := p.out
	if p.logFile != "" {
		f, err := os.OpenFile(p.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("open log %s: %w", p.logFile, err)
		}
		defer f.Close()
		out = io.MultiWriter(out, &lineFile{f})
	}
	logs := prefixWriter(out, p.name)
	// The tail is written by exec's copying, which Wait waits for: it holds
	// the last lines by the time the exit is seen.
	var tail tailLines
	cmd.Stdout = io.MultiWriter(logs, &tail)
	cmd.Stderr = cmd.Stdout
	// Its own process group: Ctrl-C in the terminal reaches the runner, which
	// then stops each function in order. Pdeathsig: a runner killed outright
	// takes its functions with it (the kernel signals them when the thread
	// that started them ends; Go ends a thread only when a goroutine exits
	// locked to it, which nothing in the runner does).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logs.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	p.mu.Lock()
	p.cmd = cmd
	p.mu.Unlock()

	exited := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		logs.Close()
		exited <- err
	}()
	if err := waitListening(ctx, addr, exited); err != nil {
		// waitListening may have taken the exit from the channel; the
		// goroutine above reaps the process either way.
		cmd.Process.Kill()
		return fmt.Errorf("%s failed to start: %w; its last output:\n%s", p.name, err, tail.String())
	}
	ready(&url.URL{Scheme: "http", Host: addr})

	select {
	case err := <-exited:
		return fmt.Errorf("%s exited: %w", p.name, err)
	case <-ctx.Done():
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		return nil
	}
}

// Kill sends SIGKILL to the running process, as a crash would.
func (p *process) Kill() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return fmt.Errorf("%s is not running", p.name)
	}
	return p.cmd.Process.Signal(syscall.SIGKILL)
}

// withEnv returns env with vars set, replacing their earlier values.
func withEnv(env []string, vars map[string]string) []string {
	out := make([]string, 0, len(env)+len(vars))
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); vars[k] == "" {
			out = append(out, kv)
		}
	}
	for k, v := range vars {
		out = append(out, k+"="+v)
	}
	return out
}

func waitListening(ctx context.Context, addr string, exited <-chan error) error {
	deadline := time.After(30 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return conn.Close()
		}
		select {
		case err := <-exited:
			return fmt.Errorf("exited before listening: %w", err)
		case <-deadline:
			return fmt.Errorf("not listening on %s after 30s", addr)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tailLines keeps the last lines written to it, for an error message.
type tailLines struct {
	mu    sync.Mutex
	lines []string
}

const tailLen = 12

func (t *tailLines) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		t.lines = append(t.lines, "    "+line)
	}
	if over := len(t.lines) - tailLen; over > 0 {
		t.lines = append(t.lines[:0], t.lines[over:]...)
	}
	return len(p), nil
}

func (t *tailLines) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "\n")
}

// lineFile drops the name prefix that prefixWriter adds, so the file holds the
// function's own lines.
type lineFile struct{ f *os.File }

func (l *lineFile) Write(p []byte) (int, error) {
	if _, line, ok := bytes.Cut(p, []byte("| ")); ok {
		_, err := l.f.Write(line)
		return len(p), err
	}
	_, err := l.f.Write(p)
	return len(p), err
}

// prefixWriter writes each line from a child process with its name in front,
// as docker compose does.
func prefixWriter(out io.Writer, name string) *io.PipeWriter {
	r, w := io.Pipe()
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			fmt.Fprintf(out, "%-16s| %s\n", name, sc.Text())
		}
		io.Copy(io.Discard, r)
	}()
	return w
}
