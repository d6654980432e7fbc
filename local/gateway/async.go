package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// asyncCall is an accepted /async-function call waiting for a worker.
type asyncCall struct {
	fn       *function
	path     string // escaped path below /async-function/<name>, at least "/"
	rawQuery string
	header   http.Header
	body     []byte
	callback *url.URL // nil without X-Callback-Url
	id       string
	accepted time.Time

	// Set once the call has run, for its callback.
	result   asyncResult
	duration time.Duration
}

var (
	errQueueFull   = errors.New("async queue is full")
	errQueueClosed = errors.New("async queue is closed")
)

// asyncQueue is the bounded in-memory stand-in for the NATS queue (and the
// queue of answers waiting for their callback). The mutex
// makes enqueue and close mutually exclusive, so a late request can never
// send on the closed channel.
type asyncQueue struct {
	mu     sync.Mutex
	closed bool
	calls  chan *asyncCall
	// lost counts calls dropped because shutdown ran out of time.
	lost atomic.Int64
}

func newAsyncQueue(size int) *asyncQueue {
	return &asyncQueue{calls: make(chan *asyncCall, size)}
}

func (q *asyncQueue) enqueue(c *asyncCall) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return errQueueClosed
	}
	select {
	case q.calls <- c:
		return nil
	default:
		return errQueueFull
	}
}

// close stops accepting calls; the workers still drain the ones queued.
func (q *asyncQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.calls)
	}
}

