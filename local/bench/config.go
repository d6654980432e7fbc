package main

import (
	"errors"
	"flag"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"handler/function/local/stack"
)

// Phases, in the order they run. Each can be left out with -phases.
const (
	phaseStartup    = "startup"    // exec to ready of each function binary
	phaseLimits     = "limits"     // pgbench inserts and a raw Sarama produce loop
	phaseLongPoll   = "longpoll"   // many waiting long-polls
	phaseThroughput = "throughput" // create-payment through the gateway at a fixed concurrency
	phaseDirect     = "direct"     // the same, on create-payment's own port
	phaseLatency    = "latency"    // create-payment at a fixed rate
	phaseE2E        = "e2e"        // created → applied, sustained, instant provider
	phaseDelay      = "e2e-delay"  // the same with the provider's real 3–25 s delay
)

var allPhases = []string{phaseStartup, phaseLimits, phaseLongPoll, phaseThroughput, phaseDirect, phaseLatency, phaseE2E, phaseDelay}

// Config is the benchmark's configuration, read once from the flags.
type Config struct {
	// Root is the project folder (the one holding stack.yml).
	Root string
	// StateDir holds the stack's Postgres cluster, Kafka data, builds and
	// secrets. Empty means a fresh folder under .local/bench, removed at the
	// end, so every run starts from empty tables and topics.
	StateDir string
	// Out is where the results are written as JSON.
	Out string
	// LogFile receives the stack's logs (every call is logged; the terminal
	// shows only the progress line and the table).
	LogFile string
	// ProfileDir, when set, receives CPU profiles taken during the throughput
	// phase: pprof of this process (gateway, connector, Kafka) and perf
	// reports of every function process.
	ProfileDir string

	Concurrency int           // closed-loop workers for throughput, and pgbench clients
	Duration    time.Duration // of the throughput, latency and limit runs
	Rate        float64       // requests per second of the latency run
	// E2ERate is offered in the end-to-end run; 0 offers the target's rate,
	// 0.1× the run's pgbench (1,000/s when pgbench did not run).
	E2ERate     float64
	E2EDuration time.Duration
	// DelayRate is offered for E2EDuration with the provider's real delay
	// (stack.yml's); the payments must be settled DelayDrain after the last
	// create, and applied/s is counted from SteadyFrom on (the pipeline fills
	// for the longest delay first).
	DelayRate  float64
	DelayDrain time.Duration
	SteadyFrom time.Duration
	// DrainTimeout is how long the end-to-end run waits after its last create
	// for every payment to be applied; what is still pending then did not finish.
	DrainTimeout time.Duration
	Waiters      int           // concurrent long-polls
	WaitWindow   time.Duration // how long database queries are counted while they wait
	Starts       int           // exec-to-ready runs per function
	Phases       []string
	PGBench      string // the pgbench binary
}

// ConfigFromFlags parses args (without the program name) into a Config with defaults.
func ConfigFromFlags(args []string) (Config, error) {
	root, err := stack.FindRoot()
	if err != nil {
		return Config{}, err
	}
	c := Config{Root: root}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&c.StateDir, "state", "", "state folder for the stack (default: a fresh one under .local/bench, removed afterwards)")
	fs.StringVar(&c.Out, "out", filepath.Join(root, ".local", "bench", "results.json"), "results JSON file")
	fs.StringVar(&c.LogFile, "log", filepath.Join(root, ".local", "bench", "stack.log"), "the stack's log file")
	fs.StringVar(&c.ProfileDir, "profile", "", "write CPU profiles of the throughput phase to this folder")
	fs.IntVar(&c.Concurrency, "concurrency", 64, "concurrent clients for throughput and pgbench")
	fs.DurationVar(&c.Duration, "duration", 20*time.Second, "length of the throughput, latency and limit runs")
	fs.Float64Var(&c.Rate, "rate", 300, "requests per second of the latency run")
	fs.Float64Var(&c.E2ERate, "e2e-rate", 0, "payments per second offered in the end-to-end run (0: the target's, 0.1× this run's pgbench, or 1000 without it)")
	fs.DurationVar(&c.E2EDuration, "e2e-duration", 60*time.Second, "length of each end-to-end run")
	fs.Float64Var(&c.DelayRate, "delay-rate", 500, "payments per second offered in the end-to-end run with the real provider delay")
	fs.DurationVar(&c.DelayDrain, "delay-drain", 30*time.Second, "with the real delay, every payment must be applied this long after the last create")
	fs.DurationVar(&c.SteadyFrom, "steady-from", 25*time.Second, "with the real delay, applied/s is counted from this second of the run on")
	fs.DurationVar(&c.DrainTimeout, "drain", 2*time.Minute, "how long to wait for the last payments to be applied")
	fs.IntVar(&c.Waiters, "waiters", 1000, "concurrent long-polls")
	fs.DurationVar(&c.WaitWindow, "wait-window", 10*time.Second, "how long queries are counted while the long-polls wait")
	fs.IntVar(&c.Starts, "starts", 20, "exec-to-ready runs per function")
	phases := fs.String("phases", strings.Join(allPhases, ","), "phases to run, comma-separated: "+strings.Join(allPhases, ","))
	fs.StringVar(&c.PGBench, "pgbench", findPGBench(), "the pgbench binary")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	for _, p := range strings.Split(*phases, ",") {
		if p = strings.TrimSpace(p); p != "" {
			c.Phases = append(c.Phases, p)
		}
	}
	return c, c.Validate()
}

// Validate reports every setting that cannot work.
func (c Config) Validate() error {
	var errs []error
	if c.Concurrency < 1 || c.Waiters < 1 || c.Starts < 1 {
		errs = append(errs, errors.New("concurrency, waiters and starts must be at least 1"))
	}
	if c.Rate <= 0 || c.E2ERate < 0 || c.DelayRate <= 0 {
		errs = append(errs, errors.New("rates must be positive"))
	}
	if c.Duration < time.Second || c.E2EDuration < time.Second || c.WaitWindow < time.Second || c.DrainTimeout < time.Second || c.DelayDrain < time.Second {
		errs = append(errs, errors.New("durations must be at least a second"))
	}
	if c.runs(phaseDelay) && c.SteadyFrom >= c.E2EDuration {
		errs = append(errs, fmt.Errorf("steady-from %s must be shorter than e2e-duration %s", c.SteadyFrom, c.E2EDuration))
	}
	// The long-polls must still be waiting when the window ends and the
	// payments change: get-payment answers a pending payment after 30 s.
	if c.WaitWindow > 15*time.Second {
		errs = append(errs, errors.New("wait-window must be at most 15s (long-polls end after 30 s, and the window opens 11 s after they start)"))
	}
	for _, p := range c.Phases {
		if !slices.Contains(allPhases, p) {
			errs = append(errs, fmt.Errorf("unknown phase %q (want some of %s)", p, strings.Join(allPhases, ",")))
		}
	}
	if c.runs(phaseLimits) {
		if _, err := exec.LookPath(c.PGBench); err != nil {
			errs = append(errs, fmt.Errorf("pgbench: %w (install postgresql, or pass -pgbench)", err))
		}
	}
	return errors.Join(errs...)
}

func (c Config) runs(phase string) bool { return slices.Contains(c.Phases, phase) }

// findPGBench returns the newest installed pgbench, or "pgbench" from PATH.
func findPGBench() string {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pgbench")
	if len(matches) > 0 {
		slices.Sort(matches)
		return matches[len(matches)-1]
	}
	return "pgbench"
}
