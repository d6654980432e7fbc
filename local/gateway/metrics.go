package gateway

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the gateway's Prometheus series, under the names and labels of
// the OpenFaaS gateway (openfaas/faas gateway/metrics), so that a dashboard or
// an autoscaler rule written for OpenFaaS reads them unchanged. The local
// autoscaler (package scaler) reads these same series.
//
// In-flight calls are started minus finished:
// gateway_function_invocation_started - gateway_function_invocation_total.
type metrics struct {
	registry *prometheus.Registry
	// invocations counts finished calls by status code (499: the caller left).
	invocations *prometheus.CounterVec
	seconds     *prometheus.HistogramVec
	started     *prometheus.CounterVec
	// coldStarts is ours, not OpenFaaS's: how long a call to a function at
	// zero replicas waited for the first replica to be ready.
	coldStarts *prometheus.HistogramVec
}

func newMetrics(g *Gateway, registry *prometheus.Registry) (*metrics, error) {
	if registry == nil {
		registry = prometheus.NewRegistry()
	}
	m := &metrics{
		registry: registry,
		invocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_function_invocation_total",
			Help: "Function invocations by status code.",
		}, []string{"function_name", "code"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gateway_functions_seconds",
			Help:    "Function invocation time taken, seen by the gateway.",
			Buckets: prometheus.DefBuckets,
		}, []string{"function_name", "code"}),
		started: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_function_invocation_started",
			Help: "Function invocations started.",
		}, []string{"function_name"}),
		coldStarts: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gateway_function_cold_start_seconds",
			Help:    "Time a call to a function at zero replicas waited for a replica to be ready.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30},
		}, []string{"function_name"}),
	}
	serviceCount := &serviceCounter{g: g, desc: prometheus.NewDesc("gateway_service_count",
		"Current count of replicas for a function.", []string{"function_name"}, nil)}
	for _, c := range []prometheus.Collector{m.invocations, m.seconds, m.started, m.coldStarts, serviceCount, newBudgetCollector(g)} {
		if err := registry.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// begin counts a call to fn as started and returns what ends it with its
// status; it also feeds invocationCount in /system/functions.
func (m *metrics) begin(fn *function) func(status int) {
	name := fn.meta.Name
	start := time.Now()
	fn.invocations.Add(1)
	m.started.WithLabelValues(name).Inc()
	return func(status int) {
		code := strconv.Itoa(status)
		m.invocations.WithLabelValues(name, code).Inc()
		m.seconds.WithLabelValues(name, code).Observe(time.Since(start).Seconds())
	}
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// serviceCounter reports each function's replicas when scraped, so the gauge
// is never stale.
type serviceCounter struct {
	g    *Gateway
	desc *prometheus.Desc
}

func (s *serviceCounter) Describe(ch chan<- *prometheus.Desc) { ch <- s.desc }

func (s *serviceCounter) Collect(ch chan<- prometheus.Metric) {
	for _, fn := range s.g.sorted {
		replicas, _ := s.g.replicas(fn.meta.Name)
		ch <- prometheus.MustNewConstMetric(s.desc, prometheus.GaugeValue, float64(replicas), fn.meta.Name)
	}
}
