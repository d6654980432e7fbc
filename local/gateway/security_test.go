package gateway

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestSystemRoutesNeedTheAdminCredentials(t *testing.T) {
	var scaled, replayed atomic.Int32
	tg := MustStartGateway(t, Config{
		Scale:    func(string, int) error { scaled.Add(1); return nil },
		Replay:   func(context.Context, ReplayRequest) (int, error) { replayed.Add(1); return 1, nil },
		Overview: func(context.Context) any { return map[string]int{} },
	})
	MustUpstream(t, tg, "echo", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "called") })
	routes := []struct {
		method, path, body string
		want               int
	}{
		{http.MethodGet, "/system/functions", "", http.StatusOK},
		{http.MethodGet, "/system/function/echo", "", http.StatusOK},
		{http.MethodGet, "/system/info", "", http.StatusOK},
		{http.MethodGet, "/system/events", "", http.StatusOK},
		{http.MethodGet, "/system/overview", "", http.StatusOK},
		{http.MethodPost, "/system/scale-function/echo", `{"replicas":2}`, http.StatusAccepted},
		{http.MethodPost, "/system/dead-letters/replay", `{"topic":"payments.dlq"}`, http.StatusOK},
		{http.MethodGet, "/system/nothing", "", http.StatusNotFound}, // known to exist only once authenticated
	}
	for _, route := range routes {
		t.Run(route.method+" "+route.path, func(t *testing.T) {
			request := func() *http.Request {
				return MustRequest(t, route.method, tg.URL+route.path, strings.NewReader(route.body))
			}
			scaledBefore, replayedBefore := scaled.Load(), replayed.Load()
			for _, creds := range []struct{ name, user, password string }{
				{"none", "", ""},
				{"wrong password", DefaultAdminUser, "guess"},
				{"wrong user", "root", testAdminPassword},
				{"password as a prefix", DefaultAdminUser, testAdminPassword[:4]},
			} {
				req := request()
				if creds.user != "" {
					req.SetBasicAuth(creds.user, creds.password)
				}
				resp := mustStatusOnly(t, req)
				if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic realm=") {
					t.Errorf("%s: %d, WWW-Authenticate %q; want 401 with a Basic challenge", creds.name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
				}
			}
			if scaled.Load() != scaledBefore || replayed.Load() != replayedBefore {
				t.Errorf("refused calls scaled or replayed (%d → %d scales, %d → %d replays)", scaledBefore, scaled.Load(), replayedBefore, replayed.Load())
			}
			if resp := mustStatusOnly(t, asAdmin(request())); resp.StatusCode != route.want {
				t.Errorf("as admin: %d, want %d", resp.StatusCode, route.want)
			}
		})
	}
	if scaled.Load() != 1 || replayed.Load() != 1 {
		t.Errorf("the admin's calls scaled %d times and replayed %d times, want once each", scaled.Load(), replayed.Load())
	}
	// The functions and the health check stay as open as on OpenFaaS.
	for path, want := range map[string]string{"/function/echo": "called", "/healthz": "OK"} {
		if resp, body := MustDo(t, MustRequest(t, http.MethodGet, tg.URL+path, nil)); resp.StatusCode != http.StatusOK || body != want {
			t.Errorf("GET %s without credentials = %d %q, want 200 %q", path, resp.StatusCode, body, want)
		}
	}
}

// mustStatusOnly sends req and closes the answer unread (an event stream never ends).
func mustStatusOnly(tb testing.TB, req *http.Request) *http.Response {
	tb.Helper()
	resp, err := (&http.Client{Timeout: wait}).Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	resp.Body.Close()
	return resp
}

func TestAsyncCallNeedsTheAPIKeyBeforeItIsQueued(t *testing.T) {
	tg := MustStartGateway(t, Config{APIKeys: []string{"old-key", "new-key"}})
	invoked := make(chan string, 4)
	MustUpstream(t, tg, "echo", func(w http.ResponseWriter, r *http.Request) { invoked <- r.Header.Get("Authorization") })
	for _, auth := range []string{"", "Bearer", "Bearer wrong", "Basic bmV3LWtleQ==", "Bearer new-key-and-more"} {
		req := MustRequest(t, http.MethodPost, tg.URL+"/async-function/echo", strings.NewReader("x"))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, body := MustDo(t, req)
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("Authorization %q: %d %q, want 401 asking for a bearer key", auth, resp.StatusCode, body)
		}
	}
	req := MustRequest(t, http.MethodPost, tg.URL+"/async-function/echo", strings.NewReader("x"))
	req.Header.Set("Authorization", "Bearer old-key") // either key of a rotation
	if resp, body := MustDo(t, req); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("with a key: %d %q, want 202", resp.StatusCode, body)
	}
	// The function checks the call itself too, so it gets the key.
	if got := MustReceive(t, invoked, "the queued call"); got != "Bearer old-key" {
		t.Errorf("the function got Authorization %q", got)
	}
	select {
	case got := <-invoked:
		t.Errorf("a refused call reached the function (Authorization %q)", got)
	default:
	}
}

