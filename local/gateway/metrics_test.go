package gateway

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"handler/function/local/metricstest"
)

func TestMetricsCountCallsUnderOpenFaaSNames(t *testing.T) {
	tg := MustStartGateway(t, Config{Replicas: func(name string) (int, int) {
		if name == "echo" {
			return 3, 2
		}
		return 0, 0
	}})
	MustUpstream(t, tg, "echo", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("fail") != "" {
			w.WriteHeader(http.StatusBadRequest)
		}
	})

	before := metricstest.MustScrape(t, tg.URL+"/metrics")
	if got := before.Get("gateway_service_count", "function_name", "echo"); got != 3 {
		t.Errorf("gateway_service_count{echo} = %v, want 3", got)
	}
	if got := before.Get("gateway_function_invocation_total", "function_name", "echo", "code", "200"); got != 0 {
		t.Errorf("invocations before any call = %v", got)
	}
	for range 3 {
		MustDo(t, MustRequest(t, http.MethodGet, tg.URL+"/function/echo", nil))
	}
	MustDo(t, MustRequest(t, http.MethodGet, tg.URL+"/function/echo?fail=1", nil))
	MustDo(t, MustRequest(t, http.MethodGet, tg.URL+"/function/other", nil)) // no upstream: 503

	after := metricstest.MustScrape(t, tg.URL+"/metrics")
	checks := []struct {
		series string
		want   float64
	}{
		{metricstest.Series("gateway_function_invocation_total", "function_name", "echo", "code", "200"), 3},
		{metricstest.Series("gateway_function_invocation_total", "function_name", "echo", "code", "400"), 1},
		{metricstest.Series("gateway_function_invocation_total", "function_name", "other", "code", "503"), 1},
		{metricstest.Series("gateway_function_invocation_started", "function_name", "echo"), 4},
		{metricstest.Series("gateway_functions_seconds_count", "function_name", "echo", "code", "200"), 3},
	}
	for _, c := range checks {
		if got := after[c.series]; got != c.want {
			t.Errorf("%s = %v, want %v", c.series, got, c.want)
		}
	}

	var status FunctionStatus
	MustGetJSON(t, tg.URL+"/system/function/echo", &status)
	if status.Replicas != 3 || status.AvailableReplicas != 2 || status.InvocationCount != 4 {
		t.Errorf("echo status = replicas %d, available %d, invocations %v; want 3, 2, 4",
			status.Replicas, status.AvailableReplicas, status.InvocationCount)
	}
}

func TestScaleFunction(t *testing.T) {
	scaled := map[string]int{}
	tg := MustStartGateway(t, Config{Scale: func(name string, n int) error {
		scaled[name] = n
		return nil
	}})
	cases := []struct {
		path, body string
		want       int
	}{
		{"/system/scale-function/echo", `{"serviceName":"echo","replicas":3}`, http.StatusAccepted},
		{"/system/scale-function/echo", `{"replicas":0}`, http.StatusAccepted},
		{"/system/scale-function/echo", `{"serviceName":"other","replicas":2}`, http.StatusBadRequest},
		{"/system/scale-function/echo", `{"replicas":-1}`, http.StatusBadRequest},
		{"/system/scale-function/echo", `{"serviceName":"echo"}`, http.StatusBadRequest},
		{"/system/scale-function/echo", `not json`, http.StatusBadRequest},
		{"/system/scale-function/nope", `{"replicas":1}`, http.StatusNotFound},
	}
	for _, c := range cases {
		resp, body := MustDo(t, asAdmin(MustRequest(t, http.MethodPost, tg.URL+c.path, strings.NewReader(c.body))))
		if resp.StatusCode != c.want {
			t.Errorf("POST %s %s = %d %q, want %d", c.path, c.body, resp.StatusCode, body, c.want)
		}
	}
	if len(scaled) != 1 || scaled["echo"] != 0 {
		t.Errorf("scaled = %v, want echo set to 3 then 0 and nothing else", scaled)
	}
}

func TestScaleFunctionWithoutScalerIsNotImplemented(t *testing.T) {
	tg := MustStartGateway(t, Config{})
	resp, _ := MustDo(t, asAdmin(MustRequest(t, http.MethodPost, tg.URL+"/system/scale-function/echo", strings.NewReader(`{"replicas":2}`))))
	if resp.StatusCode != http.StatusNotImplemented {
		t.Errorf("status = %d, want 501", resp.StatusCode)
	}
}

func TestCallsToAFunctionAtZeroWaitForItToWake(t *testing.T) {
	var tg *testGateway
	woken := make(chan struct{})
	var once sync.Once
	tg = MustStartGateway(t, Config{Wake: func(ctx context.Context, name string) error {
		once.Do(func() {
			go func() { // a replica starting in the background
				MustUpstream(t, tg, name, func(w http.ResponseWriter, r *http.Request) {})
				close(woken)
			}()
		})
		select {
		case <-woken:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}})
	const calls = 20
	statuses := make(chan int, calls)
	for range calls {
		go func() {
			resp, _ := MustDo(t, MustRequest(t, http.MethodGet, tg.URL+"/function/echo", nil))
			statuses <- resp.StatusCode
		}()
	}
	for range calls {
		if got := MustReceive(t, statuses, "answer"); got != http.StatusOK {
			t.Errorf("call during wake = %d, want 200", got)
		}
	}
	m := metricstest.MustScrape(t, tg.URL+"/metrics")
	if got := m.Get("gateway_function_cold_start_seconds_count", "function_name", "echo"); got < 1 {
		t.Errorf("cold starts counted = %v, want at least 1", got)
	}
}

func TestWakeThatFailsAnswers503(t *testing.T) {
	tg := MustStartGateway(t, Config{WakeTimeout: time.Second, Wake: func(ctx context.Context, name string) error {
		<-ctx.Done()
		return ctx.Err()
	}})
	resp, _ := MustDo(t, MustRequest(t, http.MethodGet, tg.URL+"/function/echo", nil))
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status = %d, want 503", resp.StatusCode)
	}
}
