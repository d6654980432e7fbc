package runner

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"handler/function/local/gateway"
)

// process keeps one function running as its own OS process, as a container
// would be: a crash takes down only that function, and it is restarted with
// backoff. While it is down the gateway answers 503 for it.
type process struct {
	name   string
	binary string
	env    []string
	ups    *gateway.Upstreams
	log    *slog.Logger
	out    io.Writer
	// logFile, when set, also receives the function's output unprefixed, so a
	// learner can `tail -f .local/logs/process-payment.log`.
	logFile string

	mu       sync.Mutex
	cmd      *exec.Cmd
	ready    bool
	wasReady bool  // it listened at least once
	startErr error // why it exited before it ever listened
	restarts int
	tail     tailLines
}

// run starts the process and restarts it whenever it exits, until ctx ends;
// then it stops it with SIGTERM (SIGKILL after a grace period).
func (p *process) run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		started := time.Now()
		err := p.once(ctx)
		if ctx.Err() != nil {
			return
		}
		p.mu.Lock()
		p.restarts++
		if !p.wasReady && p.startErr == nil {
			// A function that cannot start once will not start on a retry
			// either (a bad setting, a missing secret): say so now.
			p.startErr = fmt.Errorf("%s failed to start: %w; its last output:\n%s", p.name, err, p.tail.String())
		}
		p.mu.Unlock()
		if time.Since(started) > 10*time.Second {
			backoff = 100 * time.Millisecond
		}
		p.log.Warn("function exited; restarting", "function", p.name, "err", err, "restart_in_ms", backoff.Milliseconds())
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (p *process) once(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(p.binary)
	cmd.Env = append(append([]string{}, p.env...), "FUNCTION_LISTEN_ADDR="+addr)
	out := io.MultiWriter(p.out, &p.tail)
	if p.logFile != "" {
		f, err := os.OpenFile(p.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("open log %s: %w", p.logFile, err)
		}
		defer f.Close()
		out = io.MultiWriter(out, &lineFile{f})
	}
	logs := prefixWriter(out, p.name)
	cmd.Stdout, cmd.Stderr = logs, logs
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
		return err
	}
	p.setReady(addr, true)
	defer p.setReady(addr, false)

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

func (p *process) setReady(addr string, ready bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ready = ready
	p.wasReady = p.wasReady || ready
	if ready {
		p.ups.Set(p.name, &url.URL{Scheme: "http", Host: addr})
	} else {
		p.ups.Remove(p.name)
	}
}

// Ready reports whether the process is up and listening.
func (p *process) Ready() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ready
}

// StartErr is why the process exited before it ever listened, or nil.
func (p *process) StartErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.startErr
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

// Restarts counts how often the process was restarted.
func (p *process) Restarts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.restarts
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
