package connector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Waits between EnsureTopics attempts while the broker is not ready.
const (
	ensureFirstWait  = 250 * time.Millisecond
	ensureMaxWait    = 5 * time.Second
	ensureAttemptMax = 15 * time.Second
)

// EnsureTopics creates each topic and its dead-letter topic (DefaultDLQSuffix)
// with the given partitions and replication factor, and returns once every
// one of them exists with a leader for each partition. Topics that already
// exist are left as they are, so it is safe to call on every start.
//
// A broker that is not up yet (connection refused, not ready, a replication
// factor larger than the brokers registered so far) is waited for with
// backoff until ctx ends; only errors that waiting cannot fix (an invalid
// topic name, a policy violation) end it early. Progress is logged to slog.Default().
func EnsureTopics(ctx context.Context, brokers, topics []string, partitions int32, replication int16) error {
	if len(brokers) == 0 {
		return errors.New("ensure topics: no brokers")
	}
	if partitions < 1 || replication < 1 {
		return fmt.Errorf("ensure topics: want partitions (%d) and replication (%d) of at least 1", partitions, replication)
	}
	var all []string
	for _, t := range topics {
		all = append(all, t, t+DefaultDLQSuffix)
	}
	for _, t := range all {
		if err := validTopic(t); err != nil {
			return fmt.Errorf("ensure topics: %w", err)
		}
	}
	slices.Sort(all)
	all = slices.Compact(all)
	if len(all) == 0 {
		return nil
	}

	log := slog.Default().With("component", "connector")
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.WithLogger(kgoLogger{log}))
	if err != nil {
		return fmt.Errorf("ensure topics: kafka client: %w", err)
	}
	defer cl.Close()

	wait := ensureFirstWait
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, ensureAttemptMax)
		err := ensureOnce(actx, cl, all, partitions, replication)
		cancel()
		if err == nil {
			log.Info("topics ready", "topics", all)
			return nil
		}
		var perm permanentError
		if errors.As(err, &perm) {
			return fmt.Errorf("ensure topics: %w", err)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("ensure topics: gave up waiting for Kafka: %w (last error: %v)", ctx.Err(), err)
		}
		log.Info("waiting for Kafka to create topics", "attempt", attempt, "err", err, "retry_in_ms", wait.Milliseconds())
		if !sleep(ctx, nil, wait) {
			return fmt.Errorf("ensure topics: gave up waiting for Kafka: %w (last error: %v)", ctx.Err(), err)
		}
		wait = min(2*wait, ensureMaxWait)
	}
}

// validTopic applies Kafka's topic name rules, so a typo fails at once.
func validTopic(t string) error {
	if t == "" || t == "." || t == ".." || len(t) > 249 {
		return fmt.Errorf("invalid topic name %q", t)
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("invalid topic name %q: only letters, digits, '.', '_' and '-' are allowed", t)
		}
	}
	return nil
}

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// ensureOnce creates the missing topics and checks that all are ready.
func ensureOnce(ctx context.Context, cl *kgo.Client, topics []string, partitions int32, replication int16) error {
	missing, err := notReady(ctx, cl, topics)
	if err != nil || len(missing) == 0 {
		return err
	}
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = int32(ensureAttemptMax / time.Millisecond)
	for _, t := range missing {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic = t
		rt.NumPartitions = partitions
		rt.ReplicationFactor = replication
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	var errs []error
	for _, t := range resp.Topics {
		err := kerr.ErrorForCode(t.ErrorCode)
		switch {
		case err == nil, errors.Is(err, kerr.TopicAlreadyExists):
		case kerr.IsRetriable(err), errors.Is(err, kerr.InvalidReplicationFactor):
			// A cluster that is still starting may not have every broker
			// registered yet, which Kafka reports as a bad replication factor.
			errs = append(errs, fmt.Errorf("create topic %s: %w", t.Topic, err))
		default:
			msg := ""
			if t.ErrorMessage != nil {
				msg = ": " + *t.ErrorMessage
			}
			return permanentError{fmt.Errorf("create topic %s: %w%s", t.Topic, err, msg)}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if missing, err = notReady(ctx, cl, topics); err != nil {
		return err
	}
	if len(missing) > 0 {
		return fmt.Errorf("topics created but not ready yet: %v", missing)
	}
	return nil
}

// notReady returns the topics that do not exist or have a partition without a leader.
func notReady(ctx context.Context, cl *kgo.Client, topics []string) ([]string, error) {
	resp, err := metadataRequest(topics).RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	ready := map[string]bool{}
	for _, t := range resp.Topics {
		if t.Topic == nil || t.ErrorCode != 0 || len(t.Partitions) == 0 {
			continue
		}
		ok := true
		for _, p := range t.Partitions {
			ok = ok && p.ErrorCode == 0 && p.Leader >= 0
		}
		ready[*t.Topic] = ok
	}
	var missing []string
	for _, t := range topics {
		if !ready[t] {
			missing = append(missing, t)
		}
	}
	return missing, nil
}

// metadataRequest asks for the metadata of the named topics only.
func metadataRequest(topics []string) *kmsg.MetadataRequest {
	req := kmsg.NewPtrMetadataRequest()
	for _, t := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(t)
		req.Topics = append(req.Topics, rt)
	}
	return req
}
