// Package connector is the local runner's stand-in for the OpenFaaS Kafka
// connector and cron-connector: it delivers the records of each function's
// topics (the "topic" annotation in stack.yml) to the function through the
// gateway, and invokes scheduled functions ("schedule" annotation).
//
// Unlike the OpenFaaS Kafka connector, which acknowledges a record on any
// response, delivery here is at-least-once with retries and dead letters:
//
//   - Each function is one consumer group named after it, starting at the
//     earliest offset. Records are delivered concurrently (up to
//     Config.MaxInFlight per function), and a partition's offset is committed
//     only up to the first record that has not finished, so a crash or a
//     rebalance redelivers what was unfinished and loses nothing.
//   - A call is retried with exponential backoff and jitter on 5xx, 404, 408,
//     409, 429, timeouts and connection errors (Knative's delivery rule). Any other
//     status, or running out of attempts, sends the record to <topic>.dlq with
//     dlq-* headers saying why; only the acknowledged dead-letter write
//     finishes the record. ListDeadLetters and ReplayDeadLetters inspect and
//     replay them.
//
// Because delivery is at-least-once, functions must be idempotent: a record
// is delivered again after a crash, a rebalance, a shutdown that outlasted the
// drain timeout, or a replay.
package connector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"handler/function/local/stack"
)

// Connector runs the Kafka consumers, the tap and the cron schedules of a stack.
type Connector struct {
	cfg       Config
	log       *slog.Logger
	inv       *invoker
	ownClient bool
	consumers []*consumer
	cron      *cronRunner
	metrics   *metrics
	ran       atomic.Bool
	paused    *pauser
}

// New applies the defaults to cfg, validates it and prepares a Connector.
func New(cfg Config) (*Connector, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("connector config: %w", err)
	}
	c := &Connector{cfg: cfg, log: cfg.Logger.With("component", "connector"), paused: &pauser{}}

	var subscribers, scheduled []stack.Function
	for _, fn := range cfg.Functions {
		if len(fn.Topics()) > 0 {
			subscribers = append(subscribers, fn)
		}
		if fn.Schedule() != "" {
			scheduled = append(scheduled, fn)
		}
	}

	httpClient := cfg.HTTPClient
	if httpClient == nil {
		httpClient = newHTTPClient(cfg.MaxInFlight*len(subscribers)+len(scheduled), cfg.GatewayHTTP2)
		c.ownClient = true
	}
	c.inv = &invoker{client: httpClient, gateway: cfg.GatewayURL, contentType: cfg.ContentType, timeout: cfg.RequestTimeout}

	c.metrics = newMetrics()
	for _, fn := range subscribers {
		c.consumers = append(c.consumers, newConsumer(fn, cfg, c.inv, c.metrics, c.paused))
	}
	c.metrics.lag.consumers = c.consumers
	if cfg.Registry != nil {
		if err := c.metrics.register(cfg.Registry); err != nil {
			return nil, fmt.Errorf("connector metrics: %w", err)
		}
	}
	if len(scheduled) > 0 {
		cr, err := newCronRunner(cfg, c.inv, scheduled)
		if err != nil {
			return nil, err
		}
		c.cron = cr
	}
	return c, nil
}

// tapTopics returns every subscribed topic and its dead-letter topic, sorted.
func (c *Connector) tapTopics() []string {
	var topics []string
	for _, cons := range c.consumers {
		for _, t := range cons.fn.Topics() {
			topics = append(topics, t, c.cfg.DLQTopic(t))
		}
	}
	slices.Sort(topics)
	return slices.Compact(topics)
}

// Run delivers records and fires schedules until ctx ends, then stops
// fetching, lets in-flight calls finish within the drain timeout, commits and
// leaves the consumer groups. The topics should exist (EnsureTopics); a missing
// topic is waited for. Run returns an error only if a part could not start; it
// may be called once.
func (c *Connector) Run(ctx context.Context) error {
	if !c.ran.CompareAndSwap(false, true) {
		return errors.New("connector: Run called twice")
	}
	start := time.Now()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	spawn := func(run func(context.Context) error) {
		wg.Go(func() {
			if err := run(ctx); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				cancel(err) // a part that cannot start stops the others
			}
		})
	}
	for _, cons := range c.consumers {
		spawn(cons.run)
	}
	if c.cfg.Tap != nil && len(c.consumers) > 0 {
		topics := c.tapTopics()
		spawn(func(ctx context.Context) error {
			return runTap(ctx, c.cfg.Brokers, topics, start, c.cfg.Tap, c.log)
		})
	}
	if c.cron != nil {
		spawn(func(ctx context.Context) error {
			c.cron.run(ctx)
			return nil
		})
	}
	scheduled := 0
	if c.cron != nil {
		scheduled = len(c.cron.jobs)
	}
	c.log.Info("connector started", "gateway", c.cfg.GatewayURL, "consumers", len(c.consumers), "scheduled", scheduled)
	// Every part runs until ctx ends, and a part that fails ends ctx.
	<-ctx.Done()
	wg.Wait()
	if c.ownClient {
		c.inv.client.CloseIdleConnections()
	}
	c.log.Info("connector stopped")
	return errors.Join(errs...)
}
