package runner

import (
	"context"
	"errors"
	"fmt"
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
// credentials (for the event stream), which stay on the UI's server side. It returns once the UI answers its health check; the UI
// stops when ctx ends. Once the process has started (started is true), done
// receives exactly one value: why it exited, or nil after ctx ended.
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
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, out, out
	cmd.Env = append(os.Environ(), "NEXT_TELEMETRY_DISABLED=1", "GATEWAY_URL="+s.GatewayURL, "GATEWAY_API_KEY="+s.APIKey,
		"GATEWAY_ADMIN_USER="+gateway.DefaultAdminUser, "GATEWAY_ADMIN_PASSWORD="+s.AdminPassword)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return false, fmt.Errorf("ui: start: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); out.Close() }()
	go func() {
		select {
		case err := <-exited:
			done <- fmt.Errorf("ui exited: %w", err)
		case <-ctx.Done():
			syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-exited
			}
			done <- nil
		}
	}()
	health := fmt.Sprintf("http://127.0.0.1:%d/api/health", s.cfg.UIPort)
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get(health)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true, nil
			}
		}
		if time.Now().After(deadline) {
			return true, fmt.Errorf("ui: %s not healthy after a minute", health)
		}
		select {
		case <-ctx.Done():
			return true, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
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
