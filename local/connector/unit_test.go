package connector

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"handler/function/local/stack"
)

func TestTrackerCommitsOnlyTheFinishedPrefix(t *testing.T) {
	tr := newTracker()
	var es []*entry
	for _, off := range []int64{10, 11, 13, 14} { // 12 is a gap (compaction, a transaction marker)
		e, ok := tr.add(off, 2)
		if !ok {
			t.Fatalf("add %d refused", off)
		}
		es = append(es, e)
	}
	if _, ok := tr.add(11, 2); ok {
		t.Fatal("an offset already tracked was accepted again")
	}
	if _, ahead := tr.toCommit(); ahead {
		t.Fatal("something to commit before any record finished")
	}

	steps := []struct {
		finish int // index into es
		want   int64
	}{
		{2, -1}, // 13 done, 10 still running
		{0, 11}, // 10 done
		{3, 11}, // 14 done, 11 still running
		{1, 15}, // 11 done: everything up to 14
	}
	for _, s := range steps {
		tr.finish(es[s.finish])
		got, _ := tr.toCommit()
		if got.Offset != s.want {
			t.Fatalf("after finishing %d: commit offset %d, want %d", es[s.finish].offset, got.Offset, s.want)
		}
	}
	if got, _ := tr.toCommit(); got != (kgo.EpochOffset{Epoch: 2, Offset: 15}) {
		t.Errorf("commit %+v, want epoch 2 offset 15", got)
	}
	tr.committedAt(15)
	if _, ahead := tr.toCommit(); ahead {
		t.Error("offset 15 offered again after it was committed")
	}
}

func TestRetryClassification(t *testing.T) {
	for status, want := range map[int]bool{
		200: false, 302: false, 400: false, 401: false, 403: false, 413: false, 422: false,
		404: true, 408: true, 409: true, 429: true, 500: true, 502: true, 503: true, 504: true,
	} {
		if got := (result{status: status}).retryable(); got != want {
			t.Errorf("status %d retryable = %v, want %v", status, got, want)
		}
	}
	if !(result{err: http.ErrHandlerTimeout}).retryable() {
		t.Error("a call without an answer is not retried")
	}
}

func TestBackoffGrowsWithJitterUnderTheCap(t *testing.T) {
	p := RetryPolicy{MaxAttempts: 10, BaseDelay: time.Second, MaxDelay: 30 * time.Second}
	for attempt := 1; attempt <= 12; attempt++ {
		full := min(time.Second<<(attempt-1), 30*time.Second)
		for range 50 {
			d := p.backoff(attempt, 0)
			if d < full/2 || d > full {
				t.Fatalf("attempt %d: wait %s outside [%s, %s]", attempt, d, full/2, full)
			}
		}
	}
	if d := p.backoff(1, 10*time.Second); d != 10*time.Second {
		t.Errorf("Retry-After 10s gave a wait of %s", d)
	}
	if d := p.backoff(1, time.Hour); d != 30*time.Second {
		t.Errorf("Retry-After 1h gave a wait of %s, want the 30s cap", d)
	}
}

func TestConfigDefaultsAndValidation(t *testing.T) {
	cfg := Config{Brokers: []string{"k:9092"}, GatewayURL: "http://127.0.0.1:8080"}.WithDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if cfg.MaxInFlight < 2500 {
		t.Errorf("default max in-flight %d cannot keep up with 100 records/s of 25 s calls", cfg.MaxInFlight)
	}
	if cfg.DLQTopic("payments") != "payments.dlq" {
		t.Errorf("dead-letter topic %q", cfg.DLQTopic("payments"))
	}

	bad := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no brokers with topics", func(c *Config) {
			c.Brokers = nil
			c.Functions = []stack.Function{fn("f", "payments")}
		}, "no Kafka brokers"},
		{"gateway without scheme", func(c *Config) { c.GatewayURL = "127.0.0.1:8080" }, "gateway URL"},
		{"negative in-flight", func(c *Config) { c.MaxInFlight = -1 }, "max in-flight"},
		{"cap below base", func(c *Config) { c.Retry.MaxDelay = time.Millisecond }, "retry delays"},
		{"negative drain", func(c *Config) { c.DrainTimeout = -time.Second }, "drain timeout"},
		{"bad schedule", func(c *Config) {
			c.Functions = []stack.Function{{Name: "cron", Annotations: map[string]string{"topic": "cron-function", "schedule": "every minute"}}}
		}, "schedule"},
		{"consuming a dead-letter topic", func(c *Config) {
			c.Functions = []stack.Function{fn("f", "payments.dlq")}
		}, "dead-letter topic"},
		{"duplicate function", func(c *Config) {
			c.Functions = []stack.Function{fn("f", "a"), fn("f", "b")}
		}, "listed twice"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			c := cfg
			tt.edit(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want an error about %q", err, tt.want)
			}
			if _, err := New(c); err == nil {
				t.Fatal("New accepted the config")
			}
		})
	}
}

func TestHeaderValues(t *testing.T) {
	for in, want := range map[string]string{
		"plain":       "plain",
		"tab\tok":     "tab\tok",
		"üñí":         "üñí",
		"line\nbreak": "bGluZQpicmVhaw==",
		"\xff\xfe":    "//4=",
		"":            "",
	} {
		if got := headerValue([]byte(in)); got != want {
			t.Errorf("headerValue(%q) = %q, want %q", in, got, want)
		}
	}
	for name, want := range map[string]bool{"X-Kafka-Trace-Id": true, "X-Kafka-a b": false, "X-Kafka-a:b": false, "X-Kafka-é": false} {
		if got := validHeaderName(name); got != want {
			t.Errorf("validHeaderName(%q) = %v, want %v", name, got, want)
		}
	}
}

// With GatewayHTTP2 the connector's calls share HTTP/2 connections to the
// gateway instead of holding one each.
func TestGatewayOverHTTP2WithoutTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.Proto)
	}))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	defer srv.Close()
	for h2, want := range map[bool]string{true: "HTTP/2.0", false: "HTTP/1.1"} {
		resp, err := newHTTPClient(4, h2).Post(srv.URL, "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != want {
			t.Errorf("GatewayHTTP2 %v: the gateway saw %s, want %s", h2, body, want)
		}
	}
}

func TestMaxInFlightOfOverridesTheBoundPerFunction(t *testing.T) {
	cfg := Config{MaxInFlight: 100, MaxInFlightOf: map[string]int{"process-payment": 12000}, Logger: slog.New(slog.DiscardHandler)}
	for name, want := range map[string]int{"process-payment": 12000, "apply-result": 100} {
		if got := newConsumer(fn(name, "t"), cfg, nil, newMetrics(), &pauser{}).maxInFlight; got != want {
			t.Errorf("%s: bound %d, want %d", name, got, want)
		}
	}
	cfg.MaxInFlightOf["apply-result"] = -1
	if err := cfg.WithDefaults().Validate(); err == nil || !strings.Contains(err.Error(), "apply-result") {
		t.Errorf("a negative bound: %v, want an error naming the function", err)
	}
}
