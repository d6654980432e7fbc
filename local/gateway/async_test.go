package gateway

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// callbackReceiver collects what the gateway POSTs to X-Callback-Url.
func callbackReceiver(t *testing.T) (*httptest.Server, chan seen) {
	t.Helper()
	got := make(chan seen, 8)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- seen{method: r.Method, path: r.URL.Path, body: string(body), header: r.Header.Clone()}
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func TestAsyncAcceptsAtOnceAndCallsBack(t *testing.T) {
	tg := MustStartGateway(t, Config{})
	callback, callbacks := callbackReceiver(t)
	release := unblock(t)
	invoked := make(chan seen, 1)
	MustUpstream(t, tg, "echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		invoked <- seen{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery, body: string(body), header: r.Header.Clone()}
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Result", "done")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"result":"`+string(body)+`"}`)
	})

	req := MustRequest(t, http.MethodPost, tg.URL+"/async-function/echo/jobs?run=1", strings.NewReader("work"))
	req.Header.Set("X-Callback-Url", callback.URL+"/done")
	req.Header.Set("X-Custom", "kept")
	resp, body := MustDo(t, req)
	// The function has not answered yet (it waits for release), so this 202
	// was sent without waiting for it.
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("status = %d %q, want 202", resp.StatusCode, body)
	}
	callID := resp.Header.Get("X-Call-Id")
	if callID == "" {
		t.Fatal("202 lacks X-Call-Id")
	}

	in := MustReceive(t, invoked, "function invocation")
	if in.method != http.MethodPost || in.path != "/jobs" || in.query != "run=1" || in.body != "work" {
		t.Errorf("function got %s %s?%s %q", in.method, in.path, in.query, in.body)
	}
	if in.header.Get("X-Custom") != "kept" || in.header.Get("X-Call-Id") != callID {
		t.Errorf("function headers = %v, want X-Custom and X-Call-Id %s", in.header, callID)
	}
	close(release)

	cb := MustReceive(t, callbacks, "callback")
	if cb.method != http.MethodPost || cb.path != "/done" {
		t.Errorf("callback request = %s %s, want POST /done", cb.method, cb.path)
	}
	if cb.body != `{"result":"work"}` {
		t.Errorf("callback body = %q", cb.body)
	}
	checks := map[string]string{
		"X-Function-Status": "201",
		"X-Function-Name":   "echo",
		"X-Call-Id":         callID,
		"X-Result":          "done",
		"Content-Type":      "application/json",
	}
	for name, want := range checks {
		if got := cb.header.Get(name); got != want {
			t.Errorf("callback %s = %q, want %q", name, got, want)
		}
	}
	if d, err := strconv.ParseFloat(cb.header.Get("X-Duration-Seconds"), 64); err != nil || d < 0 {
		t.Errorf("callback X-Duration-Seconds = %q, want seconds", cb.header.Get("X-Duration-Seconds"))
	}
}

func TestAsyncCallbackReportsUnreachableFunction(t *testing.T) {
	tg := MustStartGateway(t, Config{})
	callback, callbacks := callbackReceiver(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tg.Upstreams.Set("echo", MustParseURL(t, "http://"+ln.Addr().String()))
	ln.Close()

	req := MustRequest(t, http.MethodPost, tg.URL+"/async-function/echo", strings.NewReader("x"))
	req.Header.Set("X-Callback-Url", callback.URL)
	req.Header.Set("X-Call-Id", "mine")
	if resp, _ := MustDo(t, req); resp.StatusCode != http.StatusAccepted || resp.Header.Get("X-Call-Id") != "mine" {
		t.Fatalf("got %d with X-Call-Id %q, want 202 echoing mine", resp.StatusCode, resp.Header.Get("X-Call-Id"))
	}
	cb := MustReceive(t, callbacks, "callback")
	if cb.header.Get("X-Function-Status") != "503" || cb.header.Get("X-Call-Id") != "mine" {
		t.Errorf("callback headers = %v, want X-Function-Status 503 and X-Call-Id mine", cb.header)
	}
}

func TestAsyncRejects(t *testing.T) {
	tg := MustStartGateway(t, Config{AsyncMaxBodyBytes: 8})
	cases := []struct {
		name, method, path, callback, body string
		want                               int
	}{
		{"GET", http.MethodGet, "/async-function/echo", "", "", http.StatusMethodNotAllowed},
		{"PUT", http.MethodPut, "/async-function/echo", "", "x", http.StatusMethodNotAllowed},
		{"unknown function", http.MethodPost, "/async-function/nope", "", "x", http.StatusNotFound},
		{"relative callback", http.MethodPost, "/async-function/echo", "/cb", "x", http.StatusBadRequest},
		{"body too large", http.MethodPost, "/async-function/echo", "", "123456789", http.StatusRequestEntityTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := MustRequest(t, tc.method, tg.URL+tc.path, strings.NewReader(tc.body))
			if tc.callback != "" {
				req.Header.Set("X-Callback-Url", tc.callback)
			}
			resp, body := MustDo(t, req)
			if resp.StatusCode != tc.want {
				t.Errorf("status = %d %q, want %d", resp.StatusCode, body, tc.want)
			}
			if tc.want == http.StatusMethodNotAllowed && !strings.Contains(resp.Header.Get("Allow"), http.MethodPost) {
				t.Errorf("Allow = %q, want POST", resp.Header.Get("Allow"))
			}
		})
	}
}

