package runner

import (
	"bufio"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Files in the state folder that tell other programs about the runner.
const (
	// lockFile is held with flock(2) by the runner using the folder, and
	// holds its pid. The kernel releases the lock when the process dies,
	// however it dies, so a lock that can be taken proves the last runner
	// is gone and whatever it left running (its Postgres) may be stopped.
	lockFile = "runner.lock"
	// StateFile is written once the stack is ready and removed when it
	// stops: the addresses of the running stack as shell assignments, for
	// `. .local/stack.env` in another terminal and for the dlq tool.
	StateFile = "stack.env"
)

// stateLock is the runner's hold on its state folder.
type stateLock struct{ f *os.File }

// ErrLocked says another runner uses the state folder.
var ErrLocked = errors.New("another runner uses this state folder")

// lockState takes the state folder's lock without waiting and writes our
// pid into it. When another live runner holds it, the error names that
// runner's pid and how to start a second stack beside it.
func lockState(dir string) (*stateLock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, lockedError(dir)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return &stateLock{f: f}, nil
}

// unlock releases the lock; the file stays, and an unlocked file means no runner.
func (l *stateLock) unlock() {
	if l != nil && l.f != nil {
		l.f.Close() // closing the last descriptor releases the flock
		l.f = nil
	}
}

func lockedError(dir string) error {
	pid := "unknown"
	if raw, err := os.ReadFile(filepath.Join(dir, lockFile)); err == nil && len(strings.TrimSpace(string(raw))) > 0 {
		pid = strings.TrimSpace(string(raw))
	}
	return fmt.Errorf("%w: a stack is already running from %s (runner pid %s).\n"+
		"  Use that one (its addresses are in %s), stop it with Ctrl-C in its terminal (or kill %s),\n"+
		"  or start a second stack beside it with its own folder and ports, e.g.\n"+
		"    LOCAL_STATE_DIR=.local/second GATEWAY_ADDR=127.0.0.1:8081 LOCAL_PG_PORT=25432 LOCAL_KAFKA_PORTS=29092,29093,29094 UI_PORT=4001 make run",
		ErrLocked, dir, pid, filepath.Join(dir, StateFile), pid)
}

// Running reports whether a runner holds the state folder dir now. It probes
// with a shared lock, which fails only while a runner holds its exclusive one.
func Running(dir string) bool {
	f, err := os.Open(filepath.Join(dir, lockFile))
	if err != nil {
		return false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		return errors.Is(err, syscall.EWOULDBLOCK)
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
}

// ReadState returns the settings of the stack running from dir (the
// StateFile's assignments), or an error when no runner holds dir.
func ReadState(dir string) (map[string]string, error) {
	if !Running(dir) {
		return nil, fmt.Errorf("no stack is running from %s", dir)
	}
	f, err := os.Open(filepath.Join(dir, StateFile))
	if err != nil {
		return nil, fmt.Errorf("the stack running from %s is not ready yet: %w", dir, err)
	}
	defer f.Close()
	state := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		state[k] = strings.Trim(v, "'")
	}
	return state, sc.Err()
}

// writeState writes the StateFile: shell assignments of single-quoted values
// (our values hold no quotes: addresses, URLs and paths of our own making).
func writeState(dir string, vars [][2]string) error {
	var b strings.Builder
	b.WriteString("# The running local stack (make run). In another terminal: . " + filepath.Join(dir, StateFile) + "\n")
	for _, kv := range vars {
		if strings.Contains(kv[1], "'") {
			return fmt.Errorf("state %s: value %q has a quote", kv[0], kv[1])
		}
		fmt.Fprintf(&b, "export %s='%s'\n", kv[0], kv[1])
	}
	tmp := filepath.Join(dir, StateFile+".tmp")
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, StateFile))
}

// samePath reports whether a and b name the same folder.
func samePath(a, b string) (bool, error) {
	a, err := filepath.Abs(a)
	if err != nil {
		return false, err
	}
	b, err = filepath.Abs(b)
	if err != nil {
		return false, err
	}
	return filepath.Clean(a) == filepath.Clean(b), nil
}

// sameDatabase reports whether two Postgres URLs name the same database on
// the same server (localhost and 127.0.0.1 alike; other options ignored).
func sameDatabase(a, b string) bool {
	ua, errA := url.Parse(a)
	ub, errB := url.Parse(b)
	if errA != nil || errB != nil {
		return false
	}
	hostPort := func(u *url.URL) string {
		host, port := u.Hostname(), u.Port()
		if host == "localhost" || host == "" {
			host = "127.0.0.1"
		}
		if port == "" {
			port = "5432"
		}
		return host + ":" + port
	}
	return hostPort(ua) == hostPort(ub) && strings.Trim(ua.Path, "/") == strings.Trim(ub.Path, "/")
}
