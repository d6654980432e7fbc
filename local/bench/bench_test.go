package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"handler/function/local/bench/load"
)

func TestConfigDefaultsAreValid(t *testing.T) {
	cfg, err := ConfigFromFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Concurrency != 64 || cfg.Rate != 300 || cfg.E2EDuration != time.Minute || cfg.DelayRate != 500 || cfg.DelayDrain != 30*time.Second ||
		cfg.SteadyFrom != 25*time.Second || cfg.Waiters != 1000 || len(cfg.Phases) != len(allPhases) {
		t.Fatalf("defaults %+v do not measure what the issue asks", cfg)
	}
}

func TestConfigRejectsWhatCannotWork(t *testing.T) {
	for _, args := range [][]string{
		{"-phases", "throughput,warp"},
		{"-concurrency", "0"},
		{"-rate", "0"},
		{"-duration", "10ms"},
		{"-wait-window", "25s"},
		{"-phases", "e2e-delay", "-e2e-duration", "20s"}, // counted from second 25 on
		{"-delay-rate", "0"},
		{"-phases", "limits", "-pgbench", "/nonexistent/pgbench"},
		{"stray"},
	} {
		if _, err := ConfigFromFlags(args); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
}

func TestPGBenchOutputIsParsed(t *testing.T) {
	out := []byte(`number of transactions actually processed: 87654
latency average = 14.603 ms
initial connection time = 41.220 ms
tps = 4382.698431 (without initial connection time)
`)
	if m := tpsLine.FindSubmatch(out); m == nil || string(m[1]) != "4382.698431" {
		t.Fatalf("tps: %q", m)
	}
	if m := latencyLine.FindSubmatch(out); m == nil || string(m[1]) != "14.603" {
		t.Fatalf("latency: %q", m)
	}
}

func TestTargetsAreJudgedOnTheFigures(t *testing.T) {
	r := newResults(Config{Rate: 300, E2EDuration: time.Minute, DelayDrain: 30 * time.Second})
	r.Limits.PGBench = &PGBench{TPS: 1000}
	r.Throughput = &load.Summary{PerSecond: 349}
	r.CPU[phaseThroughput] = cpuByPart{"a": 1, "b": 2}
	r.countUnits(phaseThroughput, "create", 10000) // 0.3 ms per create
	r.Latency = &load.Summary{Latency: load.Latency{P99: 5}}
	r.EndToEnd = &EndToEnd{Seconds: 60, AppliedPerSecond: 1000, Unfinished: 1}
	r.Delayed = &EndToEnd{Seconds: 60, OfferedPerSecond: 500, SteadyFromSecond: 25, SteadyPerSecond: 475, ProviderDelay: "3s–25s"}
	r.LongPoll = &LongPoll{Waiters: 2, BaselinePerSecond: 0.5, WaitingPerSecond: 0.9, Answer: load.Latency{N: 2, Max: 12},
		Paced: load.Latency{N: 2, Max: 50}, PacedRate: 200}
	r.Functions["a"] = &Function{IdleRSSMB: 24, Ready: &load.Latency{P50: 51}}
	r.evaluate()
	want := map[string]bool{
		"create-payment through the gateway":           false, // 0.349×
		"CPU per create, every process":                true,  // 0.3 ms is within
		"create-payment p99 at 300/s":                  true,
		"created → applied, instant provider":          false, // one unfinished
		"created → applied, 3–25 s provider":           true,  // 0.95×
		"queries while 1,000 long-polls wait":          true,
		"long-poll answered after its result's commit": false, // 50 ms is not within
		"… with every result in one commit":            true,
		"idle resident memory per function":            true,
		"exec to ready per function (median)":          false,
	}
	if len(r.Targets) != len(want) {
		t.Fatalf("targets %+v", r.Targets)
	}
	for _, target := range r.Targets {
		if met, ok := want[target.Name]; !ok || met != target.Met {
			t.Errorf("%s: met = %v (%s), want %v", target.Name, target.Met, target.Actual, met)
		}
	}
	var table bytes.Buffer
	r.printTable(&table)
	for _, s := range []string{"0.35× pgbench", "1000 /s", "0.95× offered", "CPU ms per create (10000", "0.300 in all", "24.0 / 0.0 / 0.0 MB"} {
		if !strings.Contains(table.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, table.String())
		}
	}
}

func TestOthersShareSubtractsOurOwnTime(t *testing.T) {
	a := cpuSample{busy: 100, total: 1000, ours: 50}
	b := cpuSample{busy: 700, total: 2000, ours: 350}
	if got := othersShare(a, b); got != 0.3 {
		t.Fatalf("others' share = %v, want 0.3 (600 busy - 300 ours of 1000)", got)
	}
}

func TestTheStacksCPUPerCreateLeavesOutTheLoadGenerator(t *testing.T) {
	r := newResults(Config{})
	r.CPU[phaseThroughput] = cpuByPart{benchProcess: 1, "create-payment": 1.5, "postgres": 0.5}
	r.LoadGenerator[phaseThroughput] = 2 // as much as the stack: counted in, it would double the figure
	r.countUnits(phaseThroughput, "create", 10000)
	r.evaluate()
	if len(r.Targets) != 1 || r.Targets[0].Name != "CPU per create, every process" || r.Targets[0].Actual != "0.30 ms" || !r.Targets[0].Met {
		t.Fatalf("targets %+v, want CPU per create 0.30 ms, met", r.Targets)
	}
	var table bytes.Buffer
	r.printTable(&table)
	for _, s := range []string{"(3.0 in all)", "and apart, load generator (not the stack) 2.0", "0.300 in all", "and apart, load generator (not the stack) 0.200"} {
		if !strings.Contains(table.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, table.String())
		}
	}
}

func TestThePartsOfTheStackLeaveOutTheBenchProcesssChildren(t *testing.T) {
	const bench, fn, generator, postmaster, backend = 100, 200, 300, 400, 401
	procs := map[int]procTimes{
		// Its cutime holds a load generator (and a pgbench) it has waited for.
		bench:      {ppid: 1, self: 300, children: 900},
		fn:         {ppid: bench, self: 150},
		generator:  {ppid: bench, self: 250}, // one running now
		postmaster: {ppid: 1, self: 10, children: 20},
		backend:    {ppid: postmaster, self: 70},
	}
	got := partsOf(procs, bench, map[string]int{"create-payment": fn}, postmaster)
	want := cpuByPart{benchProcess: 3, "create-payment": 1.5, "postgres": 1}
	if len(got) != len(want) {
		t.Fatalf("parts %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %v CPU seconds, want %v (parts %v)", k, got[k], v, got)
		}
	}
	if _, ok := partsOf(procs, bench, nil, 0)["postgres"]; ok {
		t.Error("an unknown postmaster was counted")
	}
}
