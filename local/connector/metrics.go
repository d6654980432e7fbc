package connector

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// metrics are the connector's Prometheus series. Lag uses the names of the
// widely used kafka_exporter (kafka_consumergroup_lag{consumergroup, topic,
// partition}), so its dashboards and alerts fit; the rest are ours.
type metrics struct {
	retries     *prometheus.CounterVec
	deadLetters *prometheus.CounterVec
	lag         *lagCollector
}

func newMetrics() *metrics {
	return &metrics{
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "connector_delivery_retries_total",
			Help: "Deliveries of a record to its function that failed and will be retried.",
		}, []string{"function_name", "topic"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "connector_dead_letters_total",
			Help: "Records written to their dead-letter topic.",
		}, []string{"function_name", "topic"}),
		lag: &lagCollector{desc: prometheus.NewDesc("kafka_consumergroup_lag",
			"Records of a partition its consumer group has not committed: end offset minus committed offset.",
			[]string{"consumergroup", "topic", "partition"}, nil)},
	}
}

func (m *metrics) register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.retries, m.deadLetters, m.lag} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// lagCollector computes each assigned partition's lag when scraped.
type lagCollector struct {
	desc      *prometheus.Desc
	consumers []*consumer
}

func (l *lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- l.desc }

func (l *lagCollector) Collect(ch chan<- prometheus.Metric) {
	for _, c := range l.consumers {
		c.mu.Lock()
		for tp, p := range c.parts {
			if lag, ok := p.lag(); ok {
				ch <- prometheus.MustNewConstMetric(l.desc, prometheus.GaugeValue, float64(lag),
					c.fn.Name, tp.topic, strconv.FormatInt(int64(tp.partition), 10))
			}
		}
		c.mu.Unlock()
	}
}

// watermarks remembers where each fetched partition ends, for the lag.
func (c *consumer) watermarks(fetches kgo.Fetches) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		if fp.Err != nil {
			return
		}
		if p := c.parts[topicPartition{fp.Topic, fp.Partition}]; p != nil {
			p.highWatermark = max(p.highWatermark, fp.HighWatermark)
		}
	})
}