func TestAsyncCallbackGoesOnlyToAllowedHosts(t *testing.T) {
	t.Run("loopback by default", func(t *testing.T) {
		tg := MustStartGateway(t, Config{})
		MustUpstream(t, tg, "echo", func(w http.ResponseWriter, r *http.Request) {})
		wantCallbackStatus(t, tg, map[string]int{
			"http://169.254.169.254/latest/meta-data/": http.StatusBadRequest,
			"http://example.com/hook":                  http.StatusBadRequest,
			"https://10.0.0.1:8443/":                   http.StatusBadRequest,
			"http://127.1/":                            http.StatusBadRequest, // 127.0.0.1 spelt otherwise is not on the list
			"http://localhost.example.com/":            http.StatusBadRequest,
			"http://127.0.0.1:9/hook":                  http.StatusAccepted,
			"http://[::1]:9/hook":                      http.StatusAccepted,
			"http://LOCALHOST:9/hook":                  http.StatusAccepted,
		})
	})
	t.Run("a configured list replaces the default", func(t *testing.T) {
		tg := MustStartGateway(t, Config{CallbackHosts: []string{"hooks.internal"}})
		wantCallbackStatus(t, tg, map[string]int{
			"http://hooks.internal:8080/done": http.StatusAccepted,
			"http://127.0.0.1:9/hook":         http.StatusBadRequest,
		})
	})
}

// wantCallbackStatus queues an async call with each X-Callback-Url and wants
// the status given for it.
func wantCallbackStatus(t *testing.T, tg *testGateway, want map[string]int) {
	t.Helper()
	for callback, status := range want {
		req := MustRequest(t, http.MethodPost, tg.URL+"/async-function/echo", strings.NewReader("x"))
		req.Header.Set("X-Callback-Url", callback)
		if resp, body := MustDo(t, req); resp.StatusCode != status {
			t.Errorf("X-Callback-Url %s: %d %q, want %d", callback, resp.StatusCode, body, status)
		}
	}
}

// neverAnswers is a callback receiver that reads the request and never
// answers; it counts the callbacks it got and those the gateway gave up on.
func neverAnswers(t *testing.T) (url string, arrived, abandoned *atomic.Int32) {
	t.Helper()
	arrived, abandoned = &atomic.Int32{}, &atomic.Int32{}
	release := unblock(t)
	srv := MustServe(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Add(1)
		select {
		case <-r.Context().Done():
			abandoned.Add(1)
		case <-release:
		}
	}))
	return srv, arrived, abandoned
}

// MustServe serves h on a loopback port until the test ends and returns its URL.
func MustServe(tb testing.TB, h http.Handler) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	tb.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

func TestCallbacksThatNeverAnswerDoNotStallOtherAsyncCalls(t *testing.T) {
	// Two workers and two callbacks that would hold them for longer than the
	// test waits for anything.
	tg := MustStartGateway(t, Config{AsyncWorkers: 2, CallbackTimeout: 10 * wait})
	callback, arrived, _ := neverAnswers(t)
	ran := make(chan string, 8)
	MustUpstream(t, tg, "echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ran <- string(body)
	})
	for _, body := range []string{"hooked-1", "hooked-2"} {
		req := MustRequest(t, http.MethodPost, tg.URL+"/async-function/echo", strings.NewReader(body))
		req.Header.Set("X-Callback-Url", callback)
		if resp, _ := MustDo(t, req); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("%s: %d, want 202", body, resp.StatusCode)
		}
		MustReceive(t, ran, body)
	}
	for arrived.Load() < 2 {
		time.Sleep(10 * time.Millisecond) // both callbacks now hang
	}
	for _, body := range []string{"plain-1", "plain-2", "plain-3"} {
		if resp, _ := MustDo(t, MustRequest(t, http.MethodPost, tg.URL+"/async-function/echo", strings.NewReader(body))); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("%s: %d, want 202", body, resp.StatusCode)
		}
		if got := MustReceive(t, ran, "a call queued behind two hanging callbacks"); got != body {
			t.Errorf("ran %q, want %q", got, body)
		}
	}
}

