package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// OpenFaaS headers.
const (
	headerCallID         = "X-Call-Id"
	headerStartTime      = "X-Start-Time"
	headerCallbackURL    = "X-Callback-Url"
	headerFunctionStatus = "X-Function-Status"
	headerFunctionName   = "X-Function-Name"
	headerDuration       = "X-Duration-Seconds"
)

// statusClientClosed is logged (never sent) when the caller left before the
// function answered; the number is nginx's convention.
const statusClientClosed = 499

// call is one proxied invocation, carried in the request context from the
// handler to the ReverseProxy hooks.
type call struct {
	fn     *function
	target *url.URL
	path   string // escaped path below /function/<name>, at least "/"
	id     string
	start  time.Time
	status int
	// body is the request's body when bufferBody read it (nil otherwise).
	body []byte
}

type callKey struct{}

// stampCall returns a call's id (the caller's X-Call-Id, or a new UUID) and
// start; the function gets them as X-Call-Id and X-Start-Time, as from the
// OpenFaaS gateway's call-id middleware. They are set on the request that goes
// to the function, never on r: the gateway's handlers leave their request's
// header as it came (the in-process Transport relies on it).
func stampCall(r *http.Request) (string, time.Time) {
	start := time.Now()
	id := r.Header.Get(headerCallID)
	if id == "" {
		id = uuid.NewString()
	}
	return id, start
}

func setCallHeaders(h http.Header, c *call) {
	h.Set(headerCallID, c.id)
	h.Set(headerStartTime, strconv.FormatInt(c.start.UnixNano(), 10))
}

// subPath returns the escaped path after /<route>/<name>, or "/" when there is
// none. It works on the escaped path so that encoded slashes and the like reach
// the function as the caller sent them.
func subPath(r *http.Request, route string) string {
	p := strings.TrimPrefix(r.URL.EscapedPath(), "/"+route+"/")
	if i := strings.IndexByte(p, '/'); i >= 0 {
		return p[i:]
	}
	return "/"
}

func (g *Gateway) serveFunction(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	id, start := stampCall(r)
	fn, ok := g.functions[name]
	if !ok {
		setCallHeaders(w.Header(), &call{id: id, start: start})
		httpError(w, http.StatusNotFound, "Cannot find service: %s.", name)
		return
	}
	c := &call{fn: fn, path: subPath(r, "function"), id: id, start: start}
	finish := g.metrics.begin(fn)
	defer func() {
		// Deferred so it also runs when ReverseProxy aborts a broken stream
		// with http.ErrAbortHandler.
		finish(c.status)
		// Every call at debug level, failures (5xx) at info: under load a
		// line per call, and the runner copying it, cost a few per cent of
		// this process's CPU (docs/benchmarks.md).
		level := slog.LevelDebug
		if c.status >= 500 {
			level = slog.LevelInfo
		}
		g.log.Log(r.Context(), level, "call", "function", name, "method", r.Method, "path", c.path,
			"status", c.status, "duration_ms", float64(time.Since(start).Microseconds())/1000, "call_id", id)
	}()

	target, ok := g.upstream(r.Context(), name, id)
	if !ok {
		c.status = http.StatusServiceUnavailable
		setCallHeaders(w.Header(), c)
		w.Header().Set("Retry-After", "1")
		httpError(w, c.status, "No endpoints available for: %s.", name)
		return
	}
	c.target = target
	var err error
	if c.body, err = bufferBody(r); err != nil {
		c.status = http.StatusBadRequest
		if errors.Is(err, os.ErrDeadlineExceeded) {
			c.status = http.StatusRequestTimeout
		}
		setCallHeaders(w.Header(), c)
		g.bodyReadError(w, err)
		return
	}

	// One of the function's slots (budget.go), waited for up to pool.wait;
	// past that the call answers 503 before anything reached the function,
	// where without the bound its dial would have failed (EMFILE) with a 502.
	pool := g.pools[name]
	if !pool.admit(r.Context()) {
		if r.Context().Err() != nil {
			c.status = statusClientClosed
			return
		}
		c.status = http.StatusServiceUnavailable
		setCallHeaders(w.Header(), c)
		busy(w, name)
		return
	}
	defer pool.calls.release()

	ctx, cancel := context.WithTimeout(context.WithValue(r.Context(), callKey{}, c), g.cfg.UpstreamTimeout)
	defer cancel()
	g.proxy.ServeHTTP(w, r.WithContext(ctx))
}

