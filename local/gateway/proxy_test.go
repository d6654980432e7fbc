package gateway

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
)

// seen is what a function stand-in received.
type seen struct {
	method, path, rawPath, query, body string
	header                             http.Header
}

func recordingUpstream(got chan<- seen) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.URL.Path, r.URL.RawPath, r.URL.RawQuery, string(body), r.Header.Clone()}
		w.Header().Set("X-Reply", "from-"+r.Method)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"echo":`+strconv.Quote(string(body))+`}`)
	}
}

func TestProxyPassesRequestAndResponse(t *testing.T) {
	tg := MustStartGateway(t, Config{})
	got := make(chan seen, 1)
	MustUpstream(t, tg, "echo", recordingUpstream(got))

	cases := []struct {
		method, path, wantPath string
	}{
		{http.MethodGet, "/function/echo?id=1&userId=a%20b", "/"},
		{http.MethodPost, "/function/echo", "/"},
		{http.MethodPut, "/function/echo/items/42?x=y", "/items/42"},
		{http.MethodPatch, "/function/echo/", "/"},
		{http.MethodDelete, "/function/echo/a%2Fb", "/a/b"},
	}
	for _, tc := range cases {
		t.Run(tc.method, func(t *testing.T) {
			body := "payload for " + tc.method
			req := MustRequest(t, tc.method, tg.URL+tc.path, strings.NewReader(body))
			req.Header.Set("Idempotency-Key", "k-"+tc.method)
			req.Header.Add("X-Multi", "one")
			req.Header.Add("X-Multi", "two")
			resp, respBody := MustDo(t, req)

			in := MustReceive(t, got, "upstream request")
			if in.method != tc.method {
				t.Errorf("upstream method = %s, want %s", in.method, tc.method)
			}
			if in.path != tc.wantPath {
				t.Errorf("upstream path = %q, want %q", in.path, tc.wantPath)
			}
			if wantQuery := req.URL.RawQuery; in.query != wantQuery {
				t.Errorf("upstream query = %q, want %q", in.query, wantQuery)
			}
			if in.body != body {
				t.Errorf("upstream body = %q, want %q", in.body, body)
			}
			if v := in.header.Get("Idempotency-Key"); v != "k-"+tc.method {
				t.Errorf("upstream Idempotency-Key = %q", v)
			}
			if v := in.header.Values("X-Multi"); strings.Join(v, ",") != "one,two" {
				t.Errorf("upstream X-Multi = %q", v)
			}
			if in.header.Get("X-Forwarded-For") == "" || in.header.Get("X-Forwarded-Host") == "" {
				t.Errorf("upstream lacks X-Forwarded-For/Host: %v", in.header)
			}

			if resp.StatusCode != http.StatusCreated {
				t.Errorf("status = %d, want 201", resp.StatusCode)
			}
			if v := resp.Header.Get("X-Reply"); v != "from-"+tc.method {
				t.Errorf("X-Reply = %q", v)
			}
			if v := resp.Header.Get("Content-Type"); v != "application/json" {
				t.Errorf("Content-Type = %q", v)
			}
			if want := `{"echo":` + strconv.Quote(body) + `}`; respBody != want {
				t.Errorf("body = %q, want %q", respBody, want)
			}
		})
	}
	// The escaped form of the sub-path reaches the function unchanged.
	req := MustRequest(t, http.MethodGet, tg.URL+"/function/echo/a%2Fb", nil)
	MustDo(t, req)
	if in := MustReceive(t, got, "upstream request"); in.rawPath != "/a%2Fb" {
		t.Errorf("upstream raw path = %q, want /a%%2Fb", in.rawPath)
	}
}

// Small bodies are read before proxying (one write to the function); larger
// and chunked ones stream. Both must arrive byte for byte.
func TestProxyPassesBodiesOfEverySize(t *testing.T) {
	tg := MustStartGateway(t, Config{})
	got := make(chan seen, 1)
	MustUpstream(t, tg, "echo", recordingUpstream(got))
	for _, size := range []int{1, maxBufferedBody, maxBufferedBody + 1, 1 << 20} {
		body := strings.Repeat("0123456789abcdef", size/16+1)[:size]
		for _, chunked := range []bool{false, true} {
			var r io.Reader = strings.NewReader(body)
			if chunked {
				r = io.MultiReader(r) // hides the length: sent chunked
			}
			resp, _ := MustDo(t, MustRequest(t, http.MethodPost, tg.URL+"/function/echo", r))
			in := MustReceive(t, got, "upstream request")
			if resp.StatusCode != http.StatusCreated || in.body != body {
				t.Errorf("size %d chunked %v: status %d, upstream got %d bytes", size, chunked, resp.StatusCode, len(in.body))
			}
		}
	}
}

// A caller that sends less than its Content-Length gets 400, and the function
// is not called with a truncated body.
func TestProxyRefusesShortBody(t *testing.T) {
	tg := MustStartGateway(t, Config{})
	got := make(chan seen, 1)
	MustUpstream(t, tg, "echo", recordingUpstream(got))
	conn, err := net.Dial("tcp", strings.TrimPrefix(tg.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "POST /function/echo HTTP/1.1\r\nHost: gateway\r\nContent-Length: 10\r\n\r\nabc")
	conn.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("status = %d, want 400", resp.StatusCode)
	}
	select {
	case in := <-got:
		t.Errorf("function was called with %q", in.body)
	default:
	}
}

func TestProxyPassesFunctionErrorsThrough(t *testing.T) {
	tg := MustStartGateway(t, Config{})
	MustUpstream(t, tg, "echo", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "3")
		http.Error(w, `{"error":{"code":"unavailable"}}`, http.StatusServiceUnavailable)
	})
	resp, body := MustDo(t, MustRequest(t, http.MethodGet, tg.URL+"/function/echo", nil))
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "3" ||
		!strings.Contains(body, "unavailable") {
		t.Errorf("got %d %v %q, want the function's 503 unchanged", resp.StatusCode, resp.Header, body)
	}
}

func TestProxyDefaultsContentType(t *testing.T) {
	tg := MustStartGateway(t, Config{})
	MustUpstream(t, tg, "echo", func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = nil // stop net/http from sniffing one
		io.WriteString(w, "plain")
	})
	resp, _ := MustDo(t, MustRequest(t, http.MethodGet, tg.URL+"/function/echo", nil))
	if v := resp.Header.Get("Content-Type"); v != "text/plain" {
		t.Errorf("Content-Type without request type = %q, want text/plain", v)
	}
	req := MustRequest(t, http.MethodPost, tg.URL+"/function/echo", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	resp, _ = MustDo(t, req)
	if v := resp.Header.Get("Content-Type"); v != "application/json" {
		t.Errorf("Content-Type = %q, want the request's application/json", v)
	}
}

func TestCallIDIsEchoedOrGenerated(t *testing.T) {
	tg := MustStartGateway(t, Config{})
	got := make(chan seen, 1)
	MustUpstream(t, tg, "echo", recordingUpstream(got))

	req := MustRequest(t, http.MethodGet, tg.URL+"/function/echo", nil)
	req.Header.Set("X-Call-Id", "caller-chosen-id")
	resp, _ := MustDo(t, req)
	in := MustReceive(t, got, "upstream request")
	if v := in.header.Get("X-Call-Id"); v != "caller-chosen-id" {
		t.Errorf("upstream X-Call-Id = %q, want the caller's", v)
	}
	if v := resp.Header.Values("X-Call-Id"); len(v) != 1 || v[0] != "caller-chosen-id" {
		t.Errorf("response X-Call-Id = %q, want exactly the caller's", v)
	}

	resp, _ = MustDo(t, MustRequest(t, http.MethodGet, tg.URL+"/function/echo", nil))
	in = MustReceive(t, got, "upstream request")
	id := resp.Header.Get("X-Call-Id")
	if _, err := uuid.Parse(id); err != nil {
		t.Errorf("generated X-Call-Id %q is not a UUID: %v", id, err)
	}
	if v := in.header.Get("X-Call-Id"); v != id {
		t.Errorf("upstream X-Call-Id = %q, response has %q", v, id)
	}
	start := resp.Header.Get("X-Start-Time")
	if n, err := strconv.ParseInt(start, 10, 64); err != nil || n <= 0 {
		t.Errorf("X-Start-Time = %q, want Unix nanoseconds", start)
	}
	if v := in.header.Get("X-Start-Time"); v != start {
		t.Errorf("upstream X-Start-Time = %q, response has %q", v, start)
	}
}

func TestUnknownFunctionIs404(t *testing.T) {
	tg := MustStartGateway(t, Config{})
	resp, body := MustDo(t, MustRequest(t, http.MethodPost, tg.URL+"/function/nope", strings.NewReader("x")))
	if resp.StatusCode != http.StatusNotFound || body != "Cannot find service: nope." {
		t.Errorf("got %d %q, want 404 %q", resp.StatusCode, body, "Cannot find service: nope.")
	}
}

func TestUnreachableFunctionIs502(t *testing.T) {
	tg := MustStartGateway(t, Config{})
	// A port that was just free: nothing listens there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	tg.Upstreams.Set("echo", MustParseURL(t, "http://"+addr))

	resp, body := MustDo(t, MustRequest(t, http.MethodGet, tg.URL+"/function/echo", nil))
	if resp.StatusCode != http.StatusBadGateway || body != "Can't reach service for: echo." {
		t.Errorf("got %d %q, want 502 %q", resp.StatusCode, body, "Can't reach service for: echo.")
	}
	if resp.Header.Get("X-Call-Id") == "" {
		t.Error("error answer lacks X-Call-Id")
	}
}

func TestFunctionWithoutProcessIs503(t *testing.T) {
	tg := MustStartGateway(t, Config{})
	resp, body := MustDo(t, MustRequest(t, http.MethodGet, tg.URL+"/function/other", nil))
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("got %d (Retry-After %q) %q, want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
}

func TestUpstreamTimeoutIs504(t *testing.T) {
	tg := MustStartGateway(t, Config{UpstreamTimeout: 100 * time.Millisecond})
	release := unblock(t)
	MustUpstream(t, tg, "echo", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	resp, body := MustDo(t, MustRequest(t, http.MethodGet, tg.URL+"/function/echo", nil))
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Errorf("got %d %q, want 504", resp.StatusCode, body)
	}
}

// A long-poll answers after a while and may send part of its answer early;
// both must reach the caller as they happen, with the default timeouts.
func TestSlowUpstreamIsStreamed(t *testing.T) {
	tg := MustStartGateway(t, Config{})
	release := unblock(t)
	MustUpstream(t, tg, "echo", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "first\n")
		http.NewResponseController(w).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		time.Sleep(2 * time.Second) // the long-poll's wait
		io.WriteString(w, "second\n")
	})

	client := &http.Client{Timeout: wait}
	resp, err := client.Get(tg.URL + "/function/echo?wait=2")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewReader(resp.Body)
	first, err := lines.ReadString('\n')
	if err != nil || first != "first\n" {
		t.Fatalf("first line = %q, %v", first, err)
	}
	// Only now may the function finish: the first line came through while the
	// call was still running.
	close(release)
	second, err := lines.ReadString('\n')
	if err != nil || second != "second\n" {
		t.Fatalf("second line = %q, %v", second, err)
	}
}

// A small body reaches the function in the same write as its headers.
// (ReverseProxy's own body wrapper made net/http flush the headers first: two
// writes, two system calls, for every call.)
func TestProxySendsHeadersAndSmallBodyInOneWrite(t *testing.T) {
	tg := MustStartGateway(t, Config{})
	got := make(chan seen, 1)
	MustUpstream(t, tg, "echo", recordingUpstream(got))
	var writes atomic.Int64
	tr := tg.pools["echo"].transport
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		return &writeCounter{Conn: c, writes: &writes}, err
	}
	body := `{"userId":"5d1f7a58-3c1e-4e0c-8a57-0f6f2f1f3b11","amount":"125.50"}`
	resp, _ := MustDo(t, MustRequest(t, http.MethodPost, tg.URL+"/function/echo", strings.NewReader(body)))
	if in := MustReceive(t, got, "upstream request"); resp.StatusCode != http.StatusCreated || in.body != body {
		t.Fatalf("status %d, the function got %q", resp.StatusCode, in.body)
	}
	if n := writes.Load(); n != 1 {
		t.Fatalf("the request went to the function in %d writes, want 1", n)
	}
}

// writeCounter counts the writes made on a connection.
type writeCounter struct {
	net.Conn
	writes *atomic.Int64
}

func (c *writeCounter) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}