func TestAsyncQueueFullIs429(t *testing.T) {
	tg := MustStartGateway(t, Config{AsyncWorkers: 1, AsyncQueueSize: 1})
	release := unblock(t)
	running := make(chan struct{}, 4)
	MustUpstream(t, tg, "echo", func(w http.ResponseWriter, r *http.Request) {
		running <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	post := func() int {
		resp, _ := MustDo(t, MustRequest(t, http.MethodPost, tg.URL+"/async-function/echo", strings.NewReader("x")))
		return resp.StatusCode
	}
	if got := post(); got != http.StatusAccepted {
		t.Fatalf("first call = %d, want 202", got)
	}
	MustReceive(t, running, "first call at the function") // the only worker is now busy
	if got := post(); got != http.StatusAccepted {
		t.Fatalf("second call = %d, want 202 (queued)", got)
	}
	resp, body := MustDo(t, MustRequest(t, http.MethodPost, tg.URL+"/async-function/echo", strings.NewReader("x")))
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("third call = %d %q (Retry-After %q), want 429 with Retry-After", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	close(release)
	MustReceive(t, running, "queued call at the function")
}

func TestShutdownDrainsAsyncQueue(t *testing.T) {
	ups := &Upstreams{}
	g, err := New(Config{
		Functions:     testFunctions(),
		Upstream:      ups.Lookup,
		AdminPassword: testAdminPassword,
	}, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	callback, callbacks := callbackReceiver(t)
	release := unblock(t)
	started := make(chan struct{}, 1)
	fn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		select {
		case <-release:
			io.WriteString(w, "late")
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(fn.Close)
	ups.Set("echo", MustParseURL(t, fn.URL))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- g.Serve(ctx, ln) }()

	req := MustRequest(t, http.MethodPost, "http://"+ln.Addr().String()+"/async-function/echo", strings.NewReader("x"))
	req.Header.Set("X-Callback-Url", callback.URL)
	if resp, _ := MustDo(t, req); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("status = %d, want 202", resp.StatusCode)
	}
	MustReceive(t, started, "call at the function")
	cancel()       // shutdown begins while the call runs…
	close(release) // …and the call finishes during the drain
	if err := MustReceive(t, served, "Serve to return"); err != nil {
		t.Errorf("Serve = %v, want a clean shutdown", err)
	}
	select {
	case cb := <-callbacks:
		if cb.body != "late" {
			t.Errorf("callback body = %q, want late", cb.body)
		}
	default:
		t.Error("Serve returned before the queued call's callback was sent")
	}
}

func TestShutdownGivesUpOnStuckCalls(t *testing.T) {
	ups := &Upstreams{}
	g, err := New(Config{
		Functions:       testFunctions(),
		Upstream:        ups.Lookup,
		AdminPassword:   testAdminPassword,
		AsyncWorkers:    1,
		ShutdownTimeout: 200 * time.Millisecond,
	}, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{}, 1)
	fn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-r.Context().Done() // never answers
	}))
	t.Cleanup(fn.Close)
	ups.Set("echo", MustParseURL(t, fn.URL))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- g.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()
	for range 2 { // one runs, one waits in the queue
		if resp, _ := MustDo(t, MustRequest(t, http.MethodPost, base+"/async-function/echo", nil)); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("status = %d, want 202", resp.StatusCode)
		}
	}
	MustReceive(t, started, "call at the function")
	cancel()
	err = MustReceive(t, served, "Serve to return")
	if err == nil || !strings.Contains(err.Error(), "2 async calls lost") {
		t.Errorf("Serve = %v, want it to report 2 lost calls", err)
	}
	if errors.Is(err, context.Canceled) {
		t.Errorf("Serve = %v: cancellation is the normal way to stop, not an error", err)
	}
}
