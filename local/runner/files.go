package runner

import (
	"log/slog"
	"syscall"

	"handler/function/local/connector"
)

// FilesNeeded is the open-file limit the local stack asks for. Each call the
// connector has in flight holds one descriptor in this process (the gateway's
// connection to the function; the connector's calls to the gateway share a
// few HTTP/2 connections) and one in the function's process: at
// connector.DefaultMaxInFlight calls that is 16,384, and as many again is left
// for everything else (the UI's and the benchmark's clients, Kafka's and
// Postgres's connections, the functions' idle connections).
const FilesNeeded = 2 * connector.DefaultMaxInFlight

// raiseFileLimit raises this process's open-file limit to want, the hard limit
// too when it is allowed to (root), and says so when it could not: past the
// limit, accept and dial fail and the calls are retried, so a slow provider
// then settles fewer payments per second than the stack creates. The
// functions, started later, inherit the limit (once a program sets it, Go no
// longer restores the original soft limit in its children).
func raiseFileLimit(want uint64, log *slog.Logger) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		log.Warn("cannot read the open-file limit", "err", err)
		return
	}
	if lim.Cur >= want {
		return
	}
	raised := syscall.Rlimit{Cur: want, Max: max(lim.Max, want)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err == nil {
		return
	}
	raised = syscall.Rlimit{Cur: lim.Max, Max: lim.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
		log.Warn("cannot raise the open-file limit", "err", err)
		return
	}
	log.Warn("open-file limit below what the connector's in-flight bound needs; with a 25 s provider the stack settles fewer payments per second than it could (raise the hard limit: ulimit -Hn)",
		"limit", lim.Max, "want", want, "calls_in_flight_at_most", lim.Max/2)
}
