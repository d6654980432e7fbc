package gateway

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"handler/function/local/stack"
)

// Gateway serves the OpenFaaS-style routes in front of the local functions.
// Create it with New and start it once with Run or Serve.
type Gateway struct {
	cfg       Config
	log       *slog.Logger
	functions map[string]*function
	sorted    []*function

	// pools hold each function's connections and calls within the budget
	// (budget.go); files is the open-file limit it was checked against.
	pools     map[string]*pool
	files     uint64
	listener  atomic.Pointer[clientListener] // callers' connections, once serving
	proxy     *httputil.ReverseProxy
	callbacks *http.Client // POSTs to X-Callback-Url
	queue     *asyncQueue
	// answered holds finished async calls whose answer waits for its POST to
	// X-Callback-Url, sent by their own workers so that a callback that never
	// answers cannot hold up the calls behind it.
	answered *asyncQueue
	apiKeys  [][sha256.Size]byte
	events   *Events
	handler  http.Handler
	docs     *apiDoc // parsed Config.OpenAPI, nil without one
	metrics  *metrics

	// stopping is closed when shutdown begins, to end the open event streams
	// (http.Server.Shutdown would otherwise wait for them until its deadline).
	stopping chan struct{}
	started  atomic.Bool
}

// function is one function of the stack and its counters.
type function struct {
	meta        stack.Function
	invocations atomic.Uint64
}

// New checks cfg (after filling in defaults) and builds a gateway; logger nil
// means slog.Default().
func New(cfg Config, logger *slog.Logger) (*Gateway, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("gateway config: %w", err)
	}
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("component", "gateway")

	g := &Gateway{
		cfg:       cfg,
		log:       logger,
		functions: make(map[string]*function, len(cfg.Functions)),
		pools:     make(map[string]*pool, len(cfg.Functions)),
		files:     openFileLimit(),
		queue:     newAsyncQueue(cfg.AsyncQueueSize),
		answered:  newAsyncQueue(cfg.AsyncQueueSize),
		events:    NewEvents(cfg.EventHistory, logger),
		stopping:  make(chan struct{}),
	}
	for _, key := range cfg.APIKeys {
		g.apiKeys = append(g.apiKeys, secretDigest(key))
	}
	for _, meta := range cfg.Functions {
		fn := &function{meta: meta}
		g.functions[meta.Name] = fn
		g.sorted = append(g.sorted, fn)
		g.pools[meta.Name] = newPool(cfg.maxConns(meta.Name), admitWait(meta.CallTimeout(), cfg.UpstreamTimeout))
	}
	sort.Slice(g.sorted, func(i, j int) bool { return g.sorted[i].meta.Name < g.sorted[j].meta.Name })
	if len(cfg.OpenAPI) > 0 {
		docs, err := parseAPIDoc(cfg.OpenAPI)
		if err != nil {
			return nil, err
		}
		g.docs = docs
	}

	m, err := newMetrics(g, cfg.Registry)
	if err != nil {
		return nil, fmt.Errorf("gateway metrics: %w", err)
	}
	g.metrics = m

	g.proxy = g.newReverseProxy()
	// Callbacks go to a few allowed hosts, one POST per worker at a time.
	g.callbacks = &http.Client{Transport: newTransport(cfg.CallbackWorkers, upstreamDialer.DialContext), Timeout: cfg.CallbackTimeout, CheckRedirect: noRedirects}
	g.handler = g.limitBodyRead(g.routes())
	return g, nil
}

// newTransport returns a transport for loopback upstreams: no proxy from the
// environment (an HTTP_PROXY must not capture 127.0.0.1 calls), a short dial
// timeout so a dead process fails fast, and no response-header timeout, since
// a long-poll legitimately sends nothing for 30 s; the per-call context bounds it.
//
// It keeps as many idle connections as it may open (conns, a function's share
// of the budget), so that a connection is closed only when its replica goes
// or it idles out: Go's defaults (100 in all, 2 per host) closed and
// redialled one for most calls once a few hundred were in flight, and a
// thousand long-polls answered together paid a close each. dial counts them.
func newTransport(conns int, dial func(context.Context, string, string) (net.Conn, error)) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.DialContext = dial
	t.MaxIdleConns = conns
	t.MaxIdleConnsPerHost = conns
	// The gateway lets an idle connection go before the function does. The
	// template's server closes one idle for its read_timeout (15 s and up
	// here); a transport that kept it longer could send a call just as the
	// server closes it, and a POST cut that way is not retried: make bench
	// saw one such 502 ("broken pipe") in 60,000 creates.
	t.IdleConnTimeout = 5 * time.Second
	t.ResponseHeaderTimeout = 0
	return t
}

// noRedirects hands a function's redirect to the caller, as the OpenFaaS
// provider's proxy client does.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Events returns the hub behind /system/events, for a publisher other than
// Config.EventSource.
func (g *Gateway) Events() *Events { return g.events }

// Handler returns the gateway's routes. Async calls are only executed while
// Run or Serve is running.
func (g *Gateway) Handler() http.Handler { return g.handler }

