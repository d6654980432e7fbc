package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The gateway's descriptor budget. Every connection it holds is a descriptor
// of this process, and a process out of descriptors fails whatever it does
// next: a dial to a function (a 502 for a call the function never saw), an
// accept, Kafka's own connections in the same process. So nothing is opened
// past a count fixed at start:
//
//   - callers: at most MaxClientConns connections, active or idle. At the cap
//     an idle keep-alive connection is closed to make room, as nginx does when
//     it runs short (a caller's idle connection is the cheapest to lose: its
//     next request simply dials again); with none idle, new callers wait in
//     the kernel's accept queue until a connection ends.
//   - each function: at most its MaxConnsOf connections to all its replicas
//     together, dialling, active and idle alike, counted where they are
//     dialled and closed. Calls take a slot each first; a call that finds
//     them all busy waits (see admitWait) and is then answered 503 with
//     Retry-After, before anything reached the function.
//
// The open-file limit bounds the sum of the two (Validate); the runner sizes
// both, with the connector's and Kafka's share, from getrlimit (local/runner,
// files.go).

// openFileLimit is the process's open-file limit, 0 when unknown.
func openFileLimit() uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	return lim.Cur
}

// defaultBudget is the budget of a gateway that was given none, from the
// open-file limit: a quarter for callers, half shared evenly by the
// functions, a quarter left for everything else in the process.
func defaultBudget(files uint64, functions int) (clients, perFunction int) {
	if files == 0 || files > 1<<20 {
		files = 1 << 20
	}
	return max(int(files/4), 1), max(int(files/2)/max(functions, 1), 1)
}

// errNoConnection is a dial the budget refused: the function's connections
// are all open. The call never reached the function.
var errNoConnection = errors.New("every connection to the function's replicas is open")

// slots is a counting semaphore of descriptors (or of calls), with the most
// ever taken at once.
type slots struct {
	sem  chan struct{}
	peak atomic.Int64
}

func newSlots(n int) *slots { return &slots{sem: make(chan struct{}, n)} }

func (s *slots) tryAcquire() bool {
	select {
	case s.sem <- struct{}{}:
		s.notePeak()
		return true
	default:
		return false
	}
}

// acquire waits for a slot until done is closed.
func (s *slots) acquire(done <-chan struct{}) bool {
	select {
	case s.sem <- struct{}{}:
		s.notePeak()
		return true
	case <-done:
		return false
	}
}

func (s *slots) release()   { <-s.sem }
func (s *slots) inUse() int { return len(s.sem) }
func (s *slots) size() int  { return cap(s.sem) }

func (s *slots) notePeak() {
	n := int64(len(s.sem))
	for {
		p := s.peak.Load()
		if n <= p || s.peak.CompareAndSwap(p, n) {
			return
		}
	}
}

// countedConn gives its slot back when it is closed, once.
type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// clientListener accepts at most its slots' worth of caller connections.
type clientListener struct {
	net.Listener
	slots *slots
	done  chan struct{}
	close sync.Once

	// waiting is set while Accept waits for a slot: a connection that goes
	// idle then is closed at once, since it holds the slot a new caller needs.
	mu      sync.Mutex
	waiting bool
	idle    map[*countedConn]struct{} // keep-alive connections between requests
}

func newClientListener(ln net.Listener, n int) *clientListener {
	return &clientListener{Listener: ln, slots: newSlots(n), done: make(chan struct{}), idle: map[*countedConn]struct{}{}}
}

func (l *clientListener) Accept() (net.Conn, error) {
	if !l.slots.tryAcquire() {
		l.closeIdle()
		ok := l.slots.acquire(l.done)
		l.mu.Lock()
		l.waiting = false
		l.mu.Unlock()
		if !ok {
			return nil, net.ErrClosed
		}
	}
	c, err := l.Listener.Accept()
	if err != nil {
		l.slots.release()
		return nil, err
	}
	return &countedConn{Conn: c, release: l.slots.release}, nil
}

