package runner

import (
	"log/slog"
	"syscall"

	"handler/function/local/connector"
	"handler/function/local/stack"
)

// Each call the connector has in flight holds one descriptor in this process
// (the gateway's connection to the function; the connector's calls to the
// gateway share a few HTTP/2 connections) and one in the function's process.
// The bounds are per function, not per replica: the connector's calls to a
// function go through the gateway, which spreads them over the function's
// replicas (package scaler), so the descriptors in this process are the same
// however many replicas there are, and no replica holds more than its
// function's bound. Each replica inherits this process's limit.
// filesReserve is kept for everything else: the UI's and the benchmark's
// clients, Kafka's and Postgres's connections, idle connections.
const filesReserve = 4096

// subscribers counts the functions the connector delivers records to.
func subscribers(st *stack.Stack) int {
	n := 0
	for _, fn := range st.Sorted() {
		if len(fn.Topics()) > 0 {
			n++
		}
	}
	return n
}

// filesNeeded is the open-file limit that lets every subscribed function have
// connector.DefaultMaxInFlight calls in flight at once, as after a backlog.
func filesNeeded(subscribers int) uint64 {
	return uint64(subscribers*connector.DefaultMaxInFlight + filesReserve)
}

// raiseFileLimit raises this process's open-file limit to want, the hard limit
// too when it is allowed to (root), or as far as the hard limit allows, and
// returns the limit it has. The functions, started later, inherit it (once a
// program sets the limit, Go no longer restores the original soft limit in its
// children).
func raiseFileLimit(want uint64, log *slog.Logger) uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		log.Warn("cannot read the open-file limit", "err", err)
		return 0
	}
	if lim.Cur >= want {
		return lim.Cur
	}
	raised := syscall.Rlimit{Cur: want, Max: max(lim.Max, want)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err == nil {
		return want
	}
	raised = syscall.Rlimit{Cur: lim.Max, Max: lim.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
		log.Warn("cannot raise the open-file limit", "err", err)
		return lim.Cur
	}
	return lim.Max
}

// inFlightBounds gives each subscribed function its bound on calls in flight
// when the open-file limit cannot hold connector.DefaultMaxInFlight for every
// one of them (nil when it can, or is unknown). By Little's law a function
// whose calls take up to T keeps rate × T in flight, so at any common rate the
// functions need descriptors in proportion to their exec_timeout: each gets
// that share of the limit (at least 256, at most the default). The warning says
// the rate this allows with every call at its exec_timeout: process-payment's
// provider takes at most 25 s of its 60, so the real rate is higher.
func inFlightBounds(files uint64, st *stack.Stack, log *slog.Logger) map[string]int {
	n := subscribers(st)
	if files == 0 || n == 0 || filesNeeded(n) <= files {
		return nil
	}
	budget := float64(files - min(files, filesReserve))
	times := map[string]float64{}
	total := 0.0
	for _, fn := range st.Sorted() {
		if len(fn.Topics()) == 0 {
			continue
		}
		d := fn.CallTimeout()
		times[fn.Name] = d.Seconds()
		total += d.Seconds()
	}
	bounds := map[string]int{}
	for name, t := range times {
		bounds[name] = min(max(int(budget*t/total), 256), connector.DefaultMaxInFlight)
	}
	log.Warn("the open-file limit lowers the connector's in-flight bounds (raise the hard limit: ulimit -Hn)",
		"open_files", files, "want_open_files", filesNeeded(n), "max_in_flight", bounds,
		"payments_per_second_with_every_call_at_its_exec_timeout", int(budget/total))
	return bounds
}
