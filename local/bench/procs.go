package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"handler/function/local/bench/load"
)

// Function is what was measured of one function's process.
type Function struct {
	// Resident memory (VmRSS) in MB when idle after start, when idle again
	// after the load, and the peak (VmHWM) over the run.
	IdleRSSMB      float64 `json:"idleRssMB"`
	AfterLoadRSSMB float64 `json:"afterLoadRssMB"`
	PeakRSSMB      float64 `json:"peakRssMB"`
	// Ready runs from exec to the first answer to an HTTP request; Listening
	// from exec to the first accepted TCP connection.
	Ready     *load.Latency `json:"execToReady,omitempty"`
	Listening *load.Latency `json:"execToListening,omitempty"`
}

func (b *bench) function(name string) *Function {
	if b.results.Functions[name] == nil {
		b.results.Functions[name] = &Function{}
	}
	return b.results.Functions[name]
}

// binary is where the runner built a function (fnbuild: <state>/bin/<name>).
func (b *bench) binary(name string) string { return filepath.Join(b.stateDir, "bin", name) }

// measureMemory reads the resident memory of each function's process, found
// in /proc by the path of its binary in this run's state folder.
func (b *bench) measureMemory(when string) error {
	pids, err := processesOf(b.stateDir)
	if err != nil {
		return err
	}
	var errs []error
	for _, fn := range b.fns.Sorted() {
		pid, ok := pids[b.binary(fn.Name)]
		if !ok {
			errs = append(errs, fmt.Errorf("no process for %s", fn.Name))
			continue
		}
		status, err := procStatus(pid)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", fn.Name, err))
			continue
		}
		f := b.function(fn.Name)
		switch when {
		case "idle":
			f.IdleRSSMB = status["VmRSS"]
		default:
			f.AfterLoadRSSMB = status["VmRSS"]
		}
		f.PeakRSSMB = status["VmHWM"]
	}
	return errors.Join(errs...)
}

// processesOf maps the executable path of every process whose binary lies
// under dir to its pid.
func processesOf(dir string) (map[string]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	pids := map[string]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil || !strings.HasPrefix(exe, dir+string(filepath.Separator)) {
			continue
		}
		pids[exe] = pid
	}
	return pids, nil
}

// procStatus returns the memory fields of /proc/<pid>/status in MB (10⁶ bytes).
func procStatus(pid int) (map[string]float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || !strings.HasPrefix(key, "Vm") {
			continue
		}
		fields := strings.Fields(value)
		if len(fields) == 2 && fields[1] == "kB" {
			kb, err := strconv.ParseFloat(fields[0], 64)
			if err == nil {
				out[key] = kb * 1024 / 1e6 // MB, as the targets are stated
			}
		}
	}
	if _, ok := out["VmRSS"]; !ok {
		return nil, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	return out, sc.Err()
}

// measureStartup starts each function's binary Starts times, as the runner
// (or of-watchdog) would, and times exec → listening → first answer.
func (b *bench) measureStartup(ctx context.Context) error {
	env, err := b.functionEnv()
	if err != nil {
		return err
	}
	for _, fn := range b.fns.Sorted() {
		var ready, listening []time.Duration
		for i := range b.cfg.Starts {
			b.progress.Status("exec to ready: %s %d/%d", fn.Name, i+1, b.cfg.Starts)
			l, r, err := startOnce(ctx, b.binary(fn.Name), env[fn.Name])
			if err != nil {
				return fmt.Errorf("%s: %w", fn.Name, err)
			}
			listening, ready = append(listening, l), append(ready, r)
		}
		f := b.function(fn.Name)
		rl, ll := load.Distribution(ready), load.Distribution(listening)
		f.Ready, f.Listening = &rl, &ll
		b.progress.Line("exec to ready: %-16s p50 %5.1f ms  max %5.1f ms  (listening p50 %.1f ms)", fn.Name, rl.P50, rl.Max, ll.P50)
	}
	return nil
}

// functionEnv is each function's environment as the runner gives it: its
// stack.yml variables with the benchmark's overrides, the local Kafka
// brokers and the secrets folder.
func (b *bench) functionEnv() (map[string][]string, error) {
	rcfg, err := runnerConfig(b.cfg, b.stateDir)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, fn := range b.fns.Sorted() {
		env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TZ=UTC"}
		for k, v := range fn.Environment {
			if override, ok := rcfg.FunctionEnv[k]; ok {
				v = override
			}
			env = append(env, k+"="+v)
		}
		if _, ok := fn.Environment["KAFKA_BROKERS"]; ok {
			env = append(env, "KAFKA_BROKERS="+strings.Join(b.stack.Brokers, ","))
		}
		out[fn.Name] = append(env, "OPENFAAS_SECRETS_DIR="+filepath.Join(b.stateDir, "secrets"))
	}
	return out, nil
}

// startOnce execs binary listening on a free port, and returns how long until
// it accepted a connection and until it answered a request. The request uses
// a method the function refuses, so that it builds its dependencies (as a
// first invocation does) without touching Postgres or Kafka. It then stops the
// process with SIGTERM.
func startOnce(ctx context.Context, binary string, env []string) (listening, ready time.Duration, err error) {
	ports, err := freePorts(1)
	if err != nil {
		return 0, 0, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	cmd := exec.Command(binary)
	cmd.Env = append(env, "FUNCTION_LISTEN_ADDR="+addr)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}()
	deadline := start.Add(10 * time.Second)
	for {
		conn, dialErr := net.DialTimeout("tcp", addr, time.Second)
		if dialErr == nil {
			conn.Close()
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return 0, 0, fmt.Errorf("not listening after 10s: %w", dialErr)
		}
		time.Sleep(200 * time.Microsecond)
	}
	listening = time.Since(start)
	// A client of its own per start: no connection is reused across processes.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, "http://"+addr+"/", nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("first request: %w", err)
	}
	resp.Body.Close()
	ready = time.Since(start)
	if resp.StatusCode != http.StatusMethodNotAllowed {
		return 0, 0, fmt.Errorf("first request: status %d, want 405", resp.StatusCode)
	}
	return listening, ready, nil
}
