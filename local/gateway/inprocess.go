package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"strconv"
)

// Transport returns an http.RoundTripper that serves each request with the
// gateway's own handler, in memory. It is for a caller in the gateway's
// process: the local Kafka connector, whose every delivery is a call through
// the gateway. Over a loopback connection each call cost two more writes and
// reads, HTTP/2 framing on both ends and a goroutine per frame written, a
// third of this process's CPU per settled payment (docs/benchmarks.md).
// Deployed, the OpenFaaS connector makes the same calls over HTTP; what the
// gateway does with a call (routing, scaling from zero, metrics, limits, the
// proxied call to a replica) is the same either way.
//
// The response is complete when RoundTrip returns; its body keeps the first
// maxBody bytes and drops the rest (the connector reads only the start of a
// failure's body). A handler that panics fails the call with an error, where
// net/http's server would drop the connection. A caller that gives up gets its
// context's error, and the proxied call is cancelled with it. The gateway's
// Shutdown does not wait for these calls: stop their caller first
// (local/runner stops the connector, then the gateway).
func (g *Gateway) Transport(maxBody int) http.RoundTripper {
	return &inProcess{g: g, maxBody: maxBody}
}

type inProcess struct {
	g       *Gateway
	maxBody int
}

func (t *inProcess) RoundTrip(req *http.Request) (resp *http.Response, err error) {
	// A RoundTripper must leave its caller's request as it is. The handlers
	// replace fields (the body's reader) but never change the header (the
	// call id goes on the proxied copy), so a shallow copy will do: cloning
	// the header for every call was 3 % of this process's CPU.
	in := req.WithContext(req.Context())
	in.RequestURI = req.URL.RequestURI()
	if in.Host == "" {
		in.Host = req.URL.Host
	}
	if in.Body == nil {
		in.Body = http.NoBody
	}
	defer in.Body.Close()

	w := &bufferedResponse{header: http.Header{}, maxBody: t.maxBody}
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		// net/http's server recovers these too: ErrAbortHandler silently,
		// anything else with its stack in the log.
		if p != http.ErrAbortHandler {
			t.g.log.Error("in-process call panicked", "path", req.URL.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
		resp, err = nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Redacted(), errAborted)
	}()
	t.g.handler.ServeHTTP(w, in)
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	return w.response(req), nil
}

// bufferedResponse is the http.ResponseWriter of an in-process call.
type bufferedResponse struct {
	header    http.Header
	sent      http.Header // the header as it was at WriteHeader, as a server would have sent it
	status    int
	body      bytes.Buffer
	maxBody   int
	truncated bool
}

func (w *bufferedResponse) Header() http.Header { return w.header }

func (w *bufferedResponse) WriteHeader(code int) {
	// 1xx answers are interim (the caller would see only the final one);
	// after the final one, later calls are ignored, as a server ignores them.
	if w.status != 0 || code < 200 {
		return
	}
	w.status = code
	// As on a connection, what the handler changes in its header from now on
	// is not sent: it gets a new map, and the response keeps this one.
	w.sent, w.header = w.header, http.Header{}
}

func (w *bufferedResponse) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	keep := min(len(p), w.maxBody-w.body.Len())
	if keep < len(p) {
		w.truncated = true
	}
	if keep > 0 {
		w.body.Write(p[:keep])
	}
	return len(p), nil
}

// Flush is a no-op: the caller gets the response when the handler returns.
// Having it lets the reverse proxy flush as it would on a connection.
func (w *bufferedResponse) Flush() {}

func (w *bufferedResponse) response(req *http.Request) *http.Response {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	length := int64(w.body.Len())
	if w.truncated {
		length = -1
	}
	return &http.Response{
		Status:        strconv.Itoa(w.status) + " " + http.StatusText(w.status),
		StatusCode:    w.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        w.sent,
		Body:          io.NopCloser(bytes.NewReader(w.body.Bytes())),
		ContentLength: length,
		Request:       req,
	}
}

// errAborted is what a caller sees for a call the handler aborted.
var errAborted = errors.New("the gateway aborted the call")