// busy answers a call to a function whose connections were all in use for
// as long as the call could wait: 503 with Retry-After, nothing sent to it.
// The call's own log line (serveFunction) records it.
func busy(w http.ResponseWriter, name string) {
	w.Header().Set("Retry-After", "1")
	httpError(w, http.StatusServiceUnavailable, "Every connection to %s is in use; retry later.", name)
}

// upstream returns a ready replica of the function. With none and a Wake
// hook (scale from zero), the call waits here while one starts, up to
// WakeTimeout, and the wait is measured as a cold start.
func (g *Gateway) upstream(ctx context.Context, name, callID string) (*url.URL, bool) {
	if target, ok := g.cfg.Upstream(name); ok || g.cfg.Wake == nil {
		return target, ok
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, g.cfg.WakeTimeout)
	defer cancel()
	for {
		if err := g.cfg.Wake(ctx, name); err != nil {
			g.log.Warn("function did not wake", "function", name, "call_id", callID, "waited_ms", time.Since(start).Milliseconds(), "err", err)
			return nil, false
		}
		// Another waiter's call may have been the replica's last before it
		// stopped again; then wake it again, within the same deadline.
		if target, ok := g.cfg.Upstream(name); ok {
			waited := time.Since(start)
			g.metrics.coldStarts.WithLabelValues(name).Observe(waited.Seconds())
			g.log.Info("cold start", "function", name, "call_id", callID, "waited_ms", waited.Milliseconds())
			return target, true
		}
	}
}

// maxBufferedBody is the largest request body read into memory before it is
// proxied; every payment call is far smaller.
const maxBufferedBody = 64 << 10

// bufferBody reads a small request body of known length into memory and
// returns it (nil for a larger or chunked body, which still streams). rewrite
// hands it to the transport as an in-memory reader, so that headers and body
// go in one write: a body whose end net/http cannot see makes it flush the
// headers first (transferWriter.FlushHeaders), one more system call per call.
// It fails when the caller sent less than it announced, or too slowly.
func bufferBody(r *http.Request) ([]byte, error) {
	if r.ContentLength <= 0 || r.ContentLength > maxBufferedBody {
		return nil, nil
	}
	body := make([]byte, r.ContentLength)
	if _, err := io.ReadFull(r.Body, body); err != nil {
		return nil, err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return body, nil
}

// roundTripper is a function that is an http.RoundTripper.
type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func (g *Gateway) newReverseProxy() *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: rewrite,
		Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
			c := r.Context().Value(callKey{}).(*call)
			return g.pools[c.fn.meta.Name].transport.RoundTrip(r)
		}),
		// No periodic flushing: ReverseProxy already flushes every write of a
		// response without a Content-Length (a stream) and of text/event-stream
		// at once, and a long-poll's answer is one write. Flushing every write
		// of every answer cost a quarter of the gateway's CPU (docs/benchmarks.md).
		FlushInterval:  0,
		ModifyResponse: modifyResponse,
		BufferPool:     &copyBuffers{},
		ErrorHandler:   g.proxyError,
		// Failures after the answer began (a stream cut mid-way) only reach this log.
		ErrorLog: slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
	}
}

// copyBuffers lends the proxy its copy buffers: without a pool it allocates
// and clears 32 KiB for every answer, which showed in the gateway's profile
// as a tenth of its allocation under load (docs/benchmarks.md).
type copyBuffers struct{ pool sync.Pool }

func (p *copyBuffers) Get() []byte {
	if b, ok := p.pool.Get().(*[]byte); ok {
		return *b
	}
	return make([]byte, 32<<10)
}

