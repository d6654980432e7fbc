package connector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"handler/function/local/stack"
)

// commitTimeout bounds one offset commit, so that a dead broker cannot hold a
// rebalance or the shutdown forever.
const commitTimeout = 10 * time.Second

// consumer delivers the records of one function's topics: one consumer group
// named after the function, many records in flight, commits behind the
// slowest unfinished record of each partition.
type consumer struct {
	fn  stack.Function
	cfg Config
	log *slog.Logger
	inv *invoker

	metrics *metrics
	client  *kgo.Client

	mu    sync.Mutex
	parts map[topicPartition]*partition

	paused      *pauser // Connector.Pause
	maxInFlight int     // Config.MaxInFlightOf[fn.Name], or Config.MaxInFlight

	inflight atomic.Int64
	released chan struct{} // signalled (without blocking) whenever a slot frees
	wg       sync.WaitGroup

	// workCtx outlives Run's context so in-flight calls can finish while
	// draining; abort ends it when the drain timeout passes.
	workCtx context.Context
	abort   context.CancelFunc
	// stopping is closed when Run's context ends: records waiting for a retry
	// stop waiting and are left for the next start.
	stopping chan struct{}
}

type topicPartition struct {
	topic     string
	partition int32
}

// partition is one assigned partition: its watermark and a context that ends
// when the partition is revoked, so its calls and retries stop.
type partition struct {
	*tracker
	ctx    context.Context
	cancel context.CancelFunc
}

func newConsumer(fn stack.Function, cfg Config, inv *invoker, m *metrics, paused *pauser) *consumer {
	bound := cfg.MaxInFlight
	if n := cfg.MaxInFlightOf[fn.Name]; n > 0 {
		bound = n
	}
	return &consumer{
		fn:          fn,
		metrics:     m,
		paused:      paused,
		maxInFlight: bound,
		cfg:         cfg,
		log:         cfg.Logger.With("component", "connector", "function", fn.Name),
		inv:         inv,
		parts:       map[topicPartition]*partition{},
		released:    make(chan struct{}, 1),
		stopping:    make(chan struct{}),
	}
}

// run consumes until ctx ends, then drains, commits and leaves the group.
func (c *consumer) run(ctx context.Context) error {
	c.workCtx, c.abort = context.WithCancel(context.WithoutCancel(ctx))
	defer c.abort()

	cl, err := kgo.NewClient(
		kgo.SeedBrokers(c.cfg.Brokers...),
		kgo.ClientID(kafkaConnectorName),
		kgo.ConsumerGroup(c.fn.Name),
		kgo.ConsumeTopics(c.fn.Topics()...),
		// A new group starts at the beginning so it cannot miss records
		// produced before it first joined.
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// Records of aborted transactions are never delivered.
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.DisableAutoCommit(),
		// Rebalance callbacks never run between a poll and the registration of
		// its records, so every polled record has a partition to be tracked in.
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(c.assigned),
		kgo.OnPartitionsRevoked(c.revoked),
		kgo.OnPartitionsLost(c.lost),
		// Dead letters are produced by the same client, idempotently and
		// acknowledged by all in-sync replicas.
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.WithLogger(kgoLogger{c.log}),
	)
	if err != nil {
		return fmt.Errorf("kafka client for %s: %w", c.fn.Name, err)
	}
	c.mu.Lock() // tests read it while Run runs
	c.client = cl
	c.mu.Unlock()
	c.log.Info("consuming", "topics", c.fn.Topics(), "group", c.fn.Name, "max_in_flight", c.maxInFlight)

	committerDone := make(chan struct{})
	committerCtx, stopCommitter := context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		defer close(committerDone)
		c.commitEvery(committerCtx)
	}()

	c.poll(ctx)

	close(c.stopping)
	c.drain()
	stopCommitter()
	<-committerDone

	commitCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	err = c.commit(commitCtx, cl, nil)
	cancel()
	if err != nil {
		c.log.Warn("final commit failed; unfinished and uncommitted records will be delivered again", "err", err)
	}
	cl.CloseAllowingRebalance()
	c.log.Info("stopped")
	return nil
}

// poll fetches records while there are free in-flight slots and hands each to
// its own goroutine, until ctx ends.
func (c *consumer) poll(ctx context.Context) {
	for {
		// Only this loop takes slots, so free can only grow until the next poll.
		free := c.maxInFlight - int(c.inflight.Load())
		if free <= 0 {
			select {
			case <-c.released:
				continue
			case <-ctx.Done():
				return
			}
		}
		if !c.paused.wait(ctx) {
			return
		}
		fetches := c.client.PollRecords(ctx, free)
		// A poll that was waiting when Pause came holds its records too.
		if !c.paused.wait(ctx) || ctx.Err() != nil || fetches.IsClientClosed() {
			// Records polled but not dispatched are not tracked and not
			// committed: the next owner of their partition gets them.
			c.client.AllowRebalance()
			return
		}
		fetches.EachError(func(topic string, p int32, err error) {
			level := slog.LevelWarn
			if errors.Is(err, kerr.UnknownTopicOrPartition) {
				level = slog.LevelDebug // the topic is not created yet; the client keeps looking
			}
			c.log.Log(ctx, level, "fetch failed", "topic", topic, "partition", p, "err", err)
		})
		c.watermarks(fetches)
		fetches.EachRecord(c.dispatch)
		c.client.AllowRebalance()
	}
}

