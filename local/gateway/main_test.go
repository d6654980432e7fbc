package gateway

import (
	"fmt"
	"net/http"
	"os"
	"runtime"
	"testing"
	"time"
)

// TestMain fails the package when goroutines outlive the tests: every test
// must stop its gateway, upstreams, workers and event streams.
func TestMain(m *testing.M) {
	before := runtime.NumGoroutine()
	code := m.Run()
	if code == 0 {
		if err := checkGoroutines(before); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

func checkGoroutines(before int) error {
	deadline := time.Now().Add(wait)
	for {
		// Idle keep-alive connections of the test clients hold goroutines.
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
		now := runtime.NumGoroutine()
		if now <= before {
			return nil
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			return fmt.Errorf("goroutine leak: %d before the tests, %d after\n%s", before, now, buf)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