func TestCallbackThatNeverAnswersIsAbandonedAfterTheTimeout(t *testing.T) {
	tg := MustStartGateway(t, Config{CallbackTimeout: 100 * time.Millisecond})
	callback, _, abandoned := neverAnswers(t)
	MustUpstream(t, tg, "echo", func(w http.ResponseWriter, r *http.Request) {})
	req := MustRequest(t, http.MethodPost, tg.URL+"/async-function/echo", strings.NewReader("x"))
	req.Header.Set("X-Callback-Url", callback)
	if resp, _ := MustDo(t, req); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("%d, want 202", resp.StatusCode)
	}
	deadline := time.Now().Add(wait)
	for abandoned.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the gateway still waits for the callback after %s (CallbackTimeout 100ms)", wait)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// trickle opens a connection to the gateway, sends start, then a byte every
// 50 ms, and returns the first line the gateway answers ("" when it closed the
// connection without one) once the gateway has closed it.
func trickle(t *testing.T, gatewayURL, start string) string {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(gatewayURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, start); err != nil {
		t.Fatal(err)
	}
	answer := make(chan string, 1)
	go func() {
		r := bufio.NewReader(conn)
		first, _ := r.ReadString('\n')
		_, _ = io.Copy(io.Discard, r) // until the gateway closes the connection
		answer <- strings.TrimSpace(first)
	}()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(wait)
	for {
		select {
		case line := <-answer:
			return line
		case <-tick.C:
			_, _ = io.WriteString(conn, "x")
		case <-timeout:
			t.Fatalf("the gateway still reads %q a byte at a time after %s", start, wait)
		}
	}
}

func TestSlowBodyIsCutOff(t *testing.T) {
	tg := MustStartGateway(t, Config{ReadBodyTimeout: 300 * time.Millisecond})
	MustUpstream(t, tg, "echo", func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) })
	for _, path := range []string{"/function/echo", "/async-function/echo"} {
		for _, framing := range []string{"Content-Length: 1000", "Transfer-Encoding: chunked"} {
			start := "POST " + path + " HTTP/1.1\r\nHost: gw\r\n" + framing + "\r\n\r\n"
			if strings.HasPrefix(framing, "Transfer") {
				start += "10000\r\n" // one chunk of 64 KiB, sent slowly
			}
			got := trickle(t, tg.URL, start)
			// A streamed body is cut off on its way to the function, which
			// may answer first; a body read before the call answers 408.
			streamed := path == "/function/echo" && strings.HasPrefix(framing, "Transfer")
			if !streamed && got != "HTTP/1.1 408 Request Timeout" {
				t.Errorf("%s with %s: first line %q, want a 408", path, framing, got)
			}
		}
	}
}

func TestSlowHeadersAreCutOff(t *testing.T) {
	tg := MustStartGateway(t, Config{ReadHeaderTimeout: 300 * time.Millisecond})
	trickle(t, tg.URL, "GET /function/echo HTTP/1.1\r\nHost: gw\r\nX-Slow: ")
}

func TestBodyDeadlineSparesWhatFollowsTheBody(t *testing.T) {
	// Calls that take longer than the body deadline, after their body came at
	// once: a POST long-poll, a GET long-poll, and an event stream.
	tg := MustStartGateway(t, Config{ReadBodyTimeout: 100 * time.Millisecond, SSEHeartbeat: time.Hour})
	MustUpstream(t, tg, "echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		select {
		case <-time.After(500 * time.Millisecond): // five body deadlines
			io.WriteString(w, "late "+string(body))
		case <-r.Context().Done():
		}
	})
	for _, method := range []string{http.MethodPost, http.MethodGet} {
		resp, body := MustDo(t, MustRequest(t, method, tg.URL+"/function/echo", strings.NewReader("answer")))
		if resp.StatusCode != http.StatusOK || body != "late answer" {
			t.Errorf("%s long-poll: %d %q, want 200 %q", method, resp.StatusCode, body, "late answer")
		}
	}
	stream := MustOpenEvents(t, tg.URL+"/system/events", "")
	time.Sleep(500 * time.Millisecond)
	tg.Events().Publish(testEvent(1))
	if ev := stream.next(t); ev.data.Offset != 1 {
		t.Errorf("event after the wait: offset %d, want 1", ev.data.Offset)
	}
}