func (g *Gateway) serveAsyncFunction(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	id, start := stampCall(r)
	setCallHeaders(w.Header(), &call{id: id, start: start})
	fn, ok := g.functions[name]
	if !ok {
		httpError(w, http.StatusNotFound, "Cannot find service: %s.", name)
		return
	}

	// A queued call costs a place in the queue and a worker's time, so only a
	// caller with the API's key may queue one; the function still checks the
	// call itself when it runs, exactly as for /function/.
	if !g.asyncAuthorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="payments"`)
		httpError(w, http.StatusUnauthorized, "A valid API key is required to queue a call: Authorization: Bearer <key>.")
		return
	}

	var callback *url.URL
	if raw := r.Header.Get(headerCallbackURL); raw != "" {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			httpError(w, http.StatusBadRequest, "%s must be an absolute http(s) URL, got %q.", headerCallbackURL, raw)
			return
		}
		// Checked now, not when the callback is sent: a caller learns at once,
		// and the gateway never becomes a way into addresses only it can reach.
		if !g.callbackAllowed(u.Hostname()) {
			httpError(w, http.StatusBadRequest, "%s may only name these hosts: %s; %q is not one of them.",
				headerCallbackURL, strings.Join(g.cfg.CallbackHosts, ", "), u.Hostname())
			return
		}
		callback = u
	}

	// The body is held in memory until a worker runs the call, so it is capped.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, g.cfg.AsyncMaxBodyBytes))
	if err != nil {
		if maxErr, ok := errors.AsType[*http.MaxBytesError](err); ok {
			httpError(w, http.StatusRequestEntityTooLarge, "Request body is larger than %d bytes.", maxErr.Limit)
			return
		}
		g.bodyReadError(w, err)
		return
	}

	c := &asyncCall{
		fn:       fn,
		path:     subPath(r, "async-function"),
		rawQuery: r.URL.RawQuery,
		header:   r.Header.Clone(),
		body:     body,
		callback: callback,
		id:       id,
		accepted: start,
	}
	setCallHeaders(c.header, &call{id: id, start: start})
	switch err := g.queue.enqueue(c); {
	case errors.Is(err, errQueueFull):
		g.log.Warn("async call refused: queue full", "function", name, "queue_size", g.cfg.AsyncQueueSize, "call_id", id)
		w.Header().Set("Retry-After", "1")
		httpError(w, http.StatusTooManyRequests, "Async queue is full (%d calls waiting); retry later.", g.cfg.AsyncQueueSize)
		return
	case err != nil:
		w.Header().Set("Retry-After", "1")
		httpError(w, http.StatusServiceUnavailable, "Gateway is shutting down.")
		return
	}
	g.log.Info("async call queued", "function", name, "path", c.path, "bytes", len(body),
		"callback", callback != nil, "call_id", id)
	w.WriteHeader(http.StatusAccepted)
}

// asyncWorker runs queued calls until the queue is closed and empty. Once ctx
// is done (shutdown out of time) it only counts the remaining calls as lost.
func (g *Gateway) asyncWorker(ctx context.Context) {
	for c := range g.queue.calls {
		if ctx.Err() != nil {
			g.queue.lost.Add(1)
			g.log.Warn("async call lost at shutdown", "function", c.fn.meta.Name, "call_id", c.id)
			continue
		}
		g.runAsync(ctx, c)
	}
}

// asyncResult is a function's answer to an async call; status 503 with no
// header stands for "could not call it", as in the OpenFaaS queue-worker.
type asyncResult struct {
	status int
	header http.Header
	body   []byte
}

func (g *Gateway) runAsync(ctx context.Context, c *asyncCall) {
	name := c.fn.meta.Name
	finish := g.metrics.begin(c.fn)
	started := time.Now()
	res, err := g.invokeAsync(ctx, c)
	duration := time.Since(started)
	finish(res.status)
	if err != nil && ctx.Err() != nil {
		g.queue.lost.Add(1)
		g.log.Warn("async call cut off at shutdown", "function", name, "call_id", c.id, "err", err)
		return
	}
	if err != nil {
		g.log.Warn("async call failed", "function", name, "call_id", c.id, "err", err)
	}
	g.log.Info("async call done", "function", name, "status", res.status, "duration_ms", float64(duration.Microseconds())/1000,
		"waited_ms", float64(started.Sub(c.accepted).Microseconds())/1000, "call_id", c.id)
	if c.callback == nil {
		return
	}
	c.result, c.duration = res, duration
	if err := g.answered.enqueue(c); err != nil {
		g.log.Warn("async callback dropped: callback queue full", "function", name, "queue_size", g.cfg.AsyncQueueSize, "call_id", c.id)
	}
}

// callbackWorker posts answers to their X-Callback-Url until the queue of
// answers is closed and empty; once ctx is done it only counts what is left.
func (g *Gateway) callbackWorker(ctx context.Context) {
	for c := range g.answered.calls {
		if ctx.Err() != nil {
			g.answered.lost.Add(1)
			continue
		}
		if err := g.postCallback(ctx, c, c.result, c.duration); err != nil {
			g.log.Warn("async callback failed", "function", c.fn.meta.Name, "callback", c.callback.Redacted(), "call_id", c.id, "err", err)
		}
	}
}

func (g *Gateway) invokeAsync(ctx context.Context, c *asyncCall) (asyncResult, error) {
	unavailable := asyncResult{status: http.StatusServiceUnavailable}
	target, ok := g.upstream(ctx, c.fn.meta.Name, c.id)
	if !ok {
		return unavailable, errors.New("no endpoint registered")
	}
	u := *target
	u.RawPath = strings.TrimSuffix(target.EscapedPath(), "/") + c.path
	p, err := url.PathUnescape(u.RawPath)
	if err != nil {
		return unavailable, fmt.Errorf("bad path %q: %w", u.RawPath, err)
	}
	u.Path = p
	u.RawQuery = c.rawQuery

	pool := g.pools[c.fn.meta.Name]
	if !pool.admit(ctx) {
		return unavailable, fmt.Errorf("every one of its %d connections in use for %s", pool.conns.size(), pool.wait)
	}
	defer pool.calls.release()
	ctx, cancel := context.WithTimeout(ctx, g.cfg.UpstreamTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(c.body))
	if err != nil {
		return unavailable, fmt.Errorf("build request: %w", err)
	}
	req.Header = c.header.Clone()
	removeHopHeaders(req.Header)
	resp, err := pool.client.Do(req)
	if err != nil {
		return unavailable, fmt.Errorf("call function: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return unavailable, fmt.Errorf("read function response: %w", err)
	}
	return asyncResult{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// postCallback sends the function's answer to X-Callback-Url the way the
// OpenFaaS queue-worker does: the function's body and headers, plus its
// status, name, call id and duration.
func (g *Gateway) postCallback(ctx context.Context, c *asyncCall, res asyncResult, duration time.Duration) error {
	// The client's Timeout covers the answer's body too; this also does.
	ctx, cancel := context.WithTimeout(ctx, g.cfg.CallbackTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.callback.String(), bytes.NewReader(res.body))
	if err != nil {
		return fmt.Errorf("build callback: %w", err)
	}
	if res.header != nil {
		req.Header = res.header.Clone()
		removeHopHeaders(req.Header)
	}
	if req.Header.Get(headerDuration) == "" {
		req.Header.Set(headerDuration, strconv.FormatFloat(duration.Seconds(), 'f', 6, 64))
	}
	req.Header.Set(headerFunctionStatus, strconv.Itoa(res.status))
	req.Header.Set(headerFunctionName, c.fn.meta.Name)
	req.Header.Set(headerCallID, c.id)
	resp, err := g.callbacks.Do(req)
	if err != nil {
		return fmt.Errorf("post callback: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	if resp.StatusCode >= 300 {
		return fmt.Errorf("callback answered %s", resp.Status)
	}
	return nil
}

// hopHeaders apply to one connection and must not be forwarded (RFC 9110 §7.6.1).
var hopHeaders = []string{
	"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

func removeHopHeaders(h http.Header) {
	for _, f := range h.Values("Connection") {
		for _, name := range strings.Split(f, ",") {
			if name = strings.TrimSpace(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, name := range hopHeaders {
		h.Del(name)
	}
}
