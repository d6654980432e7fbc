package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"handler/function/local/bench/load"
)

// Results is everything one run measured; it is written as JSON.
type Results struct {
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Machine  Machine   `json:"machine"`
	Settings Settings  `json:"settings"`

	Limits     Limits               `json:"limits"`
	Throughput *load.Summary        `json:"throughput,omitempty"`
	Direct     *load.Summary        `json:"direct,omitempty"`
	Latency    *load.Summary        `json:"latency,omitempty"`
	EndToEnd   *EndToEnd            `json:"endToEnd,omitempty"`
	Delayed    *EndToEnd            `json:"endToEndDelayed,omitempty"`
	LongPoll   *LongPoll            `json:"longPoll,omitempty"`
	Functions  map[string]*Function `json:"functions"`
	// CPU is the CPU seconds each part of the stack used during a phase.
	CPU map[string]cpuByPart `json:"cpuSeconds"`
	// LoadGenerator is the CPU seconds the load generator's own process used
	// during a phase: not the stack's, so not in CPU or any figure per unit
	// (the original service's were measured without its load generator too).
	LoadGenerator map[string]float64 `json:"loadGeneratorCpuSeconds"`
	// Units is what each phase's CPU is divided by: creates served, or
	// payments settled.
	Units map[string]units `json:"units"`

	// Profiled runs use builds of the functions with a pprof listener and
	// pay for the profiling: compare their figures with care.
	Profiled bool `json:"profiled,omitempty"`

	Targets []Target `json:"targets"`
	Errors  []string `json:"errors,omitempty"`
}

// Limits are the machine's own limits, measured in the same run.
type Limits struct {
	PGBench *PGBench      `json:"pgbench,omitempty"`
	Sarama  *load.Summary `json:"sarama,omitempty"`
	// RecordBytes is the size of each record of the Sarama loop.
	RecordBytes int `json:"recordBytes,omitempty"`
	// GatewayRead is get-payment reading one payment through the gateway
	// without waiting: one HTTP hop, the cheapest function call.
	GatewayRead *load.Summary `json:"gatewayRead,omitempty"`
}

// Machine says what the figures were measured on, and how busy it was.
type Machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpuModel"`
	MemoryMB  int    `json:"memoryMB"`
	Kernel    string `json:"kernel"`
	GoVersion string `json:"goVersion"`
	// LoadBefore is the 1-minute load average before the stack started (the
	// machine's other work); Load is the same before each phase.
	LoadBefore float64            `json:"loadBefore"`
	Load       map[string]float64 `json:"loadBeforePhase"`
	// OthersCPU is the share of the machine's CPU time (0–1) used outside
	// this run's processes (the benchmark, its functions and pgbench),
	// measured over the whole run: what the other tenants took.
	OthersCPU float64 `json:"othersCpuShare"`
}

// Settings are the run's parameters.
type Settings struct {
	Concurrency    int     `json:"concurrency"`
	Seconds        float64 `json:"seconds"`
	Rate           float64 `json:"rate"`
	E2ERate        float64 `json:"e2eRate"`
	E2ESeconds     float64 `json:"e2eSeconds"`
	DelayRate      float64 `json:"delayRate"`
	DelayDrainSecs float64 `json:"delayDrainSeconds"`
	Waiters        int     `json:"waiters"`
	WaitWindowSecs float64 `json:"waitWindowSeconds"`
	Starts         int     `json:"starts"`
}

// units counts what a phase did, for CPU per unit.
type units struct {
	Name  string `json:"name"`
	Count int64  `json:"count"`
}

func (r *Results) countUnits(phase, name string, n int64) { r.Units[phase] = units{name, n} }

// Target is one of the goals and whether this run met it.
type Target struct {
	Name   string `json:"name"`
	Goal   string `json:"goal"`
	Actual string `json:"actual"`
	Met    bool   `json:"met"`
}

func newResults(cfg Config) *Results {
	return &Results{
		Started: time.Now().UTC(),
		Machine: readMachine(),
		Settings: Settings{
			Concurrency: cfg.Concurrency, Seconds: cfg.Duration.Seconds(), Rate: cfg.Rate,
			E2ERate: cfg.E2ERate, E2ESeconds: cfg.E2EDuration.Seconds(), Waiters: cfg.Waiters,
			DelayRate: cfg.DelayRate, DelayDrainSecs: cfg.DelayDrain.Seconds(),
			WaitWindowSecs: cfg.WaitWindow.Seconds(), Starts: cfg.Starts,
		},
		Functions:     map[string]*Function{},
		CPU:           map[string]cpuByPart{},
		LoadGenerator: map[string]float64{},
		Units:         map[string]units{},
	}
}

func readMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), Load: map[string]float64{}, LoadBefore: loadAverage()}
	if raw, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(raw))
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		var kb int
		fmt.Fscanf(f, "MemTotal: %d kB", &kb)
		m.MemoryMB = kb / 1024
		f.Close()
	}
	return m
}

// loadAverage is the 1-minute load average, or 0 when it cannot be read.
func loadAverage() float64 {
	var one float64
	if raw, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Sscanf(string(raw), "%f", &one)
	}
	return one
}

func (r *Results) noteLoad(phase string) { r.Machine.Load[phase] = loadAverage() }

func (r *Results) finish() { r.Finished = time.Now().UTC() }

// evaluate checks the figures against the targets.
func (r *Results) evaluate() {
	add := func(name, goal, actual string, met bool) {
		r.Targets = append(r.Targets, Target{Name: name, Goal: goal, Actual: actual, Met: met})
	}
	if t, pg := r.Throughput, r.Limits.PGBench; t != nil && pg != nil && pg.TPS > 0 {
		ratio := t.PerSecond / pg.TPS
		add("create-payment through the gateway", "≥ 0.35× pgbench inserts", fmt.Sprintf("%.2f×", ratio), ratio >= 0.35)
	}
	if ms, ok := r.cpuPerUnit(phaseThroughput); ok {
		add("CPU per create, every process", "≤ 0.3 ms", fmt.Sprintf("%.2f ms", ms), ms <= 0.3)
	}
	if l := r.Latency; l != nil {
		add(fmt.Sprintf("create-payment p99 at %.0f/s", r.Settings.Rate), "≤ 5 ms at 300/s, none failed", fmt.Sprintf("%.1f ms, %d refused, %d failed, %d dropped", l.Latency.P99, l.Refused, l.Failed, l.Dropped),
			l.Latency.P99 <= 5 && l.Failed == 0 && l.Refused == 0 && l.Dropped == 0 && r.Settings.Rate >= 300)
	}
	if e, pg := r.EndToEnd, r.Limits.PGBench; e != nil && pg != nil && pg.TPS > 0 {
		ratio := e.AppliedPerSecond / pg.TPS
		add("created → applied, instant provider", "≥ 0.1× pgbench for 60 s, 0 unfinished", fmt.Sprintf("%.2f× for %.0f s, %d unfinished", ratio, e.Seconds, e.Unfinished),
			ratio >= 0.1 && e.Seconds >= 60 && e.Unfinished == 0 && e.Create.Failed == 0 && e.Create.Refused == 0)
	}
	if e := r.Delayed; e != nil {
		ratio := e.SteadyPerSecond / e.OfferedPerSecond
		add("created → applied, 3–25 s provider", "500/s offered for 60 s: ≥ 0.95× from second 25, 0 unfinished 30 s after the last create",
			fmt.Sprintf("%.0f/s offered for %.0f s: %.2f× from second %.0f, %d unfinished %.0f s after", e.OfferedPerSecond, e.Seconds, ratio, e.SteadyFromSecond, e.Unfinished, r.Settings.DelayDrainSecs),
			e.OfferedPerSecond >= 500 && e.Seconds >= 60 && e.SteadyFromSecond <= 25 && ratio >= 0.95 && e.Unfinished == 0 && r.Settings.DelayDrainSecs <= 30 &&
				e.Create.Failed == 0 && e.Create.Refused == 0)
	}
	if lp := r.LongPoll; lp != nil {
		extra := lp.WaitingPerSecond - lp.BaselinePerSecond
		add("queries while 1,000 long-polls wait", "≈ 0/s more than with none", fmt.Sprintf("%+.1f/s", extra), extra < 1)
		add("long-poll answered after its result's commit", "every one within 50 ms",
			fmt.Sprintf("max %.1f ms (results at %.0f/s)", lp.Paced.Max, lp.PacedRate), lp.Paced.Max < 50 && lp.Paced.N == lp.Waiters)
		add("… with every result in one commit", "every one within 50 ms",
			fmt.Sprintf("max %.1f ms (%d results)", lp.Answer.Max, lp.Waiters), lp.Answer.Max < 50 && lp.Answer.N == lp.Waiters)
	}
	var idle, ready []string
	idleOK, readyOK, haveReady := len(r.Functions) > 0, true, false
	for _, name := range r.functionNames() {
		f := r.Functions[name]
		idle = append(idle, fmt.Sprintf("%.1f", f.IdleRSSMB))
		idleOK = idleOK && f.IdleRSSMB > 0 && f.IdleRSSMB < 25
		if f.Ready != nil {
			haveReady = true
			ready = append(ready, fmt.Sprintf("%.1f", f.Ready.P50))
			readyOK = readyOK && f.Ready.P50 < 50
		}
	}
	if len(idle) > 0 {
		add("idle resident memory per function", "< 25 MB", strings.Join(idle, " / ")+" MB", idleOK)
	}
	if haveReady {
		add("exec to ready per function (median)", "< 50 ms", strings.Join(ready, " / ")+" ms", readyOK)
	}
}

