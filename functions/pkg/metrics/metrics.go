// Package metrics is a function process's own Prometheus metrics: request
// durations by status, the Postgres pool's state and the Kafka producer's
// sends, beside the Go runtime and process series.
//
// The golang-http template owns the function's HTTP server and hands the
// function no URL path, so /metrics cannot be a route of the function itself.
// Instead a process serves them on a side listener at METRICS_ADDR (for
// example ":8081"), started once, on the first call (Start). Without
// METRICS_ADDR nothing listens: the gateway's metrics are what OpenFaaS
// scales on, and these are for a person or a Prometheus that scrapes pods.
package metrics

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

var (
	registry = prometheus.NewRegistry()

	requests = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "function_request_duration_seconds",
		Help:    "Time the function took to answer a call, by status code.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"code"})
	produced = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "function_kafka_produced_total",
		Help: "Events sent to Kafka, by topic and result (ok: acknowledged by all in-sync replicas).",
	}, []string{"topic", "result"})
	produceSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "function_kafka_produce_seconds",
		Help:    "Time from sending an event to its acknowledgement or failure.",
		Buckets: prometheus.DefBuckets,
	}, []string{"topic"})
	pools = newPoolCollector()
)

func init() {
	registry.MustRegister(requests, produced, produceSeconds, pools,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}

// ObserveRequest records one answered call.
func ObserveRequest(status int, took time.Duration) {
	requests.WithLabelValues(strconv.Itoa(status)).Observe(took.Seconds())
}

// ObserveProduce records one send to Kafka; err nil means acknowledged.
func ObserveProduce(topic string, err error, took time.Duration) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	produced.WithLabelValues(topic, result).Inc()
	produceSeconds.WithLabelValues(topic).Observe(took.Seconds())
}

// Handler serves the process's metrics in the Prometheus text format.
func Handler() http.Handler { return promhttp.HandlerFor(registry, promhttp.HandlerOpts{}) }

var (
	startOnce sync.Once
	started   string // the side listener's address, "" when none
)

// Start serves Handler at addr on a listener of its own, once per process;
// later calls do nothing. An empty addr starts nothing. A listener that
// cannot be opened is logged, not fatal: metrics never cost a call.
func Start(addr string, log *slog.Logger) string {
	startOnce.Do(func() {
		if addr == "" {
			return
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			log.Warn("metrics listener not started", "addr", addr, "err", err)
			return
		}
		started = ln.Addr().String()
		srv := &http.Server{Handler: Handler(), ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
		go func() {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				log.Warn("metrics listener stopped", "err", err)
			}
		}()
		log.Info("metrics listening", "addr", started)
	})
	return started
}

// poolCollector reports the pgx pools of the process, read when scraped.
type poolCollector struct {
	mu    sync.Mutex
	pools map[*pgxpool.Pool]struct{}

	acquired, idle, total, max, acquires, emptyAcquires, acquireSeconds *prometheus.Desc
}

func newPoolCollector() *poolCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("function_db_pool_"+name, help, nil, nil)
	}
	return &poolCollector{
		pools:          map[*pgxpool.Pool]struct{}{},
		acquired:       d("acquired_conns", "Connections in use."),
		idle:           d("idle_conns", "Idle connections."),
		total:          d("total_conns", "Open connections."),
		max:            d("max_conns", "Most connections the pool opens."),
		acquires:       d("acquires_total", "Connections acquired from the pool."),
		emptyAcquires:  d("empty_acquires_total", "Acquires that found no idle connection and waited or dialled."),
		acquireSeconds: d("acquire_wait_seconds_total", "Time spent acquiring connections."),
	}
}

// WatchPool adds a pool to the metrics until the returned function is called
// (before the pool is closed).
func WatchPool(p *pgxpool.Pool) (unwatch func()) {
	pools.mu.Lock()
	defer pools.mu.Unlock()
	pools.pools[p] = struct{}{}
	return func() {
		pools.mu.Lock()
		defer pools.mu.Unlock()
		delete(pools.pools, p)
	}
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.acquired, c.idle, c.total, c.max, c.acquires, c.emptyAcquires, c.acquireSeconds} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	var acquired, idle, total, maxConns, acquires, empty int64
	var wait time.Duration
	for p := range c.pools {
		s := p.Stat()
		acquired += int64(s.AcquiredConns())
		idle += int64(s.IdleConns())
		total += int64(s.TotalConns())
		maxConns += int64(s.MaxConns())
		acquires += s.AcquireCount()
		empty += s.EmptyAcquireCount()
		wait += s.AcquireDuration()
	}
	c.mu.Unlock()
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge(c.acquired, float64(acquired))
	gauge(c.idle, float64(idle))
	gauge(c.total, float64(total))
	gauge(c.max, float64(maxConns))
	counter(c.acquires, float64(acquires))
	counter(c.emptyAcquires, float64(empty))
	counter(c.acquireSeconds, wait.Seconds())
}
