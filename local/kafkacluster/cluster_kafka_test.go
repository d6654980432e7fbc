//go:build kafka

package kafkacluster_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"handler/function/local/kafkacluster"
	"handler/function/local/kafkacluster/kafkatest"
)

// One broker, the whole life cycle: records acknowledged with acks=all
// survive a kill -9 and a full stop; the folder refuses a second start while
// running; a second handle on the folder (what the kafka-cluster command
// uses) sees and stops the same processes.
func TestRealKafkaClusterLifecycle(t *testing.T) {
	c := kafkatest.MustCluster(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	m, err := c.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.BrokerIDs(); len(got) != 1 || got[0] != 1 {
		t.Fatalf("the cluster lists brokers %v, want [1]", got)
	}

	const topic, records = "lifecycle", 100
	mustCreateTopic(t, c.Brokers(), topic, 3, c.Config().ReplicationFactor())
	mustProduce(t, c.Brokers(), topic, 0, records)

	if _, err := kafkacluster.Start(ctx, c.Config()); !errors.Is(err, kafkacluster.ErrRunning) {
		t.Fatalf("a second Start on a running folder: %v, want ErrRunning", err)
	}

	pid := c.Pid(1)
	if err := c.Kill(1); err != nil {
		t.Fatal(err)
	}
	if c.Pid(1) != 0 {
		t.Fatalf("broker 1 still has pid %d after Kill", c.Pid(1))
	}
	if err := c.Restart(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if c.Pid(1) == 0 || c.Pid(1) == pid {
		t.Fatalf("after Restart broker 1 has pid %d (was %d), want a new process", c.Pid(1), pid)
	}
	if got := mustCount(t, c.Brokers(), topic); got != records {
		t.Fatalf("%d records after kill -9 and restart, want the %d acknowledged", got, records)
	}
	mustProduce(t, c.Brokers(), topic, records, records)

	// What `kafka-cluster stop` and `start` do, from a second handle.
	other, err := kafkacluster.Open(ctx, c.Config())
	if err != nil {
		t.Fatal(err)
	}
	if other.Pid(1) != c.Pid(1) || other.ClusterID() != c.ClusterID() {
		t.Fatalf("Open sees pid %d of cluster %s, want pid %d of %s", other.Pid(1), other.ClusterID(), c.Pid(1), c.ClusterID())
	}
	if err := other.Stop(); err != nil {
		t.Fatal(err)
	}
	if c.Pid(1) != 0 {
		t.Fatalf("broker 1 still has pid %d after Stop", c.Pid(1))
	}
	again, err := kafkacluster.Start(ctx, c.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer again.Stop()
	if got := mustCount(t, again.Brokers(), topic); got != 2*records {
		t.Fatalf("%d records after a stop and start, want %d", got, 2*records)
	}
}

func mustCreateTopic(tb testing.TB, brokers []string, topic string, partitions int32, replication int16) {
	tb.Helper()
	cl := mustClient(tb, brokers)
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, partitions, replication
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 30_000
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		tb.Fatal(err)
	}
	if code := resp.Topics[0].ErrorCode; code != 0 {
		tb.Fatalf("create topic %s: error code %d", topic, code)
	}
}

// mustProduce writes n records, numbered from first, with acks=all.
func mustProduce(tb testing.TB, brokers []string, topic string, first, n int) {
	tb.Helper()
	cl := mustClient(tb, brokers, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = kgo.StringRecord(fmt.Sprintf("record %d", first+i))
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		tb.Fatalf("produce to %s: %v", topic, err)
	}
}

// mustCount reads topic from the start to its end offsets and counts the records.
func mustCount(tb testing.TB, brokers []string, topic string) int {
	tb.Helper()
	cl := mustClient(tb, brokers, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	want := mustEndOffsets(tb, ctx, cl, topic)
	got := map[int32]int64{}
	n := 0
	for {
		done := true
		for p, end := range want {
			done = done && got[p] >= end
		}
		if done {
			return n
		}
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			tb.Fatalf("read %s: %v (read up to %v of %v)", topic, err, got, want)
		}
		fetches.EachError(func(t string, p int32, err error) { tb.Logf("fetch %s/%d: %v", t, p, err) })
		fetches.EachRecord(func(r *kgo.Record) {
			n++
			got[r.Partition] = r.Offset + 1
		})
	}
}

func mustEndOffsets(tb testing.TB, ctx context.Context, cl *kgo.Client, topic string) map[int32]int64 {
	tb.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for p := range int32(3) {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp = p, -1 // -1: the end
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		tb.Fatal(err)
	}
	ends := map[int32]int64{}
	for _, p := range resp.Topics[0].Partitions {
		if p.ErrorCode != 0 {
			tb.Fatalf("end offset of %s/%d: error code %d", topic, p.Partition, p.ErrorCode)
		}
		ends[p.Partition] = p.Offset
	}
	return ends
}

func mustClient(tb testing.TB, brokers []string, opts ...kgo.Opt) *kgo.Client {
	tb.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(cl.Close)
	return cl
}
