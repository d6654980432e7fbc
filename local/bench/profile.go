package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"handler/function/local/fnbuild"
)

// pprofSource is added to a function's build context in -profile runs: it
// serves net/http/pprof on a loopback port of its own (never on the
// function's port, whose handler is the template's) and writes that port's
// address next to the binary, where the benchmark reads it.
const pprofSource = `package main

import (
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
)

func init() {
	exe, err := os.Executable()
	if err != nil {
		return
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return
	}
	if err := os.WriteFile(exe+".pprof-addr", []byte(l.Addr().String()), 0o644); err != nil {
		l.Close()
		return
	}
	go http.Serve(l, nil)
}
`

// enableProfiling rebuilds every function with pprofSource and restarts it
// (the runner restarts a killed function from the same path), so that CPU
// profiles can be taken from the processes under load.
func (b *bench) enableProfiling(ctx context.Context) error {
	if err := os.MkdirAll(b.cfg.ProfileDir, 0o755); err != nil {
		return err
	}
	for _, fn := range b.fns.Sorted() {
		b.progress.Status("profiling: rebuilding %s with pprof", fn.Name)
		contextDir := filepath.Join(b.stateDir, "build", fn.Name)
		if err := os.WriteFile(filepath.Join(contextDir, "bench_pprof.go"), []byte(pprofSource), 0o644); err != nil {
			return err
		}
		addrFile := b.binary(fn.Name) + ".pprof-addr"
		os.Remove(addrFile)
		// go build replaces the file by renaming, so the running process keeps its inode.
		if err := fnbuild.Build(ctx, contextDir, b.binary(fn.Name)); err != nil {
			return err
		}
		restarts := b.stack.Restarts(fn.Name)
		if err := b.stack.Kill(fn.Name); err != nil {
			return err
		}
		deadline := time.Now().Add(time.Minute)
		for b.stack.Restarts(fn.Name) == restarts || !b.stack.Ready(fn.Name) {
			if time.Now().After(deadline) {
				return fmt.Errorf("%s did not come back with pprof", fn.Name)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if _, err := os.Stat(addrFile); err != nil {
			return fmt.Errorf("%s: no pprof address: %w", fn.Name, err)
		}
	}
	b.results.Profiled = true
	b.progress.Line("profiling: every function runs a build with pprof; profiles go to %s", b.cfg.ProfileDir)
	return nil
}

// startProfiles takes CPU profiles of this process (gateway, connector,
// Kafka; the load generator runs in a process of its own) and of every function for about d, into
// ProfileDir/<phase>-<name>.pprof. The returned stop waits for them. Without
// -profile it does nothing.
func (b *bench) startProfiles(ctx context.Context, phase string, d time.Duration) (stop func() error, err error) {
	if b.cfg.ProfileDir == "" {
		return func() error { return nil }, nil
	}
	self, err := os.Create(filepath.Join(b.cfg.ProfileDir, phase+"-bench.pprof"))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(self); err != nil {
		self.Close()
		return nil, err
	}
	var wg sync.WaitGroup
	errs := make([]error, len(b.fns.Sorted()))
	for i, fn := range b.fns.Sorted() {
		wg.Go(func() {
			errs[i] = b.fetchProfile(ctx, fn.Name, filepath.Join(b.cfg.ProfileDir, phase+"-"+fn.Name+".pprof"), d)
		})
	}
	return func() error {
		pprof.StopCPUProfile()
		wg.Wait()
		return errors.Join(append(errs, self.Close())...)
	}, nil
}

func (b *bench) fetchProfile(ctx context.Context, name, path string, d time.Duration) error {
	addr, err := os.ReadFile(b.binary(name) + ".pprof-addr")
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", strings.TrimSpace(string(addr)), int(d.Seconds()))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s profile: %w", name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s profile: status %d", name, resp.StatusCode)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("%s profile: %w", name, err)
	}
	return f.Close()
}