func (l *clientListener) Close() error {
	l.close.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// closeIdle closes one caller connection that is between requests, if any,
// and has the next one to go idle closed until Accept has its slot.
func (l *clientListener) closeIdle() {
	l.mu.Lock()
	l.waiting = true
	var victim *countedConn
	for c := range l.idle {
		victim = c
		delete(l.idle, c)
		break
	}
	l.mu.Unlock()
	if victim != nil {
		victim.Close()
	}
}

// track is the server's ConnState hook: it keeps the set of idle connections.
func (l *clientListener) track(c net.Conn, state http.ConnState) {
	cc, ok := c.(*countedConn)
	if !ok {
		return
	}
	l.mu.Lock()
	closeNow := state == http.StateIdle && l.waiting
	if state == http.StateIdle && !closeNow {
		l.idle[cc] = struct{}{}
	} else {
		delete(l.idle, cc)
	}
	l.mu.Unlock()
	if closeNow {
		cc.Close()
	}
}

// pool is one function's share of the budget: its calls in flight and its
// connections, each at most the function's cap, and a transport of its own,
// so that letting the idle connections go touches only this function's.
type pool struct {
	calls, conns *slots
	transport    *http.Transport
	client       *http.Client // async calls
	// wait is how long a call waits for a slot: the function's exec_timeout,
	// shortened so that the wait and a call that runs its whole exec_timeout
	// still fit in UpstreamTimeout (the connector's and the caller's deadlines
	// are set against that).
	wait time.Duration
}

func newPool(n int, wait time.Duration) *pool {
	p := &pool{calls: newSlots(n), conns: newSlots(n), wait: wait}
	p.transport = newTransport(n, p.dial)
	p.client = &http.Client{Transport: p.transport, CheckRedirect: noRedirects}
	return p
}

// dialWait bounds how long a dial waits for a connection slot.
const dialWait = time.Second

var upstreamDialer = &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}

// dial opens a connection only when the function has a slot for it. Calls
// never outnumber the slots, so a call that finds none has them held by idle
// connections to other replicas, or by a dial that another call, served by a
// connection that came free, no longer waits for (it will be idle in a
// moment): the idle ones are let go, until a slot is free or dialWait passes.
func (p *pool) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	deadline := time.Now().Add(dialWait)
	for !p.conns.tryAcquire() {
		p.transport.CloseIdleConnections()
		if p.conns.tryAcquire() {
			break
		}
		if time.Now().After(deadline) {
			return nil, errNoConnection
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(dialWait / 100):
		}
	}
	c, err := upstreamDialer.DialContext(ctx, network, addr)
	if err != nil {
		p.conns.release()
		return nil, err
	}
	return &countedConn{Conn: c, release: p.conns.release}, nil
}

// admit takes a call slot of the function, waiting up to the pool's wait;
// false when the wait ran out or the caller left.
func (p *pool) admit(ctx context.Context) bool {
	if p.calls.tryAcquire() {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, p.wait)
	defer cancel()
	return p.calls.acquire(ctx.Done())
}

// admitWait is how long a call to fn waits for one of its slots.
func admitWait(execTimeout, upstreamTimeout time.Duration) time.Duration {
	return max(min(execTimeout, upstreamTimeout-execTimeout), 0)
}

// budgetAttrs describes the budget for the start-up log.
func (g *Gateway) budgetAttrs() []any {
	names := make([]string, 0, len(g.pools))
	total := g.cfg.MaxClientConns
	for name, p := range g.pools {
		names = append(names, name)
		total += p.conns.size()
	}
	sort.Strings(names)
	perFunction := make([]string, 0, len(names))
	for _, name := range names {
		p := g.pools[name]
		perFunction = append(perFunction, fmt.Sprintf("%s=%d (wait %s)", name, p.conns.size(), p.wait))
	}
	return []any{"open_files", g.files, "clients", g.cfg.MaxClientConns, "functions", perFunction, "total", total}
}

// budgetCollector reports the budget's use when scraped: ours, not
// OpenFaaS's series.
type budgetCollector struct {
	g                                        *Gateway
	upstream, upstreamMax, client, clientMax *prometheus.Desc
}

func newBudgetCollector(g *Gateway) *budgetCollector {
	fn := []string{"function_name"}
	return &budgetCollector{g: g,
		upstream:    prometheus.NewDesc("gateway_upstream_connections", "Connections open to a function's replicas: dialling, busy or idle.", fn, nil),
		upstreamMax: prometheus.NewDesc("gateway_upstream_connections_max", "The most connections the gateway opens to a function's replicas.", fn, nil),
		client:      prometheus.NewDesc("gateway_client_connections", "Callers' connections open to the gateway.", nil, nil),
		clientMax:   prometheus.NewDesc("gateway_client_connections_max", "The most callers' connections the gateway holds.", nil, nil),
	}
}

func (b *budgetCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- b.upstream
	ch <- b.upstreamMax
	ch <- b.client
	ch <- b.clientMax
}

func (b *budgetCollector) Collect(ch chan<- prometheus.Metric) {
	for _, fn := range b.g.sorted {
		p := b.g.pools[fn.meta.Name]
		ch <- prometheus.MustNewConstMetric(b.upstream, prometheus.GaugeValue, float64(p.conns.inUse()), fn.meta.Name)
		ch <- prometheus.MustNewConstMetric(b.upstreamMax, prometheus.GaugeValue, float64(p.conns.size()), fn.meta.Name)
	}
	open := 0
	if l := b.g.listener.Load(); l != nil {
		open = l.slots.inUse()
	}
	ch <- prometheus.MustNewConstMetric(b.client, prometheus.GaugeValue, float64(open))
	ch <- prometheus.MustNewConstMetric(b.clientMax, prometheus.GaugeValue, float64(b.g.cfg.MaxClientConns))
}
