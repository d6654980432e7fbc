package gateway

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"handler/function/local/stack"
)

// wait is the generous bound for anything a test waits for: it only turns a
// hang into a failure and says nothing about speed.
const wait = 30 * time.Second

// testAdminPassword guards the test gateways' /system/* routes.
const testAdminPassword = "test-admin-password"

// asAdmin gives req the test gateway's admin credentials.
func asAdmin(req *http.Request) *http.Request {
	req.SetBasicAuth(DefaultAdminUser, testAdminPassword)
	return req
}

// testGateway is a gateway serving on a loopback port for one test.
type testGateway struct {
	*Gateway
	URL       string
	Upstreams *Upstreams
	serveErr  chan error
}

// MustStartGateway starts a gateway with cfg on 127.0.0.1:0 and stops it when
// the test ends. Zero Functions/Upstream get the "echo" and "other" functions
// and a fresh Upstreams table; a zero AdminPassword gets testAdminPassword.
func MustStartGateway(tb testing.TB, cfg Config) *testGateway {
	tb.Helper()
	ups := &Upstreams{}
	setDefault(&cfg.AdminPassword, testAdminPassword)
	if cfg.Functions == nil {
		cfg.Functions = testFunctions()
	}
	if cfg.Upstream == nil {
		cfg.Upstream = ups.Lookup
	}
	g, err := New(cfg, discardLogger())
	if err != nil {
		tb.Fatalf("new gateway: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tg := &testGateway{Gateway: g, URL: "http://" + ln.Addr().String(), Upstreams: ups, serveErr: make(chan error, 1)}
	go func() { tg.serveErr <- g.Serve(ctx, ln) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case <-tg.serveErr:
		case <-time.After(wait):
			tb.Errorf("gateway did not stop within %s", wait)
		}
	})
	return tg
}

// testFunctions are the functions of the test stack: "echo" with metadata,
// "other" without.
func testFunctions() []stack.Function {
	return []stack.Function{
		{Name: "echo", Image: "ghcr.io/test/echo:1", Lang: "golang-http", Handler: "./echo",
			Environment: map[string]string{"write_timeout": "40s"},
			Labels:      map[string]string{"com.openfaas.scale.min": "1"},
			Annotations: map[string]string{"topic": "payments"}},
		{Name: "other", Image: "ghcr.io/test/other:1", Lang: "golang-http", Handler: "./other"},
	}
}

// MustUpstream starts a function stand-in and registers it as function's upstream.
func MustUpstream(tb testing.TB, tg *testGateway, function string, h http.HandlerFunc) *httptest.Server {
	tb.Helper()
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	tg.Upstreams.Set(function, MustParseURL(tb, srv.URL))
	return srv
}

func MustParseURL(tb testing.TB, raw string) *url.URL {
	tb.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		tb.Fatalf("parse %q: %v", raw, err)
	}
	return u
}

// MustDo sends req with a client that has a generous timeout and returns the
// response with its body read.
func MustDo(tb testing.TB, req *http.Request) (*http.Response, string) {
	tb.Helper()
	return MustDoWith(tb, &http.Client{Timeout: wait}, req)
}

// MustDoWith is MustDo with client.
func MustDoWith(tb testing.TB, client *http.Client, req *http.Request) (*http.Response, string) {
	tb.Helper()
	resp, err := client.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("read body of %s %s: %v", req.Method, req.URL, err)
	}
	return resp, string(body)
}

func MustRequest(tb testing.TB, method, url string, body io.Reader) *http.Request {
	tb.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		tb.Fatalf("new request: %v", err)
	}
	return req
}

// MustReceive returns the next value from ch, failing the test if none comes.
func MustReceive[T any](tb testing.TB, ch <-chan T, what string) T {
	tb.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		tb.Fatalf("no %s within %s", what, wait)
		panic("unreachable")
	}
}

// unblock returns a channel for an upstream to wait on and closes it when the
// test ends, so no upstream handler outlives its test.
func unblock(tb testing.TB) chan struct{} {
	ch := make(chan struct{})
	tb.Cleanup(func() {
		select {
		case <-ch:
		default:
			close(ch)
		}
	})
	return ch
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
