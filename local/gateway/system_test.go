package gateway

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"handler/function/local/stack"
)

func MustGetJSON(tb testing.TB, url string, v any) {
	tb.Helper()
	resp, body := MustDo(tb, asAdmin(MustRequest(tb, http.MethodGet, url, nil)))
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s = %d %q", url, resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		tb.Errorf("GET %s Content-Type = %q", url, ct)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		tb.Fatalf("GET %s: decode %q: %v", url, body, err)
	}
}

func TestSystemFunctions(t *testing.T) {
	var echoReady atomic.Bool
	tg := MustStartGateway(t, Config{Ready: func(name string) bool { return name == "echo" && echoReady.Load() }})
	MustUpstream(t, tg, "echo", func(w http.ResponseWriter, r *http.Request) {})

	var list []map[string]any
	MustGetJSON(t, tg.URL+"/system/functions", &list)
	if len(list) != 2 || list[0]["name"] != "echo" || list[1]["name"] != "other" {
		t.Fatalf("functions = %v, want echo and other in order", list)
	}
	echo := list[0]
	want := map[string]any{
		"name":              "echo",
		"image":             "ghcr.io/test/echo:1",
		"namespace":         "openfaas-fn",
		"envProcess":        "./handler",
		"replicas":          1.0,
		"availableReplicas": 0.0,
		"invocationCount":   0.0,
	}
	for field, v := range want {
		if echo[field] != v {
			t.Errorf("echo %s = %#v, want %#v", field, echo[field], v)
		}
	}
	if labels, _ := echo["labels"].(map[string]any); labels["com.openfaas.scale.min"] != "1" {
		t.Errorf("echo labels = %v", echo["labels"])
	}
	if ann, _ := echo["annotations"].(map[string]any); ann["topic"] != "payments" {
		t.Errorf("echo annotations = %v", echo["annotations"])
	}
	if labels, ok := list[1]["labels"].(map[string]any); !ok || len(labels) != 0 {
		t.Errorf("other labels = %#v, want {}", list[1]["labels"])
	}

	echoReady.Store(true)
	for range 3 {
		MustDo(t, MustRequest(t, http.MethodGet, tg.URL+"/function/echo", nil))
	}
	MustDo(t, MustRequest(t, http.MethodGet, tg.URL+"/function/nope", nil)) // counts for nobody

	var one FunctionStatus
	MustGetJSON(t, tg.URL+"/system/function/echo", &one)
	if one.InvocationCount != 3 || one.AvailableReplicas != 1 {
		t.Errorf("echo invocationCount = %v availableReplicas = %d, want 3 and 1", one.InvocationCount, one.AvailableReplicas)
	}
	MustGetJSON(t, tg.URL+"/system/functions", &list)
	if list[0]["invocationCount"] != 3.0 || list[1]["invocationCount"] != 0.0 {
		t.Errorf("invocationCount = %v / %v, want 3 / 0", list[0]["invocationCount"], list[1]["invocationCount"])
	}

	resp, _ := MustDo(t, asAdmin(MustRequest(t, http.MethodGet, tg.URL+"/system/function/nope", nil)))
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/system/function/nope = %d, want 404", resp.StatusCode)
	}
}

func TestAvailableReplicasFollowUpstreamsByDefault(t *testing.T) {
	tg := MustStartGateway(t, Config{})
	var st FunctionStatus
	MustGetJSON(t, tg.URL+"/system/function/other", &st)
	if st.AvailableReplicas != 0 {
		t.Errorf("availableReplicas = %d without a process, want 0", st.AvailableReplicas)
	}
	tg.Upstreams.Set("other", MustParseURL(t, "http://127.0.0.1:1"))
	MustGetJSON(t, tg.URL+"/system/function/other", &st)
	if st.AvailableReplicas != 1 {
		t.Errorf("availableReplicas = %d with a process, want 1", st.AvailableReplicas)
	}
}

func TestSystemInfoAndHealthz(t *testing.T) {
	tg := MustStartGateway(t, Config{Version: "1.2.3"})
	var info Info
	MustGetJSON(t, tg.URL+"/system/info", &info)
	if info.Provider.Orchestration != "local" || info.Provider.Name != DefaultProviderName ||
		info.Version.Release != "1.2.3" || info.Arch == "" {
		t.Errorf("info = %+v", info)
	}
	resp, body := MustDo(t, MustRequest(t, http.MethodGet, tg.URL+"/healthz", nil))
	if resp.StatusCode != http.StatusOK || body != "OK" {
		t.Errorf("/healthz = %d %q", resp.StatusCode, body)
	}
}

func TestConfigValidate(t *testing.T) {
	ups := &Upstreams{}
	fns := []stack.Function{{Name: "a"}}
	cases := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"valid", Config{Functions: fns, Upstream: ups.Lookup, AdminPassword: "p"}, ""},
		{"no functions", Config{Upstream: ups.Lookup, AdminPassword: "p"}, "no functions"},
		{"no upstream", Config{Functions: fns, AdminPassword: "p"}, "upstream lookup is nil"},
		{"no admin password", Config{Functions: fns, Upstream: ups.Lookup}, "admin password is empty"},
		{"duplicate", Config{Functions: []stack.Function{{Name: "a"}, {Name: "a"}}, Upstream: ups.Lookup, AdminPassword: "p"}, "listed twice"},
		{"bad name", Config{Functions: []stack.Function{{Name: "a/b"}}, Upstream: ups.Lookup, AdminPassword: "p"}, "not a path segment"},
		{"negative workers", Config{Functions: fns, Upstream: ups.Lookup, AsyncWorkers: -1, AdminPassword: "p"}, "async workers must be positive"},
		{"negative timeout", Config{Functions: fns, Upstream: ups.Lookup, UpstreamTimeout: -1, AdminPassword: "p"}, "upstream timeout must be positive"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.withDefaults().Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Errorf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Validate = %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
	if _, err := New(Config{}, nil); err == nil {
		t.Error("New accepted an empty config")
	}
	d := Config{}.withDefaults()
	if d.Addr != "127.0.0.1:8080" || d.UpstreamTimeout < 60_000_000_000 {
		t.Errorf("defaults: addr %q, upstream timeout %s; want loopback :8080 and at least 60 s", d.Addr, d.UpstreamTimeout)
	}
}
