package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"handler/function/local/stack"
)

// Defaults for the zero fields of Config.
const (
	DefaultAddr      = "127.0.0.1:8080"
	DefaultNamespace = "openfaas-fn"
	// DefaultEnvProcess is the fprocess the golang-http template's image sets.
	DefaultEnvProcess = "./handler"
	// DefaultUpstreamTimeout is longer than the slowest function's
	// exec_timeout in stack.yml (process-payment, 60 s) and than get-payment's
	// 30 s long-poll, so the gateway is never the first to give up.
	DefaultUpstreamTimeout = 65 * time.Second
	DefaultShutdownTimeout = 15 * time.Second
	// DefaultCallbackTimeout bounds one POST to an X-Callback-Url. Callbacks
	// run beside the async workers, not on them, so a slow one delays only
	// other callbacks.
	DefaultCallbackTimeout = 10 * time.Second
	DefaultCallbackWorkers = 4
	DefaultAsyncWorkers    = 2
	// DefaultReadHeaderTimeout and DefaultReadBodyTimeout bound how long a
	// caller may take to send its request's headers and its body. No call of
	// the API needs more than a fraction of a second for either; a caller
	// trickling bytes to hold a connection is cut off.
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadBodyTimeout   = 10 * time.Second
	// DefaultAdminUser is the user of the admin routes (/system/*), as OpenFaaS's
	// secret basic-auth-user has it.
	DefaultAdminUser         = "admin"
	DefaultAsyncQueueSize    = 256
	DefaultAsyncMaxBodyBytes = 1 << 20 // NATS' default max_payload, which bounds the real queue too.
	DefaultEventHistory      = 1000
	// DefaultWakeTimeout is longer than a function's start (well under a
	// second here, a few seconds for a pulled image) and shorter than a
	// caller's patience.
	DefaultWakeTimeout  = 30 * time.Second
	DefaultSSEHeartbeat = 15 * time.Second
	DefaultProviderName = "payment-pet-local"
	DefaultVersion      = "dev"
)

// UpstreamFunc returns the base URL of a function's running process, or false
// when none is registered (not started yet, or restarting).
type UpstreamFunc func(function string) (*url.URL, bool)

// EventSource feeds /system/events, typically a Kafka consumer of the
// payments topics that calls publish once per record (see EventFromRecord).
// It runs until ctx is done. An error that ends it early is logged; the
// gateway keeps serving, since the stream is a developer aid.
type EventSource func(ctx context.Context, publish func(Event)) error

// DefaultCallbackHosts are the hosts an X-Callback-Url may name when
// Config.CallbackHosts is empty: this machine only.
var DefaultCallbackHosts = []string{"127.0.0.1", "::1", "localhost"}