// dispatch registers r with its partition's watermark and delivers it on a new goroutine.
func (c *consumer) dispatch(r *kgo.Record) {
	c.mu.Lock()
	p := c.parts[topicPartition{r.Topic, r.Partition}]
	var e *entry
	ok := false
	if p != nil {
		e, ok = p.add(r.Offset, r.LeaderEpoch)
	}
	c.mu.Unlock()
	if !ok {
		c.log.Warn("record skipped: partition not assigned or offset already tracked",
			"topic", r.Topic, "partition", r.Partition, "offset", r.Offset)
		return
	}

	c.inflight.Add(1)
	c.wg.Add(1)
	go func() {
		defer c.release()
		if c.deliver(p.ctx, r) {
			c.mu.Lock()
			p.finish(e)
			c.mu.Unlock()
		}
	}()
}

func (c *consumer) release() {
	c.inflight.Add(-1)
	c.wg.Done()
	select {
	case c.released <- struct{}{}:
	default:
	}
}

// drain waits for in-flight deliveries up to the drain timeout, then aborts
// the rest and waits for them to notice.
func (c *consumer) drain() {
	done := make(chan struct{})
	go func() {
		c.wg.Wait()
		close(done)
	}()
	n := c.inflight.Load()
	if n > 0 {
		c.log.Info("draining in-flight calls", "in_flight", n, "timeout_ms", c.cfg.DrainTimeout.Milliseconds())
	}
	timer := time.NewTimer(c.cfg.DrainTimeout)
	defer timer.Stop()
	select {
	case <-done:
		return
	case <-timer.C:
	}
	c.log.Warn("drain timeout: abandoning in-flight calls; they will be delivered again",
		"in_flight", c.inflight.Load())
	c.abort()
	<-done
}

// deliver calls the function until the record succeeds, is dead-lettered, or
// delivery is abandoned. It reports whether the record is finished; an
// abandoned record (partition revoked, shutdown) is not, so its offset is
// never committed and it is delivered again.
func (c *consumer) deliver(ctx context.Context, r *kgo.Record) bool {
	header := c.inv.recordHeader(r)
	log := c.log.With("topic", r.Topic, "partition", r.Partition, "offset", r.Offset)
	for attempt := 1; ; attempt++ {
		res := c.inv.call(ctx, c.fn.Name, r.Value, header.Clone())
		if ctx.Err() != nil {
			return false
		}
		switch {
		case res.ok():
			log.Debug("delivered", "status", res.status, "attempts", attempt)
			return true
		case !res.retryable():
			return c.deadLetter(ctx, r, res, attempt, "not retryable: "+res.String())
		case attempt >= c.cfg.Retry.MaxAttempts:
			return c.deadLetter(ctx, r, res, attempt, fmt.Sprintf("gave up after %d attempts: %s", attempt, res))
		}
		c.metrics.retries.WithLabelValues(c.fn.Name, r.Topic).Inc()
		wait := c.cfg.Retry.backoff(attempt, res.retryAfter)
		log.Info("delivery failed, will retry", "attempt", attempt, "result", res.String(), "retry_in_ms", wait.Milliseconds())
		if !sleep(ctx, c.stopping, wait) {
			return false
		}
	}
}

// sleep waits d; false if ctx ended or stop closed first.
func sleep(ctx context.Context, stop <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-stop:
		return false
	}
}

// Dead-letter headers (docs/contracts.md names the topics).
const (
	HeaderDLQReason            = "dlq-reason"
	HeaderDLQStatus            = "dlq-status"
	HeaderDLQAttempts          = "dlq-attempts"
	HeaderDLQFunction          = "dlq-function"
	HeaderDLQOriginalTopic     = "dlq-original-topic"
	HeaderDLQOriginalPartition = "dlq-original-partition"
	HeaderDLQOriginalOffset    = "dlq-original-offset"
	HeaderDLQReplayedFrom      = "dlq-replayed-from"
	dlqHeaderPrefix            = "dlq-"
)

// maxReasonLen keeps dlq-reason readable in a header.
const maxReasonLen = 1024

