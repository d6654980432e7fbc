package runner

import (
	"log/slog"
	"syscall"

	"handler/function/local/connector"
	"handler/function/local/stack"
)

// The open-file budget of the runner's process, which holds the gateway, the
// connector, the embedded Kafka and (under make bench) the long-poll waiters.
// Every descriptor it may hold is counted, so that it cannot run out
// (before this budget it did, under the benchmark: a dial to a function
// failed with EMFILE and the call was answered 502):
//
//   - MaxClientConns callers' connections to the gateway (the UI's long-polls,
//     curl, the benchmark), counted twice, since a caller in this process (the
//     benchmark's long-polls) holds the other end; the connector calls the
//     gateway in memory (gateway.Transport) and holds none;
//   - the gateway's connections to each function's replicas, dialling, busy and
//     idle (gateway.Config.MaxConnsOf): functionConns for a function called
//     over HTTP, cronConns for one the cron connector calls once a schedule,
//     and for a function the connector feeds, its in-flight bound,
//     since each call in flight holds one;
//   - filesReserve for the rest: Kafka's listeners and connections (both ends
//     of the connector's), the children's pipes and log files, the gateway's
//     callback connections (two per callback worker at most).
//
// The bounds are per function, not per replica: the gateway spreads a
// function's calls over its replicas, so the descriptors here are the same
// however many there are. Each replica inherits this process's limit and
// holds at most its function's bound.
const (
	filesReserve = 1024
	// MaxClientConns holds the UI server's 1,000 long-polls, or the
	// benchmark's 1,000 waiters, with room for the rest.
	MaxClientConns = 2048
	// functionConns is OpenFaaS's max_idle_conns_per_host: a thousand
	// long-polls answered together each keep theirs.
	functionConns = 1024
	cronConns     = 16
)

// fileBudget is how the open-file limit is shared.
type fileBudget struct {
	Files    uint64         // the limit
	Clients  int            // the gateway's callers' connections
	Conns    map[string]int // the gateway's connections to each function
	InFlight map[string]int // the connector's bound per function it feeds, when lowered; nil for the default
}

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
func filesNeeded(st *stack.Stack) uint64 {
	n := uint64(filesReserve + 2*MaxClientConns)
	for _, fn := range st.Sorted() {
		n += uint64(fixedConns(fn))
	}
	return n + uint64(subscribers(st)*connector.DefaultMaxInFlight)
}

// fixedConns is the gateway's connections to a function the connector does
// not feed (0 for one it does).
func fixedConns(fn stack.Function) int {
	switch {
	case len(fn.Topics()) > 0:
		return 0
	case fn.Schedule() != "":
		return cronConns
	}
	return functionConns
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

// budget shares files (0: unknown, taken as enough) out. The callers and the
// functions called over HTTP get their fixed shares when these fit in half of
// what the reserve leaves, else that half in proportion; the functions the
// connector feeds share the rest.
//
// By Little's law a function whose calls take up to T keeps rate × T in
// flight, so at any common rate the fed functions need descriptors in
// proportion to their exec_timeout: each gets that share (at most
// connector.DefaultMaxInFlight, at least one). The warning says the rate this
// allows with every call at its exec_timeout: process-payment's provider takes
// at most 25 s of its 60, so the real rate is higher.
func budget(files uint64, st *stack.Stack, log *slog.Logger) fileBudget {
	b := fileBudget{Files: files, Clients: MaxClientConns, Conns: map[string]int{}}
	fed := map[string]float64{}
	total, fixed := 0.0, 2*MaxClientConns
	for _, fn := range st.Sorted() {
		if len(fn.Topics()) > 0 {
			fed[fn.Name] = fn.CallTimeout().Seconds()
			total += fed[fn.Name]
			continue
		}
		b.Conns[fn.Name] = fixedConns(fn)
		fixed += b.Conns[fn.Name]
	}
	if files == 0 || filesNeeded(st) <= files {
		for name := range fed {
			b.Conns[name] = connector.DefaultMaxInFlight
		}
		return b
	}
	avail := int(files - min(files, filesReserve))
	if fixed > avail/2 {
		shrink := func(n int) int { return max(n*(avail/2)/fixed, 1) }
		b.Clients = shrink(b.Clients)
		for name, n := range b.Conns {
			b.Conns[name] = shrink(n)
		}
	}
	rest := avail - 2*b.Clients
	for _, n := range b.Conns {
		rest -= n
	}
	b.InFlight = map[string]int{}
	for name, t := range fed {
		n := min(max(int(float64(rest)*t/total), 1), connector.DefaultMaxInFlight)
		b.InFlight[name], b.Conns[name] = n, n
	}
	log.Warn("the open-file limit lowers the connector's in-flight bounds (raise the hard limit: ulimit -Hn)",
		"open_files", files, "want_open_files", filesNeeded(st), "max_in_flight", b.InFlight,
		"payments_per_second_with_every_call_at_its_exec_timeout", int(float64(rest)/total))
	return b
}

// total is every descriptor the budget gives out, the reserve included.
func (b fileBudget) total() int {
	n := filesReserve + 2*b.Clients
	for _, c := range b.Conns {
		n += c
	}
	return n
}

// log reports the budget at start.
func (b fileBudget) log(log *slog.Logger) {
	log.Info("open-file budget", "open_files", b.Files, "reserve", filesReserve, "gateway_clients", b.Clients,
		"gateway_to_functions", b.Conns, "total", b.total())
}
