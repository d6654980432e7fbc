package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"handler/function/local/gateway"
)

// startUI installs, builds (when the sources changed) and starts the Next.js
// UI on UIPort, pointed at the gateway with the API key and the admin
// credentials (for the event stream and the System page), which stay on the
// UI's server side. It returns once the UI answers its health check; the UI
// stops when ctx ends. When it returns started true, done later receives
// exactly one value: why the UI exited, or nil after ctx ended; a UI that
// fails to start is stopped before startUI returns.
func (s *Stack) startUI(ctx context.Context, done chan<- error) (started bool, err error) {
	dir := filepath.Join(s.cfg.Root, "ui")
	out := prefixWriter(s.logs, "ui")
	run := func(name string, args ...string) error {
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir, cmd.Stdout, cmd.Stderr = dir, out, out
		cmd.Env = append(os.Environ(), "NEXT_TELEMETRY_DISABLED=1")
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("ui: %s %s: %w", name, strings.Join(args, " "), err)
		}
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); errors.Is(err, fs.ErrNotExist) {
		s.log.Info("installing the UI's packages (npm ci)")
		if err := run("npm", "ci", "--no-audit", "--no-fund"); err != nil {
			return false, err
		}
	}
	if stale, err := uiBuildStale(dir); err != nil || stale {
		s.log.Info("building the UI (next build)")
		if err := run("npm", "run", "build"); err != nil {
			return false, err
		}
	}

	cmd := exec.Command("node", "node_modules/next/dist/bin/next", "start", "-p", fmt.Sprint(s.cfg.UIPort), "-H", "127.0.0.1")
	var tail tailLines
	cmd.Dir = dir
	cmd.Stdout = io.MultiWriter(out, &tail)
	cmd.Stderr = cmd.Stdout
	cmd.Env = append(os.Environ(), "NEXT_TELEMETRY_DISABLED=1", "GATEWAY_URL="+s.GatewayURL, "GATEWAY_API_KEY="+s.APIKey,
		"GATEWAY_ADMIN_USER="+gateway.DefaultAdminUser, "GATEWAY_ADMIN_PASSWORD="+s.AdminPassword)
	// A runner killed outright takes the UI with it, freeing its port.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return false, fmt.Errorf("ui: start: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); out.Close() }()
	stop := func() {
		// The UI keeps nothing worth draining, and Next.js waits for every
		// open request on SIGTERM: a browser's event stream would hold it
		// until the kill. A moment for requests to finish, then it goes.
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(uiStopGrace):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	}
	// Wait for our UI's health, or for it to exit: a UI that exits now
	// (its port taken) must fail the start at once, and never may another
	// server on the port pass for ours.
	health := fmt.Sprintf("http://127.0.0.1:%d/api/health", s.cfg.UIPort)
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.After(time.Minute)
	for healthy := false; !healthy; {
		select {
		case err := <-exited:
			return false, uiStartError(s.cfg.UIPort, err, tail.String())
		case <-deadline:
			stop()
			return false, fmt.Errorf("ui: %s not healthy after a minute; its last output:\n%s", health, tail.String())
		case <-ctx.Done():
			stop()
			return false, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if resp, err := client.Get(health); err == nil {
			resp.Body.Close()
			healthy = resp.StatusCode == http.StatusOK
		}
	}
	go func() {
		select {
		case err := <-exited:
			done <- fmt.Errorf("ui exited: %w", err)
		case <-ctx.Done():
			stop()
			done <- nil
		}
	}()
	return true, nil
}

// uiStopGrace is how long the UI may take to stop before it is killed.
const uiStopGrace = time.Second

// uiStartError explains a UI that exited during start-up, with the fix for
// the usual cause.
func uiStartError(port int, err error, output string) error {
	if strings.Contains(output, "EADDRINUSE") {
		return fmt.Errorf("ui: port %d is in use by another program; stop it, or move the UI with UI_PORT=<free port> (NO_UI=1 runs without it)", port)
	}
	return fmt.Errorf("ui exited during start-up (%v); its last output:\n%s", err, output)
}

// uiBuildStale reports whether a source file of the UI is newer than its last
// production build, so `make run` rebuilds only after a change.
func uiBuildStale(dir string) (bool, error) {
	built, err := os.Stat(filepath.Join(dir, ".next", "BUILD_ID"))
	if err != nil {
		return true, nil
	}
	stale := false
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() && path != dir && (strings.HasPrefix(name, ".") || name == "node_modules" || name == "test-results") {
			return filepath.SkipDir
		}
		if info, err := d.Info(); err == nil && !d.IsDir() && info.ModTime().After(built.ModTime()) {
			stale = true
			return filepath.SkipAll
		}
		return nil
	})
	return stale, err
}
