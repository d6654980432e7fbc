package connector

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kgo"

	"handler/function/local/metricstest"
	"handler/function/local/testenv"
)

func TestMetricsLagRetriesAndDeadLetters(t *testing.T) {
	brokers := MustCluster(t, 1, "payments")
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	var (
		mu      sync.Mutex
		retried bool
	)
	gw := MustGateway(t, func(ctx context.Context, c call) int {
		switch string(c.body) {
		case "slow":
			select {
			case <-release:
			case <-ctx.Done():
			}
			return http.StatusOK
		case "retry-once":
			mu.Lock()
			defer mu.Unlock()
			if !retried {
				retried = true
				return http.StatusServiceUnavailable
			}
			return http.StatusOK
		case "bad":
			return http.StatusBadRequest
		}
		return http.StatusOK
	})
	registry := prometheus.NewRegistry()
	cfg := testConfig(t, brokers, gw.URL, fn("process-payment", "payments"))
	cfg.Registry = registry
	MustStart(t, cfg)
	srv := httptest.NewServer(promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	lag := func() float64 {
		return metricstest.MustScrape(t, srv.URL).Get("kafka_consumergroup_lag",
			"consumergroup", "process-payment", "topic", "payments", "partition", "0")
	}

	cl := MustClient(t, brokers)
	MustProduce(t, cl,
		&kgo.Record{Topic: "payments", Value: []byte("slow")},
		&kgo.Record{Topic: "payments", Value: []byte("retry-once")},
		&kgo.Record{Topic: "payments", Value: []byte("bad")},
	)
	// The slow head holds the commit, so the whole partition is behind.
	testenv.MustEventually(t, "lag of 3 while the first record runs", func() bool { return lag() == 3 })
	testenv.MustEventually(t, "the retry and the dead letter", func() bool {
		m := metricstest.MustScrape(t, srv.URL)
		return m.Get("connector_delivery_retries_total", "function_name", "process-payment", "topic", "payments") == 1 &&
			m.Get("connector_dead_letters_total", "function_name", "process-payment", "topic", "payments") == 1
	})
	if got := lag(); got != 3 {
		t.Errorf("lag = %v before the head finished, want 3", got)
	}
	once.Do(func() { close(release) })
	testenv.MustEventually(t, "lag 0 once everything is committed", func() bool { return lag() == 0 })
}
