package connector

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"handler/function/local/stack"
	"handler/function/local/testenv"
)

func TestCronInvokesWithHeadersAndNeverOverlaps(t *testing.T) {
	release := make(chan struct{})
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	gw := MustGateway(t, func(ctx context.Context, _ call) int {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return http.StatusOK
	})
	relay := stack.Function{Name: "relay-outbox", Annotations: map[string]string{
		"topic": "cron-function", "schedule": "*/1 * * * *",
	}}
	cfg := testConfig(t, nil, gw.URL, relay, fn("create-payment"))
	cfg.CronEvery = 20 * time.Millisecond
	r := MustStart(t, cfg)
	if len(r.consumers) != 0 {
		t.Fatalf("%d Kafka consumers for functions without Kafka topics, want 0", len(r.consumers))
	}

	job := r.cron.jobs["relay-outbox"]
	testenv.MustEventually(t, "ticks to be skipped while the first call runs", func() bool { return job.skipped.Load() >= 3 })
	releaseOnce.Do(func() { close(release) })
	testenv.MustEventually(t, "more calls after the first finished", func() bool { return gw.answered.Load() >= 3 })
	if err := r.Stop(t); err != nil {
		t.Fatalf("run: %v", err)
	}

	if got := gw.maxRunning.Load(); got != 1 {
		t.Errorf("%d calls of relay-outbox ran at once, want 1", got)
	}
	for _, c := range gw.Calls() {
		if c.function != "relay-outbox" || c.method != http.MethodPost || len(c.body) != 0 {
			t.Errorf("call %s %s with %d body bytes, want POST relay-outbox with an empty body", c.method, c.function, len(c.body))
		}
		if c.header.Get("X-Topic") != "cron-function" || c.header.Get("X-Connector") != "cron-connector" {
			t.Errorf("headers X-Topic=%q X-Connector=%q, want cron-function and cron-connector",
				c.header.Get("X-Topic"), c.header.Get("X-Connector"))
		}
	}
}

func TestCronUsesTheStackSchedule(t *testing.T) {
	relay := stack.Function{Name: "relay-outbox", Annotations: map[string]string{
		"topic": "cron-function", "schedule": "*/1 * * * *",
	}}
	c, err := New(Config{GatewayURL: "http://127.0.0.1:8080", Functions: []stack.Function{relay}})
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	entries := c.cron.cron.Entries()
	if len(entries) != 1 {
		t.Fatalf("%d cron entries, want 1", len(entries))
	}
	from := time.Date(2026, 1, 1, 10, 0, 30, 0, time.Local)
	if got, want := entries[0].Schedule.Next(from), time.Date(2026, 1, 1, 10, 1, 0, 0, time.Local); !got.Equal(want) {
		t.Errorf("next run after %s is %s, want %s", from, got, want)
	}
}
