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
	if cfg.Concurrency != 64 || cfg.Rate != 1000 || cfg.E2EDuration != time.Minute || cfg.Waiters != 1000 || len(cfg.Phases) != len(allPhases) {
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
	r := newResults(Config{Rate: 1000, E2EDuration: time.Minute})
	r.Limits.PGBench = &PGBench{TPS: 1000}
	r.Throughput = &load.Summary{PerSecond: 299}
	r.Latency = &load.Summary{Latency: load.Latency{P99: 24.9}}
	r.EndToEnd = &EndToEnd{Seconds: 60, AppliedPerSecond: 1000, Unfinished: 1}
	r.LongPoll = &LongPoll{Waiters: 2, BaselinePerSecond: 0.5, WaitingPerSecond: 0.9, Answer: load.Latency{N: 2, Max: 12},
		Paced: load.Latency{N: 2, Max: 50}, PacedRate: 200}
	r.Functions["a"] = &Function{IdleRSSMB: 24, Ready: &load.Latency{P50: 51}}
	r.evaluate()
	want := map[string]bool{
		"create-payment throughput":                    false, // 0.299×
		"create-payment p99 at 1,000/s":                true,
		"created → applied":                            false, // one unfinished
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
	for _, s := range []string{"0.30× pgbench", "1000 /s", "24.0 / 0.0 / 0.0 MB"} {
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