// deadLetter writes r to its dead-letter topic, retrying until the write is
// acknowledged or ctx ends, and reports whether it was written.
func (c *consumer) deadLetter(ctx context.Context, r *kgo.Record, res result, attempts int, reason string) bool {
	if len(reason) > maxReasonLen {
		reason = strings.ToValidUTF8(reason[:maxReasonLen], "")
	}
	ours := map[string]string{
		HeaderDLQReason:            reason,
		HeaderDLQStatus:            strconv.Itoa(res.status),
		HeaderDLQAttempts:          strconv.Itoa(attempts),
		HeaderDLQFunction:          c.fn.Name,
		HeaderDLQOriginalTopic:     r.Topic,
		HeaderDLQOriginalPartition: strconv.FormatInt(int64(r.Partition), 10),
		HeaderDLQOriginalOffset:    strconv.FormatInt(r.Offset, 10),
	}
	headers := make([]kgo.RecordHeader, 0, len(r.Headers)+len(ours))
	for _, h := range r.Headers {
		if _, replaced := ours[h.Key]; !replaced {
			headers = append(headers, h)
		}
	}
	for _, k := range []string{HeaderDLQReason, HeaderDLQStatus, HeaderDLQAttempts, HeaderDLQFunction,
		HeaderDLQOriginalTopic, HeaderDLQOriginalPartition, HeaderDLQOriginalOffset} {
		headers = append(headers, kgo.RecordHeader{Key: k, Value: []byte(ours[k])})
	}
	dl := &kgo.Record{
		Topic:   c.cfg.DLQTopic(r.Topic),
		Key:     r.Key,
		Value:   r.Value,
		Headers: headers,
	}
	log := c.log.With("topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "dlq", dl.Topic)
	for attempt := 1; ; attempt++ {
		err := c.client.ProduceSync(ctx, dl).FirstErr()
		if err == nil {
			c.metrics.deadLetters.WithLabelValues(c.fn.Name, r.Topic).Inc()
			log.Warn("record dead-lettered", "reason", reason, "status", res.status, "attempts", attempts)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		// Without an acknowledged dead letter the record is not finished, so
		// keep trying (a missing topic or a broker restart are the usual causes).
		wait := c.cfg.Retry.backoff(attempt, 0)
		log.Error("dead-letter write failed, will retry", "err", err, "retry_in_ms", wait.Milliseconds())
		if !sleep(ctx, nil, wait) {
			return false
		}
	}
}

func (c *consumer) assigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for topic, ps := range assigned {
		for _, id := range ps {
			tp := topicPartition{topic, id}
			if old := c.parts[tp]; old != nil {
				old.cancel()
			}
			ctx, cancel := context.WithCancel(c.workCtx)
			c.parts[tp] = &partition{tracker: newTracker(), ctx: ctx, cancel: cancel}
		}
	}
	if len(assigned) > 0 {
		c.log.Info("partitions assigned", "partitions", assigned)
	}
}

// revoked commits what is finished on the revoked partitions, then stops their
// deliveries: the partitions' next owner starts at the committed offsets, so
// anything unfinished here is delivered there.
func (c *consumer) revoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	commitCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	if err := c.commit(commitCtx, cl, revoked); err != nil {
		c.log.Warn("commit on revoke failed; the next owner will redeliver", "err", err)
	}
	c.forget(revoked)
	if len(revoked) > 0 {
		c.log.Info("partitions revoked", "partitions", revoked)
	}
}

// lost stops the deliveries of partitions taken away without a chance to commit.
func (c *consumer) lost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	c.forget(lost)
	if len(lost) > 0 { // the client also calls it, empty, when it closes
		c.log.Warn("partitions lost", "partitions", lost)
	}
}

func (c *consumer) forget(parts map[string][]int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for topic, ps := range parts {
		for _, id := range ps {
			tp := topicPartition{topic, id}
			if p := c.parts[tp]; p != nil {
				p.cancel()
				delete(c.parts, tp)
			}
		}
	}
}

func (c *consumer) commitEvery(ctx context.Context) {
	t := time.NewTicker(c.cfg.CommitInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		commitCtx, cancel := context.WithTimeout(ctx, commitTimeout)
		if err := c.commit(commitCtx, c.client, nil); err != nil && ctx.Err() == nil {
			c.log.Warn("periodic commit failed; will retry", "err", err)
		}
		cancel()
	}
}

// commit commits the watermark of the given partitions (all assigned ones when
// only is nil) where it moved since the last commit. cl is the consumer's
// client (passed in because rebalance callbacks may run before c.client is set).
func (c *consumer) commit(ctx context.Context, cl *kgo.Client, only map[string][]int32) error {
	type committing struct {
		p      *partition
		offset int64
	}
	offsets := map[string]map[int32]kgo.EpochOffset{}
	var batch []committing
	index := map[topicPartition]int{}

	c.mu.Lock()
	for tp, p := range c.parts {
		if only != nil && !slices.Contains(only[tp.topic], tp.partition) {
			continue
		}
		eo, ahead := p.toCommit()
		if !ahead {
			continue
		}
		if offsets[tp.topic] == nil {
			offsets[tp.topic] = map[int32]kgo.EpochOffset{}
		}
		offsets[tp.topic][tp.partition] = eo
		index[tp] = len(batch)
		batch = append(batch, committing{p, eo.Offset})
	}
	c.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}

	var errs []error
	cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			errs = append(errs, err)
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, t := range resp.Topics {
			for _, rp := range t.Partitions {
				if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
					errs = append(errs, fmt.Errorf("%s/%d: %w", t.Topic, rp.Partition, err))
					continue
				}
				if i, ok := index[topicPartition{t.Topic, rp.Partition}]; ok {
					batch[i].p.committedAt(batch[i].offset)
				}
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("commit offsets of group %s: %w", c.fn.Name, err)
	}
	c.log.Debug("committed", "offsets", offsets)
	return nil
}
