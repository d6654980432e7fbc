package gateway

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"handler/function/local/metricstest"
	"handler/function/local/stack"
)

// connCounter is a function stand-in that counts the connections open to it
// and the calls it served.
type connCounter struct {
	open, peak, served atomic.Int64
}

func (c *connCounter) track(_ net.Conn, state http.ConnState) {
	switch state {
	case http.StateNew:
		n := c.open.Add(1)
		for p := c.peak.Load(); n > p && !c.peak.CompareAndSwap(p, n); p = c.peak.Load() {
		}
	case http.StateClosed, http.StateHijacked:
		c.open.Add(-1)
	}
}

// MustSlowUpstream serves function's calls after delay, counting connections.
func MustSlowUpstream(tb testing.TB, tg *testGateway, function string, delay time.Duration) *connCounter {
	tb.Helper()
	c := &connCounter{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		time.Sleep(delay)
		c.served.Add(1)
		io.WriteString(w, "done")
	}))
	srv.Config.ConnState = c.track
	srv.Start()
	tb.Cleanup(srv.Close)
	tg.Upstreams.Set(function, MustParseURL(tb, srv.URL))
	return c
}

// MustLowerFileLimit sets this process's soft open-file limit to n until the
// test ends.
func MustLowerFileLimit(tb testing.TB, n uint64) {
	tb.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		tb.Fatal(err)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: n, Max: old.Max}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
			tb.Error(err)
		}
	})
}

func MustOpenFiles(tb testing.TB) int {
	tb.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		tb.Fatal(err)
	}
	return len(fds)
}

// A burst of slow calls, far more than the gateway may hold connections for,
// in a process whose open-file limit holds the budget but not the burst: every
// caller gets an answer, the function's or 503 with Retry-After, never a 502,
// and no call the function served is answered anything but its answer.
func TestConnectionBudgetHoldsABurstOfSlowCalls(t *testing.T) {
	const (
		callers     = 60 // each on a connection of its own
		clientConns = 24
		conns       = 4 // per function
	)
	// Room for this test's callers, the budget on both ends of each upstream
	// connection, and a few spare; without the budget the gateway would need
	// a descriptor for each of the 120 callers and two per call upstream.
	MustLowerFileLimit(t, uint64(MustOpenFiles(t)+2*callers+clientConns+4*conns+32))

	tg := MustStartGateway(t, Config{
		Functions: []stack.Function{
			{Name: "echo"}, // of-watchdog's 10 s exec_timeout: a call may wait for a slot that long
			{Name: "other", Environment: map[string]string{"exec_timeout": "1s"}}, // waits 1 s at most
		},
		MaxClientConns: clientConns,
		MaxConns:       conns,
	})
	echo := MustSlowUpstream(t, tg, "echo", 50*time.Millisecond)
	other := MustSlowUpstream(t, tg, "other", 500*time.Millisecond)

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * callers}, Timeout: wait}
	t.Cleanup(client.CloseIdleConnections)
	type answer struct {
		function, body, retryAfter string
		status                     int
		err                        error
	}
	answers := make(chan answer, 2*callers)
	var wg sync.WaitGroup
	for i := range 2 * callers {
		function := []string{"echo", "other"}[i%2]
		wg.Go(func() {
			resp, err := client.Post(tg.URL+"/function/"+function, "text/plain", strings.NewReader("x"))
			if err != nil {
				answers <- answer{function: function, err: err}
				return
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			answers <- answer{function, string(body), resp.Header.Get("Retry-After"), resp.StatusCode, err}
		})
	}
	wg.Wait()
	close(answers)

	status := map[string]map[int]int{"echo": {}, "other": {}}
	for a := range answers {
		switch {
		case a.err != nil:
			t.Errorf("%s: %v", a.function, a.err)
		case a.status == http.StatusOK && a.body == "done":
		case a.status == http.StatusServiceUnavailable && a.retryAfter != "":
		default:
			t.Errorf("%s: %d %q (Retry-After %q), want 200 or 503 with Retry-After", a.function, a.status, a.body, a.retryAfter)
		}
		status[a.function][a.status]++
	}
	t.Logf("answers: %v; most connections open at once: to echo %d, to other %d, from callers %d", status, echo.peak.Load(), other.peak.Load(), tg.listener.Load().slots.peak.Load())
	if status["echo"][http.StatusOK] != callers {
		t.Errorf("echo: %v, want all %d served (each waits at most 10 s for a slot)", status["echo"], callers)
	}
	if status["other"][http.StatusServiceUnavailable] == 0 || status["other"][http.StatusOK] == 0 {
		t.Errorf("other: %v, want some served and some refused after waiting 1 s (4 slots × 500 ms)", status["other"])
	}
	for name, fn := range map[string]*connCounter{"echo": echo, "other": other} {
		if got := fn.peak.Load(); got > conns {
			t.Errorf("%s: %d connections open at once, want at most %d", name, got, conns)
		}
		if got := int(fn.served.Load()); got != status[name][http.StatusOK] {
			t.Errorf("%s served %d calls, but %d were answered 200: a call it served was answered otherwise", name, got, status[name][http.StatusOK])
		}
	}
	if got := tg.listener.Load().slots.peak.Load(); got > clientConns {
		t.Errorf("%d caller connections at once, want at most %d", got, clientConns)
	}
	m := metricstest.MustScrape(t, tg.URL+"/metrics")
	if open, limit := m.Get("gateway_upstream_connections", "function_name", "echo"), m.Get("gateway_upstream_connections_max", "function_name", "echo"); limit != conns || open > limit || open < 1 {
		t.Errorf("gateway_upstream_connections{echo} %v of %v, want 1 to %d (idle ones kept)", open, limit, conns)
	}
	if open, limit := m.Get("gateway_client_connections"), m.Get("gateway_client_connections_max"); limit != clientConns || open > limit || open < 1 {
		t.Errorf("gateway_client_connections %v of %v, want 1 to %d (this scrape's)", open, limit, clientConns)
	}
}

