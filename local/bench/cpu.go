package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// cpuSample is the machine's CPU time and this run's share of it, in clock
// ticks, at one moment.
type cpuSample struct {
	busy, total uint64 // the whole machine (/proc/stat)
	ours        uint64 // this process, the Postgres server, and their children
}

// sampleCPU reads the machine's counters and those of this run's processes:
// the benchmark (with its functions and the pgbench and build commands it
// ran, living or exited) and the Postgres server of the state folder (with
// its backends, living or exited).
func sampleCPU(stateDir string) (cpuSample, error) {
	var s cpuSample
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s, err
	}
	first, _, _ := strings.Cut(string(raw), "\n")
	fields := strings.Fields(first)
	if len(fields) < 8 || fields[0] != "cpu" {
		return s, fmt.Errorf("unexpected /proc/stat line %q", first)
	}
	for i, f := range fields[1:] {
		n, _ := strconv.ParseUint(f, 10, 64)
		s.total += n
		// user nice system idle iowait irq softirq steal …: idle and iowait are not busy.
		if i != 3 && i != 4 {
			s.busy += n
		}
	}
	procs, err := readProcs()
	if err != nil {
		return s, err
	}
	roots := []int{os.Getpid()}
	if pid, err := postmasterPID(stateDir); err == nil {
		roots = append(roots, pid)
	}
	for _, root := range roots {
		if p, ok := procs[root]; ok {
			s.ours += p.self + p.children
		}
		for _, p := range procs {
			if p.ppid == root {
				s.ours += p.self + p.children
			}
		}
	}
	return s, nil
}

// othersShare is the share of the machine's CPU time between a and b that
// this run's processes did not use.
func othersShare(a, b cpuSample) float64 {
	total := float64(b.total - a.total)
	if total <= 0 {
		return 0
	}
	others := float64(b.busy-a.busy) - float64(b.ours-a.ours)
	return max(others, 0) / total
}

type procTimes struct {
	ppid     int
	self     uint64 // utime + stime
	children uint64 // cutime + cstime: the children it has waited for
}

func readProcs() (map[int]procTimes, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	out := map[int]procTimes{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // it exited meanwhile
		}
		// The command name is in parentheses and may hold spaces: the fields
		// that follow start after the last ')'.
		i := strings.LastIndexByte(string(raw), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(raw[i+1:]))
		if len(f) < 15 {
			continue
		}
		// f[0] is field 3 (state): ppid is field 4, utime..cstime are 14–17.
		num := func(k int) uint64 { n, _ := strconv.ParseUint(f[k-3], 10, 64); return n }
		ppid, _ := strconv.Atoi(f[1])
		out[pid] = procTimes{ppid: ppid, self: num(14) + num(15), children: num(16) + num(17)}
	}
	return out, nil
}

// postmasterPID reads the first line of the cluster's postmaster.pid.
func postmasterPID(stateDir string) (int, error) {
	raw, err := os.ReadFile(filepath.Join(stateDir, "postgres", "data", "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	return strconv.Atoi(strings.TrimSpace(line))
}

// cpuByPart is the CPU time used by each part of the stack, in seconds.
type cpuByPart map[string]float64

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times on Linux.
const clockTicks = 100

// benchProcess is the part of the stack that runs in the benchmark's own
// process.
const benchProcess = "bench process (gateway, connector, kafka)"

// sampleParts reads the CPU time used so far by each part of the stack.
func (b *bench) sampleParts() (cpuByPart, error) {
	procs, err := readProcs()
	if err != nil {
		return nil, err
	}
	pids, err := processesOf(b.stateDir)
	if err != nil {
		return nil, err
	}
	functions := map[string]int{}
	for _, fn := range b.fns.Sorted() {
		if pid, ok := pids[b.binary(fn.Name)]; ok {
			functions[fn.Name] = pid
		}
	}
	postmaster, _ := postmasterPID(b.stateDir) // 0 when it cannot be read
	return partsOf(procs, os.Getpid(), functions, postmaster), nil
}

// partsOf divides the CPU time of procs among the stack's parts: the
// benchmark's process (gateway, connector and Kafka), each function's process
// and the Postgres server (postmaster pid; 0 when unknown) with all its
// backends, living or exited. The benchmark process counts without its
// children: those it has waited for (the load generator, pgbench, builds,
// function processes before a restart) are added to its cutime, and are not
// the stack's, or are counted as functions while they run.
func partsOf(procs map[int]procTimes, self int, functions map[string]int, postmaster int) cpuByPart {
	out := cpuByPart{}
	if p, ok := procs[self]; ok {
		out[benchProcess] = float64(p.self) / clockTicks
	}
	for name, pid := range functions {
		out[name] = float64(procs[pid].self) / clockTicks
	}
	if pm, ok := procs[postmaster]; ok && postmaster != 0 {
		total := pm.self + pm.children
		for _, p := range procs {
			if p.ppid == postmaster {
				total += p.self
			}
		}
		out["postgres"] = float64(total) / clockTicks
	}
	return out
}

// since returns the CPU seconds each part used between before and now.
func (now cpuByPart) since(before cpuByPart) cpuByPart {
	out := cpuByPart{}
	for k, v := range now {
		out[k] = max(v-before[k], 0)
	}
	return out
}

// measureCPU runs load and records the CPU seconds each part of the stack
// used meanwhile, and apart from them what the load generator's own process
// used, which load returns. A failed reading is reported and does not fail
// the phase.
func (b *bench) measureCPU(phase string, load func() (generator time.Duration)) {
	before, errBefore := b.sampleParts()
	generator := load()
	after, errAfter := b.sampleParts()
	if err := errors.Join(errBefore, errAfter); err != nil {
		b.progress.Line("CPU use during %s not measured: %v", phase, err)
		return
	}
	b.results.CPU[phase] = after.since(before)
	b.results.LoadGenerator[phase] = generator.Seconds()
}
