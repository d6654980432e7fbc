//go:build integration

package runner_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// hostileGateway attacks the running stack's gateway the way issue 14 did:
// the admin routes without credentials, an async call whose callback points
// off the machine, and a request that trickles its body or its headers.
func (f *fixture) hostileGateway(t *testing.T) {
	t.Run("/system/* without credentials answers 401, with the runner's admin secret 200", func(t *testing.T) {
		processPayment := f.stack.Scaler().Function("process-payment")
		heldBefore := processPayment.Held(time.Now())
		for _, route := range []struct{ method, path, body string }{
			{http.MethodGet, "/system/functions", ""},
			{http.MethodGet, "/system/info", ""},
			{http.MethodGet, "/system/function/create-payment", ""},
			{http.MethodGet, "/system/events", ""},
			{http.MethodGet, "/system/overview", ""},
			{http.MethodPost, "/system/scale-function/process-payment", `{"serviceName":"process-payment","replicas":2}`},
			{http.MethodPost, "/system/dead-letters/replay", `{"topic":"payments.dlq"}`},
			{http.MethodGet, "/system/nothing", ""},
		} {
			status, header := f.head(t, route.method, route.path, route.body, "", "")
			if status != http.StatusUnauthorized || !strings.HasPrefix(header.Get("WWW-Authenticate"), "Basic ") {
				t.Errorf("%s %s without credentials: %d (WWW-Authenticate %q), want 401 asking for Basic", route.method, route.path, status, header.Get("WWW-Authenticate"))
			}
			if status, _ := f.head(t, route.method, route.path, route.body, "admin", "not-the-password"); status != http.StatusUnauthorized {
				t.Errorf("%s %s with a wrong password: %d, want 401", route.method, route.path, status)
			}
		}
		// A manual scale holds the autoscaler off; a refused one must not.
		if !heldBefore && processPayment.Held(time.Now()) {
			t.Error("a refused scale-function call scaled process-payment")
		}
		// What a developer does: the password is where the runner said.
		password, err := os.ReadFile(filepath.Join(f.state, "secrets", "basic-auth-password"))
		if err != nil {
			t.Fatalf("the runner's admin secret: %v", err)
		}
		if status, _ := f.head(t, http.MethodGet, "/system/functions", "", "admin", strings.TrimSpace(string(password))); status != http.StatusOK {
			t.Errorf("GET /system/functions with the admin secret: %d, want 200", status)
		}
	})

	t.Run("an async call whose callback leaves the machine is refused with 400", func(t *testing.T) {
		for _, callback := range []string{"http://169.254.169.254/latest/meta-data/", "http://example.com/hook", "http://10.0.0.1:8080/"} {
			req, err := http.NewRequest(http.MethodPost, f.stack.GatewayURL+"/async-function/get-payment", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+f.stack.APIKey)
			req.Header.Set("X-Callback-Url", callback)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("X-Callback-Url %s: %d, want 400", callback, resp.StatusCode)
			}
		}
	})

	t.Run("an async call without the API key is refused before it is queued", func(t *testing.T) {
		for _, key := range []string{"", "not-the-key"} {
			status, _ := f.call(t, http.MethodPost, "/async-function/apply-result", `{"specversion":"1.0"}`, key)
			if status != http.StatusUnauthorized {
				t.Errorf("async call with key %q: %d, want 401", key, status)
			}
		}
	})

	t.Run("a body sent a byte at a time is cut off; so are trickled headers", func(t *testing.T) {
		// A body that would take forever and headers that never end: the
		// gateway must close both connections on its own, well within a minute.
		body := "POST /function/create-payment HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + f.stack.APIKey +
			"\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
		headers := "GET /function/get-payment HTTP/1.1\r\nHost: x\r\n"
		done := make(chan string, 2)
		for _, start := range []string{body, headers} {
			go func() { done <- f.trickle(start) }()
		}
		for range 2 {
			select {
			case verdict := <-done:
				if verdict != "" {
					t.Error(verdict)
				}
			case <-time.After(time.Minute):
				t.Fatal("a trickling request still holds its connection after a minute")
			}
		}
	})
}

// head sends method path with body and basic credentials (none when user
// is "") and returns the status and headers, without reading the answer's
// body (an event stream never ends).
func (f *fixture) head(t *testing.T, method, path, body, user, password string) (int, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, f.stack.GatewayURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

// trickle sends start, then one more byte every 2 s, until the gateway ends
// the connection (then it returns "") or a minute has passed.
func (f *fixture) trickle(start string) string {
	conn, err := net.Dial("tcp", strings.TrimPrefix(f.stack.GatewayURL, "http://"))
	if err != nil {
		return err.Error()
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(start)); err != nil {
		return err.Error()
	}
	closed := make(chan struct{})
	go func() {
		// Whatever the gateway answers (408, 400 or nothing), it must then close.
		r := bufio.NewReader(conn)
		for {
			if _, err := r.ReadByte(); err != nil {
				close(closed)
				return
			}
		}
	}()
	deadline := time.After(time.Minute)
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-closed:
			return ""
		case <-deadline:
			return fmt.Sprintf("the gateway still reads %q… a byte at a time after a minute", start[:20])
		case <-tick.C:
			_, _ = conn.Write([]byte("X"))
		}
	}
}