func TestBudgetMustFitTheOpenFileLimit(t *testing.T) {
	MustLowerFileLimit(t, uint64(MustOpenFiles(t)+100))
	cfg := Config{Upstream: (&Upstreams{}).Lookup, AdminPassword: "x", Functions: testFunctions(), MaxClientConns: 50, MaxConns: 50}
	if _, err := New(cfg, discardLogger()); err == nil || !strings.Contains(err.Error(), "open-file limit") {
		t.Errorf("50 client connections and 2 × 50 to functions under a limit of ~100: err %v, want one naming the open-file limit", err)
	}
	cfg.MaxClientConns, cfg.MaxConns = 0, 0
	g, err := New(cfg, discardLogger())
	if err != nil {
		t.Fatalf("with the budget derived from the limit: %v", err)
	}
	total := g.cfg.MaxClientConns
	for _, p := range g.pools {
		total += p.conns.size()
	}
	if limit := openFileLimit(); uint64(total) > limit*3/4 {
		t.Errorf("derived budget %d, want at most three quarters of the limit %d", total, limit)
	}
}

// Idle connections are in the budget: when a function's replica changes, the
// idle connections to the old one give their slots to the new one.
func TestIdleConnectionsMakeRoomForAnotherReplica(t *testing.T) {
	const conns = 2
	tg := MustStartGateway(t, Config{MaxConns: conns})
	burst := func() {
		t.Helper()
		var wg sync.WaitGroup
		for range conns {
			wg.Go(func() {
				resp, body := MustDo(t, MustRequest(t, http.MethodPost, tg.URL+"/function/echo", strings.NewReader("x")))
				if resp.StatusCode != http.StatusOK || body != "done" {
					t.Errorf("got %d %q, want 200 done", resp.StatusCode, body)
				}
			})
		}
		wg.Wait()
	}
	old := MustSlowUpstream(t, tg, "echo", 100*time.Millisecond)
	burst()
	if got := old.open.Load(); got != conns {
		t.Fatalf("%d connections kept to the first replica, want %d idle", got, conns)
	}
	replacement := MustSlowUpstream(t, tg, "echo", 100*time.Millisecond) // now the only replica
	burst()
	if got := replacement.peak.Load(); got != conns {
		t.Errorf("%d connections to the new replica, want %d", got, conns)
	}
	deadline := time.Now().Add(wait)
	for old.open.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := old.open.Load(); got != 0 {
		t.Errorf("%d idle connections to the old replica still open, want them closed to make room", got)
	}
	if got := tg.pools["echo"].conns.peak.Load(); got > conns {
		t.Errorf("%d connections open at once, want at most %d", got, conns)
	}
}