func (p *copyBuffers) Put(b []byte) { p.pool.Put(&b) }

// rewrite points the outgoing request at the function's process, keeping the
// method, sub-path, query, headers and body.
func rewrite(pr *httputil.ProxyRequest) {
	c := pr.In.Context().Value(callKey{}).(*call)
	out := pr.Out.URL
	out.Scheme = c.target.Scheme
	out.Host = c.target.Host
	base := strings.TrimSuffix(c.target.EscapedPath(), "/")
	rawPath := base + c.path
	out.RawPath = rawPath
	if p, err := url.PathUnescape(rawPath); err == nil {
		out.Path = p
	} else {
		out.Path, out.RawPath = rawPath, ""
	}
	out.RawQuery = pr.In.URL.RawQuery
	pr.Out.Host = "" // the Host header follows the URL
	setCallHeaders(pr.Out.Header, c)
	if c.body != nil {
		// ReverseProxy wraps the body in a reader of its own, whose end
		// net/http cannot see, so it would send the headers in one write and
		// the body in another: two system calls, and two segments for the
		// function to read, for every call. An in-memory body goes with its
		// headers in one write.
		pr.Out.Body = io.NopCloser(bytes.NewReader(c.body))
	}

	// Rewrite drops the caller's X-Forwarded-* headers; keep the chain, as the
	// OpenFaaS proxy does, then add this hop.
	forwardedHost := pr.In.Header.Get("X-Forwarded-Host")
	if xff := pr.In.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		pr.Out.Header["X-Forwarded-For"] = xff
	}
	pr.SetXForwarded()
	if forwardedHost != "" {
		pr.Out.Header.Set("X-Forwarded-Host", forwardedHost)
	}
}

// modifyResponse returns the call id and start time with the function's
// answer and gives it a Content-Type the way the OpenFaaS proxy does: the
// function's, else the request's, else text/plain.
func modifyResponse(res *http.Response) error {
	c := res.Request.Context().Value(callKey{}).(*call)
	c.status = res.StatusCode
	setCallHeaders(res.Header, c)
	if res.Header.Get("Content-Type") == "" && res.StatusCode != http.StatusNoContent && res.StatusCode != http.StatusNotModified {
		contentType := res.Request.Header.Get("Content-Type")
		if contentType == "" {
			contentType = "text/plain"
		}
		res.Header.Set("Content-Type", contentType)
	}
	return nil
}

// proxyError answers a call whose function sent no response.
func (g *Gateway) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	c := r.Context().Value(callKey{}).(*call)
	name := c.fn.meta.Name
	setCallHeaders(w.Header(), c)
	switch {
	case errors.Is(err, context.DeadlineExceeded) && errors.Is(r.Context().Err(), context.DeadlineExceeded):
		c.status = http.StatusGatewayTimeout
		g.log.Warn("function timed out", "function", name, "timeout_ms", g.cfg.UpstreamTimeout.Milliseconds(), "call_id", c.id)
		httpError(w, c.status, "Timeout waiting for: %s after %s.", name, g.cfg.UpstreamTimeout)
	case errors.Is(err, os.ErrDeadlineExceeded):
		// A streamed body that did not arrive within ReadBodyTimeout.
		c.status = http.StatusRequestTimeout
		w.Header().Set("Connection", "close")
		httpError(w, c.status, "The request body did not arrive within %s.", g.cfg.ReadBodyTimeout)
	case r.Context().Err() != nil:
		// The caller went away; nobody reads an answer.
		c.status = statusClientClosed
	case errors.Is(err, errNoConnection):
		c.status = http.StatusServiceUnavailable
		busy(w, name)
	default:
		c.status = http.StatusBadGateway
		g.log.Warn("function unreachable", "function", name, "upstream", c.target.String(), "call_id", c.id, "err", err)
		httpError(w, c.status, "Can't reach service for: %s.", name)
	}
}

// httpError writes a plain-text error like the OpenFaaS gateway's.
func httpError(w http.ResponseWriter, status int, format string, args ...any) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	fmt.Fprintf(w, format, args...)
}