// Config is everything the gateway needs, read once at start.
type Config struct {
	// Addr is the TCP address Run listens on.
	Addr string
	// Functions are the functions of stack.yml (stack.Stack.Sorted()); calls to
	// any other name answer 404.
	Functions []stack.Function
	// Upstream resolves a function to its process on every call, so the runner
	// can point a function at a new port when it restarts the process.
	// Upstreams.Lookup fits. Required.
	Upstream UpstreamFunc
	// Ready reports whether a function's process is ready, for
	// availableReplicas. Nil means "ready when Upstream knows it". Replicas,
	// when set, is used instead.
	Ready func(function string) bool
	// Replicas reports a function's desired and ready replicas, for
	// /system/functions and gateway_service_count. Nil means one replica,
	// available when Ready says so.
	Replicas func(function string) (replicas, available int)
	// Scale sets a function's replicas (POST /system/scale-function/<name>).
	// Nil answers that route 501.
	Scale func(function string, replicas int) error
	// Wake, when set, is called for a call to a function with no ready
	// replica (scaled to zero, or all restarting): it starts one and returns
	// once one is ready, or when ctx ends. The call waits for it and is then
	// forwarded; the wait is gateway_function_cold_start_seconds.
	Wake func(ctx context.Context, function string) error
	// WakeTimeout bounds that wait; past it the call answers 503.
	WakeTimeout time.Duration
	// Overview, when set, is sent as JSON on /system/overview (Server-Sent
	// Events) every OverviewEvery: the System page's state.
	Overview      func(ctx context.Context) any
	OverviewEvery time.Duration
	// Replay re-sends dead letters (POST /system/dead-letters/replay); nil
	// answers that route 501.
	Replay func(ctx context.Context, req ReplayRequest) (int, error)
	// Registry receives the gateway's metrics and is what /metrics serves, so
	// the runner can add the connector's. Nil means a registry of its own.
	Registry *prometheus.Registry
	// Namespace reported by /system/functions.
	Namespace string
	// EnvProcess reported by /system/functions.
	EnvProcess string
	// UpstreamTimeout bounds one call to a function, sync or async, including
	// streaming its answer.
	UpstreamTimeout time.Duration
	// ShutdownTimeout bounds graceful shutdown: in-flight calls, then the
	// async queue.
	ShutdownTimeout time.Duration
	// CallbackTimeout bounds one POST to an X-Callback-Url, answer included.
	CallbackTimeout time.Duration
	// CallbackWorkers is how many callbacks are sent at once; callbacks wait
	// in a queue of AsyncQueueSize, and one that finds it full is dropped.
	CallbackWorkers int
	// CallbackHosts are the only hosts (names or IP addresses, matched
	// exactly, without port) an X-Callback-Url may name; an async call with
	// any other answers 400 and is not queued. Empty means DefaultCallbackHosts.
	CallbackHosts []string
	// AdminUser and AdminPassword guard /system/* with HTTP basic auth, as the
	// OpenFaaS gateway does (its secrets basic-auth-user and
	// basic-auth-password). The password is required.
	AdminUser     string
	AdminPassword string
	// APIKeys, when set, are the bearer keys an /async-function caller must
	// present before its call is queued: the keys the API's functions accept
	// (secret payments-api-key). The function still checks its own access when
	// the call runs, as it does for /function/.
	APIKeys []string
	// ReadHeaderTimeout bounds reading a request's headers, ReadBodyTimeout
	// reading its body; neither limits how long the answer may take, so
	// long-polls and event streams are unaffected.
	ReadHeaderTimeout time.Duration
	ReadBodyTimeout   time.Duration
	// AsyncWorkers is how many queued calls run at once.
	AsyncWorkers int
	// AsyncQueueSize is how many accepted calls may wait; more answer 429.
	AsyncQueueSize int
	// AsyncMaxBodyBytes limits an async request body (it is held in memory);
	// larger bodies answer 413.
	AsyncMaxBodyBytes int64
	// EventHistory is how many recent events a new /system/events subscriber
	// receives first.
	EventHistory int
	// SSEHeartbeat is the interval of comment lines that keep idle event
	// streams open through proxies.
	SSEHeartbeat time.Duration
	// EventSource, when set, runs alongside the server and feeds /system/events.
	EventSource EventSource
	// OpenAPI, when set, is the API's OpenAPI document: served at /openapi.yaml
	// and rendered as a readable page at /docs.
	OpenAPI []byte
	// MaxClientConns bounds the connections callers hold open to the gateway
	// at once, HTTP/1.1 or HTTP/2, busy or idle (see budget.go).
	// MaxConnsOf bounds, per function, the gateway's connections to all its
	// replicas together, dialling, busy or idle, and so its calls in flight;
	// MaxConns is the bound of every function MaxConnsOf does not name. Zero
	// fields are derived from the open-file limit (defaultBudget); together
	// they must fit in it.
	MaxClientConns int
	MaxConns       int
	MaxConnsOf     map[string]int
	// ProviderName and Version are reported by /system/info.
	ProviderName string
	Version      string
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	setDefault(&c.Addr, DefaultAddr)
	setDefault(&c.Namespace, DefaultNamespace)
	setDefault(&c.EnvProcess, DefaultEnvProcess)
	setDefault(&c.UpstreamTimeout, DefaultUpstreamTimeout)
	setDefault(&c.ShutdownTimeout, DefaultShutdownTimeout)
	setDefault(&c.CallbackTimeout, DefaultCallbackTimeout)
	setDefault(&c.CallbackWorkers, DefaultCallbackWorkers)
	if len(c.CallbackHosts) == 0 {
		c.CallbackHosts = DefaultCallbackHosts
	}
	setDefault(&c.AdminUser, DefaultAdminUser)
	setDefault(&c.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	setDefault(&c.ReadBodyTimeout, DefaultReadBodyTimeout)
	setDefault(&c.AsyncWorkers, DefaultAsyncWorkers)
	setDefault(&c.AsyncQueueSize, DefaultAsyncQueueSize)
	setDefault(&c.AsyncMaxBodyBytes, DefaultAsyncMaxBodyBytes)
	setDefault(&c.EventHistory, DefaultEventHistory)
	setDefault(&c.SSEHeartbeat, DefaultSSEHeartbeat)
	setDefault(&c.ProviderName, DefaultProviderName)
	setDefault(&c.Version, DefaultVersion)
	setDefault(&c.WakeTimeout, DefaultWakeTimeout)
	setDefault(&c.OverviewEvery, time.Second)
	clients, perFunction := defaultBudget(openFileLimit(), len(c.Functions))
	setDefault(&c.MaxClientConns, clients)
	setDefault(&c.MaxConns, perFunction)
	return c
}

// maxConns is the bound on function's connections.
func (c Config) maxConns(function string) int {
	if n, ok := c.MaxConnsOf[function]; ok {
		return n
	}
	return c.MaxConns
}

func setDefault[T comparable](field *T, def T) {
	var zero T
	if *field == zero {
		*field = def
	}
}

// Validate reports every problem of a configuration whose defaults are applied.
func (c Config) Validate() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, errors.New("addr is empty"))
	}
	if len(c.Functions) == 0 {
		errs = append(errs, errors.New("no functions"))
	}
	seen := make(map[string]bool, len(c.Functions))
	for _, fn := range c.Functions {
		switch {
		case fn.Name == "" || strings.ContainsAny(fn.Name, "/?#"):
			errs = append(errs, fmt.Errorf("function name %q is not a path segment", fn.Name))
		case seen[fn.Name]:
			errs = append(errs, fmt.Errorf("function %s is listed twice", fn.Name))
		}
		seen[fn.Name] = true
	}
	if c.Upstream == nil {
		errs = append(errs, errors.New("upstream lookup is nil"))
	}
	if c.AdminPassword == "" {
		errs = append(errs, errors.New("admin password is empty: /system/* would be open to anyone"))
	}
	positive := []struct {
		name string
		ok   bool
	}{
		{"upstream timeout", c.UpstreamTimeout > 0},
		{"shutdown timeout", c.ShutdownTimeout > 0},
		{"callback timeout", c.CallbackTimeout > 0},
		{"callback workers", c.CallbackWorkers > 0},
		{"read header timeout", c.ReadHeaderTimeout > 0},
		{"read body timeout", c.ReadBodyTimeout > 0},
		{"async workers", c.AsyncWorkers > 0},
		{"async queue size", c.AsyncQueueSize > 0},
		{"async max body bytes", c.AsyncMaxBodyBytes > 0},
		{"event history", c.EventHistory > 0},
		{"SSE heartbeat", c.SSEHeartbeat > 0},
		{"wake timeout", c.WakeTimeout > 0},
		{"overview interval", c.OverviewEvery > 0},
		{"client connections", c.MaxClientConns > 0},
	}
	conns := c.MaxClientConns
	for _, fn := range c.Functions {
		n := c.maxConns(fn.Name)
		positive = append(positive, struct {
			name string
			ok   bool
		}{"connections to " + fn.Name, n > 0})
		conns += n
	}
	for name := range c.MaxConnsOf {
		if !seen[name] {
			errs = append(errs, fmt.Errorf("connections bounded for %s, which is not a function", name))
		}
	}
	if files := openFileLimit(); files > 0 && uint64(conns) > files {
		errs = append(errs, fmt.Errorf("%d client connections and %d to the functions pass the open-file limit %d", c.MaxClientConns, conns-c.MaxClientConns, files))
	}
	for _, p := range positive {
		if !p.ok {
			errs = append(errs, fmt.Errorf("%s must be positive", p.name))
		}
	}
	return errors.Join(errs...)
}

// Upstreams is a concurrency-safe function → base URL table whose Lookup
// method is an UpstreamFunc. The zero value is ready to use.
type Upstreams struct {
	mu      sync.RWMutex
	targets map[string]url.URL
}

// Set points function at target, replacing any earlier address.
func (u *Upstreams) Set(function string, target *url.URL) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.targets == nil {
		u.targets = make(map[string]url.URL)
	}
	u.targets[function] = *target
}

// Remove forgets function's address, e.g. while its process restarts.
func (u *Upstreams) Remove(function string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.targets, function)
}

// Lookup returns a copy of function's address.
func (u *Upstreams) Lookup(function string) (*url.URL, bool) {
	u.mu.RLock()
	defer u.mu.RUnlock()
	target, ok := u.targets[function]
	if !ok {
		return nil, false
	}
	return &target, true
}