func (g *Gateway) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/function/{name}", g.serveFunction)
	mux.HandleFunc("/function/{name}/{rest...}", g.serveFunction)
	// With a method in the pattern, ServeMux answers other methods with 405
	// and an Allow header.
	mux.HandleFunc("POST /async-function/{name}", g.serveAsyncFunction)
	mux.HandleFunc("POST /async-function/{name}/{rest...}", g.serveAsyncFunction)
	// The admin routes: every path below /system/, known or not, asks for
	// the admin's credentials first.
	system := http.NewServeMux()
	system.HandleFunc("GET /system/functions", g.serveFunctions)
	system.HandleFunc("GET /system/function/{name}", g.serveFunctionStatus)
	system.HandleFunc("POST /system/scale-function/{name}", g.serveScaleFunction)
	system.HandleFunc("GET /system/info", g.serveInfo)
	system.HandleFunc("GET /system/events", g.serveEvents)
	system.HandleFunc("GET /system/overview", g.serveOverview)
	system.HandleFunc("POST /system/dead-letters/replay", g.serveReplay)
	mux.Handle("/system/", g.requireAdmin(system))
	mux.HandleFunc("GET /healthz", g.serveHealthz)
	// OpenFaaS serves metrics on a port of their own (8082); here they share
	// the gateway's, outside /system.
	mux.Handle("GET /metrics", g.metrics.handler())
	mux.HandleFunc("GET /openapi.yaml", g.serveOpenAPI)
	mux.HandleFunc("GET /docs", g.serveDocs)
	return mux
}

// Run listens on Config.Addr and serves until ctx is done, then shuts down
// gracefully (see Serve).
func (g *Gateway) Run(ctx context.Context) error {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", g.cfg.Addr)
	if err != nil {
		return fmt.Errorf("gateway listen on %s: %w", g.cfg.Addr, err)
	}
	return g.Serve(ctx, ln)
}

func gatewayProtocols() *http.Protocols {
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	return p
}

// Serve serves on ln (and closes it) until ctx is done. Shutdown then ends the
// event streams, waits for in-flight calls and for the async queue to drain,
// all within Config.ShutdownTimeout; what is left after that is cut off and
// reported in the returned error.
func (g *Gateway) Serve(ctx context.Context, ln net.Listener) error {
	if !g.started.CompareAndSwap(false, true) {
		ln.Close()
		return errors.New("gateway: already started")
	}
	clients := newClientListener(ln, g.cfg.MaxClientConns)
	g.listener.Store(clients)
	ln = clients
	srv := &http.Server{
		ConnState:         clients.track,
		Handler:           g.handler,
		ReadHeaderTimeout: g.cfg.ReadHeaderTimeout,
		// No ReadTimeout or WriteTimeout: both would cut long-polls and event
		// streams (a ReadTimeout even cancels the request context once it
		// passes). The body has its own deadline (limitBodyRead), lifted once
		// it has arrived; each proxied call is bounded by UpstreamTimeout.
		IdleTimeout: 2 * time.Minute,
		ErrorLog:    slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
		// HTTP/2 without TLS as well, for a connector in a process of its own
		// (connector.Config.GatewayHTTP2): it keeps a call open for each
		// payment the provider is working on (up to 12,500 at 500 payments/s),
		// and over HTTP/1.1 each would hold a connection. The local runner's
		// connector shares this process and calls in memory (Transport).
		Protocols: gatewayProtocols(),
		// 100 calls per connection (the connector opens another past that:
		// 12,500 waiting calls take 125). net/http's HTTP/2 server looks
		// through every open stream of a connection for each frame it writes,
		// so with 1,000 waiting streams per connection that search was a
		// tenth of this process's CPU under the provider's delay
		// (docs/benchmarks.md).
		HTTP2: &http.HTTP2Config{MaxConcurrentStreams: 100},
	}

	workerCtx, stopWorkers := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWorkers()
	var workers sync.WaitGroup
	for range g.cfg.AsyncWorkers {
		workers.Go(func() { g.asyncWorker(workerCtx) })
	}
	var callbackWorkers sync.WaitGroup
	for range g.cfg.CallbackWorkers {
		callbackWorkers.Go(func() { g.callbackWorker(workerCtx) })
	}

	sourceCtx, stopSource := context.WithCancel(ctx)
	defer stopSource()
	var source sync.WaitGroup
	if g.cfg.EventSource != nil {
		source.Go(func() {
			if err := g.cfg.EventSource(sourceCtx, g.events.Publish); err != nil && sourceCtx.Err() == nil {
				g.log.Error("event source stopped; /system/events gets no new records", "err", err)
			}
		})
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	g.log.Info("gateway listening", "addr", ln.Addr().String(), "functions", len(g.sorted))
	g.log.Info("connection budget", g.budgetAttrs()...)

	var errs []error
	select {
	case err := <-serveErr:
		// Serve only returns early on a listener failure.
		errs = append(errs, fmt.Errorf("gateway serve: %w", err))
	case <-ctx.Done():
	}

	g.log.Info("gateway shutting down", "timeout_ms", g.cfg.ShutdownTimeout.Milliseconds())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), g.cfg.ShutdownTimeout)
	defer cancel()
	close(g.stopping)
	stopSource()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		errs = append(errs, fmt.Errorf("gateway shutdown: %w", err))
		srv.Close() // cut the calls still running
	}

	// No handler enqueues any more, so the workers can drain what is left,
	// then the callback workers the answers they left.
	g.queue.close()
	drained := make(chan struct{})
	go func() {
		workers.Wait()
		g.answered.close()
		callbackWorkers.Wait()
		close(drained)
	}()
	select {
	case <-drained:
	case <-shutdownCtx.Done():
		stopWorkers() // aborts running calls; the workers drop the rest
		<-drained
	}
	if lost := g.queue.lost.Load(); lost > 0 {
		errs = append(errs, fmt.Errorf("gateway shutdown: %d async calls lost", lost))
	}
	if lost := g.answered.lost.Load(); lost > 0 {
		errs = append(errs, fmt.Errorf("gateway shutdown: %d callbacks not sent", lost))
	}
	source.Wait()
	for _, p := range g.pools {
		p.transport.CloseIdleConnections()
	}
	g.callbacks.CloseIdleConnections()
	g.log.Info("gateway stopped")
	return errors.Join(errs...)
}
