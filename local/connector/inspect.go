package connector

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TopicState is a topic's partitions as the brokers report them.
type TopicState struct {
	Name       string           `json:"name"`
	ID         [16]byte         `json:"-"`
	Partitions []PartitionState `json:"partitions"`
}

// PartitionState is one partition: its leader broker and its first and next
// offsets (end minus start records are kept).
type PartitionState struct {
	Partition int32 `json:"partition"`
	Leader    int32 `json:"leader"`
	Start     int64 `json:"start"`
	End       int64 `json:"end"`
}

// GroupState is a consumer group's committed offsets on one topic.
type GroupState struct {
	Group      string           `json:"group"`
	Topic      string           `json:"topic"`
	Partitions []GroupPartition `json:"partitions"`
}

// GroupPartition is a group's position in one partition; Committed is -1
// before the group's first commit, and Lag counts from the partition's start then.
type GroupPartition struct {
	Partition int32 `json:"partition"`
	Committed int64 `json:"committed"`
	End       int64 `json:"end"`
	Lag       int64 `json:"lag"`
}

// Inspector reads topics and consumer groups for the System page.
type Inspector struct{ cl *kgo.Client }

// NewInspector connects lazily to brokers.
func NewInspector(brokers []string) (*Inspector, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ClientID(kafkaConnectorName+"-inspect"))
	if err != nil {
		return nil, fmt.Errorf("inspector: kafka client: %w", err)
	}
	return &Inspector{cl: cl}, nil
}

// Close closes the client.
func (in *Inspector) Close() { in.cl.Close() }

// Topics describes the given topics.
func (in *Inspector) Topics(ctx context.Context, topics []string) ([]TopicState, error) {
	return describeTopics(ctx, in.cl, topics)
}

// Groups reads each group's committed offsets on its topics (group → topics)
// and the lag against the topics' states.
func (in *Inspector) Groups(ctx context.Context, groups map[string][]string, topics []TopicState) ([]GroupState, error) {
	byName := map[string]TopicState{}
	for _, t := range topics {
		byName[t.Name] = t
	}
	var out []GroupState
	names := make([]string, 0, len(groups))
	for g := range groups {
		names = append(names, g)
	}
	slices.Sort(names)
	for _, group := range names {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Group = group
		for _, topic := range groups[group] {
			rt := kmsg.NewOffsetFetchRequestTopic()
			rt.Topic = topic
			for _, p := range byName[topic].Partitions {
				rt.Partitions = append(rt.Partitions, p.Partition)
			}
			req.Topics = append(req.Topics, rt)
		}
		resp, err := req.RequestWith(ctx, in.cl)
		if err != nil {
			return nil, fmt.Errorf("offsets of group %s: %w", group, err)
		}
		// A group that never committed does not exist yet: nothing committed.
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
			return nil, fmt.Errorf("offsets of group %s: %w", group, err)
		}
		committed := map[string]map[int32]int64{}
		for _, t := range resp.Topics {
			committed[t.Topic] = map[int32]int64{}
			for _, p := range t.Partitions {
				if kerr.ErrorForCode(p.ErrorCode) == nil && p.Offset >= 0 {
					committed[t.Topic][p.Partition] = p.Offset
				}
			}
		}
		for _, topic := range groups[group] {
			gs := GroupState{Group: group, Topic: topic}
			for _, p := range byName[topic].Partitions {
				c, ok := committed[topic][p.Partition]
				if !ok {
					c = -1
				}
				from := c
				if from < 0 {
					from = p.Start
				}
				gs.Partitions = append(gs.Partitions, GroupPartition{Partition: p.Partition, Committed: c, End: p.End, Lag: max(p.End-from, 0)})
			}
			out = append(out, gs)
		}
	}
	return out, nil
}

// describeTopics returns each topic's partitions with their leaders and
// offsets, in the order asked, partitions by number.
func describeTopics(ctx context.Context, cl *kgo.Client, topics []string) ([]TopicState, error) {
	mresp, err := metadataRequest(topics).RequestWith(ctx, cl)
	if err != nil {
		// No answer at all (an answer with an error code is handled below).
		return nil, fmt.Errorf("metadata: %w: %w", ErrUnreachable, err)
	}
	states := map[string]*TopicState{}
	var errs []error
	for _, t := range mresp.Topics {
		if t.Topic == nil {
			continue
		}
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			errs = append(errs, fmt.Errorf("metadata of %s: %w", *t.Topic, err))
			continue
		}
		st := &TopicState{Name: *t.Topic, ID: t.TopicID}
		for _, p := range t.Partitions {
			st.Partitions = append(st.Partitions, PartitionState{Partition: p.Partition, Leader: p.Leader})
		}
		slices.SortFunc(st.Partitions, func(a, b PartitionState) int { return int(a.Partition - b.Partition) })
		states[st.Name] = st
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	for _, ts := range []int64{-2, -1} { // -2: earliest, -1: latest
		req := kmsg.NewPtrListOffsetsRequest()
		req.ReplicaID = -1
		for _, st := range states {
			rt := kmsg.NewListOffsetsRequestTopic()
			rt.Topic = st.Name
			for _, p := range st.Partitions {
				rp := kmsg.NewListOffsetsRequestTopicPartition()
				rp.Partition = p.Partition
				rp.CurrentLeaderEpoch = -1
				rp.Timestamp = ts
				rt.Partitions = append(rt.Partitions, rp)
			}
			req.Topics = append(req.Topics, rt)
		}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return nil, fmt.Errorf("list offsets: %w", err)
		}
		for _, t := range resp.Topics {
			st := states[t.Topic]
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					return nil, fmt.Errorf("list offsets %s/%d: %w", t.Topic, p.Partition, err)
				}
				for i := range st.Partitions {
					if st.Partitions[i].Partition == p.Partition {
						if ts == -2 {
							st.Partitions[i].Start = p.Offset
						} else {
							st.Partitions[i].End = p.Offset
						}
					}
				}
			}
		}
	}
	out := make([]TopicState, 0, len(topics))
	for _, topic := range topics {
		if st, ok := states[topic]; ok {
			out = append(out, *st)
		}
	}
	return out, nil
}