// loadGeneratorPart names the load generator's process in the table.
const loadGeneratorPart = "load generator (not the stack)"

// cpuPerUnit is the CPU milliseconds every process of the stack together
// used per unit of a phase; the load generator is not among them.
func (r *Results) cpuPerUnit(phase string) (float64, bool) {
	u, ok := r.Units[phase]
	parts, measured := r.CPU[phase]
	if !ok || !measured || u.Count == 0 {
		return 0, false
	}
	total := 0.0
	for _, v := range parts {
		total += v
	}
	return 1000 * total / float64(u.Count), true
}

func (r *Results) functionNames() []string {
	var names []string
	for name := range r.Functions {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

func (r *Results) write(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(raw, '\n'), 0o644)
}

// printTable prints the figures beside the limits, then the targets.
func (r *Results) printTable(out io.Writer) {
	m := r.Machine
	fmt.Fprintf(out, "\n%d × %s, %d MB, Linux %s, %s; load average %.2f before the run, others used %.0f %% of the CPU during it\n\n",
		m.CPUs, m.CPUModel, m.MemoryMB, m.Kernel, m.GoVersion, m.LoadBefore, 100*m.OthersCPU)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "measure\tours\tlimit\tratio")
	var pgTPS, kafkaRate float64
	if pg := r.Limits.PGBench; pg != nil {
		pgTPS = pg.TPS
		fmt.Fprintf(tw, "pgbench, %d clients, single-row INSERT\t\t%.0f tx/s\t\n", pg.Clients, pg.TPS)
	}
	if s := r.Limits.Sarama; s != nil {
		kafkaRate = s.PerSecond
		fmt.Fprintf(tw, "Sarama produce loop, %d producers, %d B records\t\t%.0f rec/s\t\n", r.Settings.Concurrency, r.Limits.RecordBytes, s.PerSecond)
	}
	var readRate float64
	if s := r.Limits.GatewayRead; s != nil {
		readRate = s.PerSecond
		fmt.Fprintf(tw, "get-payment read through the gateway, %d clients\t\t%.0f req/s\t\n", r.Settings.Concurrency, s.PerSecond)
	}
	ratio := func(v, limit float64, name string) string {
		if limit <= 0 {
			return ""
		}
		return fmt.Sprintf("%.2f× %s", v/limit, name)
	}
	if t := r.Throughput; t != nil {
		fmt.Fprintf(tw, "create-payment through the gateway, %d clients\t%.0f req/s (p50 %.1f, p99 %.1f ms)\t\t%s  %s\n", r.Settings.Concurrency, t.PerSecond,
			t.Latency.P50, t.Latency.P99, ratio(t.PerSecond, pgTPS, "pgbench"), ratio(t.PerSecond, kafkaRate, "Sarama")+"  "+ratio(t.PerSecond, readRate, "gateway read"))
	}
	if t := r.Direct; t != nil {
		fmt.Fprintf(tw, "create-payment on its own port, %d clients\t%.0f req/s (p50 %.1f, p99 %.1f ms)\t\t%s\n", r.Settings.Concurrency, t.PerSecond,
			t.Latency.P50, t.Latency.P99, ratio(t.PerSecond, pgTPS, "pgbench"))
	}
	if l := r.Latency; l != nil {
		fmt.Fprintf(tw, "create-payment at %.0f/s: p50 / p95 / p99 / max\t%.1f / %.1f / %.1f / %.1f ms\t\t\n",
			r.Settings.Rate, l.Latency.P50, l.Latency.P95, l.Latency.P99, l.Latency.Max)
		fmt.Fprintf(tw, "  … served / refused at once (503) / failed / dropped\t%.0f/s / %d / %d / %d\t\t\n", l.PerSecond, l.Refused, l.Failed, l.Dropped)
	}
	for _, e := range []*EndToEnd{r.EndToEnd, r.Delayed} {
		if e == nil {
			continue
		}
		fmt.Fprintf(tw, "created → applied, provider delay %s, %.0f/s offered for %.0f s\t%.0f /s; %.0f /s from second %.0f (slowest second %d)\t\t%s  %s\n",
			e.ProviderDelay, e.OfferedPerSecond, e.Seconds, e.AppliedPerSecond, e.SteadyPerSecond, e.SteadyFromSecond, e.SlowestSecond,
			ratio(e.SteadyPerSecond, e.OfferedPerSecond, "offered"), ratio(e.AppliedPerSecond, pgTPS, "pgbench"))
		fmt.Fprintf(tw, "  … latency: p50 / p95 / p99 / max\t%.0f / %.0f / %.0f / %.0f ms\t\t\n", e.Latency.P50, e.Latency.P95, e.Latency.P99, e.Latency.Max)
		if e.ProviderPeakRSSMB > 0 {
			fmt.Fprintf(tw, "  … process-payment's peak RSS while waiting on the provider\t%.1f MB\t\t\n", e.ProviderPeakRSSMB)
		}
		fmt.Fprintf(tw, "  … did not finish\t%d of %d (last applied %.1f s after the last create; creates refused at once: %d, failed: %d)\t\t\n",
			e.Unfinished, e.Create.OK, e.DrainSeconds, e.Create.Refused, e.Create.Failed)
	}
	if lp := r.LongPoll; lp != nil {
		fmt.Fprintf(tw, "DB transactions to start %d long-polls\t%d\t\t\n", lp.Waiters, lp.StartTransactions)
		fmt.Fprintf(tw, "DB transactions/s, %d long-polls waiting\t%.1f (%.1f with none)\t\t\n", lp.Waiters, lp.WaitingPerSecond, lp.BaselinePerSecond)
		fmt.Fprintf(tw, "long-poll answered after its commit, results at %.0f/s: p50 / p99 / max\t%.1f / %.1f / %.1f ms\t\t\n", lp.PacedRate, lp.Paced.P50, lp.Paced.P99, lp.Paced.Max)
		fmt.Fprintf(tw, "long-poll answered after the commit, all %d in one: p50 / p99 / max\t%.1f / %.1f / %.1f ms\t\t\n", lp.Waiters, lp.Answer.P50, lp.Answer.P99, lp.Answer.Max)
		fmt.Fprintf(tw, "  … the commit itself (disk flush)\t%.1f ms\t\t\n", lp.Commit)
		fmt.Fprintf(tw, "  … %d plain reads sent at once, no waiting: p50 / max\t%.1f / %.1f ms\t\t\n", lp.Reads.N, lp.Reads.P50, lp.Reads.Max)
	}
	for _, name := range r.functionNames() {
		f := r.Functions[name]
		line := fmt.Sprintf("%s: RSS idle / after load / peak\t%.1f / %.1f / %.1f MB", name, f.IdleRSSMB, f.AfterLoadRSSMB, f.PeakRSSMB)
		if f.Ready != nil {
			line += fmt.Sprintf("; exec→ready p50 %.1f ms (max %.1f)", f.Ready.P50, f.Ready.Max)
		}
		fmt.Fprintln(tw, line+"\t\t")
	}
	tw.Flush()

	if len(r.Targets) > 0 {
		fmt.Fprintln(out)
		tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "target\tgoal\tthis run\tmet")
		for _, t := range r.Targets {
			met := "no"
			if t.Met {
				met = "yes"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Name, t.Goal, t.Actual, met)
		}
		tw.Flush()
	}
	for _, phase := range allPhases {
		parts, ok := r.CPU[phase]
		if !ok {
			continue
		}
		var names []string
		total := 0.0
		for name, v := range parts {
			names = append(names, name)
			total += v
		}
		slices.SortFunc(names, func(a, b string) int { return cmp.Compare(parts[b], parts[a]) })
		generator, haveGenerator := r.LoadGenerator[phase]
		fmt.Fprintf(out, "\nCPU seconds during %s (%.1f in all):", phase, total)
		for _, name := range names {
			fmt.Fprintf(out, " %s %.1f;", name, parts[name])
		}
		if haveGenerator {
			fmt.Fprintf(out, " and apart, %s %.1f", loadGeneratorPart, generator)
		}
		fmt.Fprintln(out)
		if u, ok := r.Units[phase]; ok && u.Count > 0 {
			all, _ := r.cpuPerUnit(phase)
			fmt.Fprintf(out, "  CPU ms per %s (%d, load %.1f before the phase): %.3f in all;", u.Name, u.Count, r.Machine.Load[phase], all)
			for _, name := range names {
				fmt.Fprintf(out, " %s %.3f;", name, 1000*parts[name]/float64(u.Count))
			}
			if haveGenerator {
				fmt.Fprintf(out, " and apart, %s %.3f", loadGeneratorPart, 1000*generator/float64(u.Count))
			}
			fmt.Fprintln(out)
		}
	}
	for _, e := range r.Errors {
		fmt.Fprintln(out, "error:", e)
	}
}
