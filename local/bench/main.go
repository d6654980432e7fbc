// Command bench measures the local stack against the limits of the machine it
// runs on, in one run: create-payment throughput and latency through the
// gateway, payments created → applied end to end, the cost of waiting
// long-polls, each function's memory and start-up time, and, for scale, a
// pgbench insert run and a raw Sarama produce loop on the same Postgres and
// Kafka. It prints a table of the figures as ratios to those limits and writes
// the same as JSON (make bench).
//
//	go run ./local/bench                         # everything, about 5 minutes
//	go run ./local/bench -phases latency,e2e     # some of it
//	go run ./local/bench -profile .local/bench/profiles
//
// It starts its own stack (a private Postgres cluster, the embedded Kafka
// cluster, every function) on free ports in a fresh state folder, with an
// instant payment provider, and stops it at the end.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"handler/function/local/bench/loadgen"
	"handler/function/local/runner"
)

func main() {
	runner.TuneGC(os.Getenv)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) == 2 && os.Args[1] == loadgen.ChildArg {
		// Started by the benchmark to generate a phase's load in a process
		// of its own.
		if err := loadgen.Child(ctx, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "bench load generator:", err)
			os.Exit(1)
		}
		return
	}
	cfg, err := ConfigFromFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if err := Run(ctx, cfg, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
