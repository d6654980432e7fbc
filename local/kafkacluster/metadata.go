package kafkacluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Metadata is what the cluster says about itself: the brokers it lists
// (registered and not fenced) and every partition's leader, replicas and
// in-sync replicas.
type Metadata struct {
	ControllerID int32
	Brokers      []BrokerInfo
	Partitions   []PartitionInfo
}

// BrokerInfo is a broker as the cluster lists it.
type BrokerInfo struct {
	ID   int32
	Addr string
}

// PartitionInfo is one partition's placement. Leader is -1 while it has
// none. Replicas are in Kafka's order, the preferred leader first; ISR is
// sorted.
type PartitionInfo struct {
	Topic     string
	Partition int32
	Leader    int32
	Replicas  []int32
	ISR       []int32
}

// BrokerIDs lists the ids of the brokers in m, sorted.
func (m Metadata) BrokerIDs() []int32 {
	ids := make([]int32, len(m.Brokers))
	for i, b := range m.Brokers {
		ids[i] = b.ID
	}
	slices.Sort(ids)
	return ids
}

// Replicas counts the partitions that broker id is a replica of, and of those
// the ones where it is in the in-sync replicas.
func (m Metadata) Replicas(id int32) (replicas, inSync int) {
	for _, p := range m.Partitions {
		if slices.Contains(p.Replicas, id) {
			replicas++
			if slices.Contains(p.ISR, id) {
				inSync++
			}
		}
	}
	return replicas, inSync
}

// Describe asks any running broker for the cluster's metadata, internal
// topics included.
func (c *Cluster) Describe(ctx context.Context) (Metadata, error) {
	return DescribeAt(ctx, c.Brokers())
}

// DescribeAt is Describe for any Kafka: the brokers of a running local stack
// (its embedded cluster included), say.
func DescribeAt(ctx context.Context, brokers []string) (Metadata, error) {
	cl, err := client(brokers)
	if err != nil {
		return Metadata{}, err
	}
	defer cl.Close()
	return describe(ctx, cl.Request)
}

// WaitBrokers waits until the cluster lists exactly n brokers, and fails
// early if a broker this process started has exited.
func (c *Cluster) WaitBrokers(ctx context.Context, n int) error {
	return c.waitMetadata(ctx, fmt.Sprintf("%d brokers", n), func(m Metadata) bool { return len(m.Brokers) == n })
}

// waitServing waits until each broker of ids answers a metadata request
// itself and lists itself: its process is up, it has caught up with the
// controller, and the controller has let it in. (The cluster's metadata is not
// enough: for a few seconds after a crash it still lists the dead broker.)
func (c *Cluster) waitServing(ctx context.Context, ids ...int) error {
	pending := slices.Clone(ids)
	var last error
	for {
		if err := c.exitedEarly(); err != nil {
			return err
		}
		pending = slices.DeleteFunc(pending, func(id int) bool {
			actx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			m, err := c.describeFrom(actx, id)
			if err != nil {
				last = err
				return false
			}
			if !slices.Contains(m.BrokerIDs(), int32(id)) {
				last = fmt.Errorf("broker %d lists brokers %v, not itself", id, m.BrokerIDs())
				return false
			}
			return true
		})
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for brokers %v: %w (last: %v)", pending, ctx.Err(), last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// describeFrom asks broker id itself for the metadata.
func (c *Cluster) describeFrom(ctx context.Context, id int) (Metadata, error) {
	b, err := c.broker(id)
	if err != nil {
		return Metadata{}, err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(fmt.Sprintf("%s:%d", Host, b.port)), kgo.RequestRetries(0), kgo.DialTimeout(2*time.Second))
	if err != nil {
		return Metadata{}, fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	seed := cl.SeedBrokers()[0] // the only seed, asked directly rather than whichever broker the client picks
	return describe(ctx, func(ctx context.Context, req kmsg.Request) (kmsg.Response, error) { return seed.Request(ctx, req) })
}

// WaitInSync waits until broker id is in the in-sync replicas of every
// partition it is a replica of, which is when a restarted broker has caught
// up, and returns that number of partitions.
func (c *Cluster) WaitInSync(ctx context.Context, id int) (int, error) {
	var partitions int
	err := c.waitMetadata(ctx, fmt.Sprintf("broker %d in sync", id), func(m Metadata) bool {
		replicas, inSync := m.Replicas(int32(id))
		partitions = replicas
		return slices.Contains(m.BrokerIDs(), int32(id)) && replicas == inSync
	})
	return partitions, err
}

// waitMetadata polls the metadata until ready says yes or ctx ends.
func (c *Cluster) waitMetadata(ctx context.Context, what string, ready func(Metadata) bool) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	var last error
	for {
		if err := c.exitedEarly(); err != nil {
			return err
		}
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		m, err := describe(actx, cl.Request)
		cancel()
		if err == nil && ready(m) {
			return nil
		}
		if err == nil {
			last = fmt.Errorf("brokers listed: %v", m.BrokerIDs())
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last: %v)", what, ctx.Err(), last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (c *Cluster) client() (*kgo.Client, error) { return client(c.Brokers()) }

func client(brokers []string) (*kgo.Client, error) {
	// Few retries: the callers poll, and a dead broker must not stall a poll.
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RequestRetries(1),
		kgo.DialTimeout(2*time.Second), kgo.RetryTimeout(5*time.Second))
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	return cl, nil
}

// describe issues a metadata request for every topic with request.
func describe(ctx context.Context, request func(context.Context, kmsg.Request) (kmsg.Response, error)) (Metadata, error) {
	raw, err := request(ctx, kmsg.NewPtrMetadataRequest()) // nil Topics: every topic
	if err != nil {
		return Metadata{}, fmt.Errorf("metadata: %w", err)
	}
	resp := raw.(*kmsg.MetadataResponse)
	m := Metadata{ControllerID: resp.ControllerID}
	for _, b := range resp.Brokers {
		m.Brokers = append(m.Brokers, BrokerInfo{ID: b.NodeID, Addr: fmt.Sprintf("%s:%d", b.Host, b.Port)})
	}
	slices.SortFunc(m.Brokers, func(a, b BrokerInfo) int { return int(a.ID - b.ID) })
	var errs []error
	for _, t := range resp.Topics {
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			errs = append(errs, fmt.Errorf("topic %v: %w", t.Topic, err))
			continue
		}
		topic := ""
		if t.Topic != nil {
			topic = *t.Topic
		}
		for _, p := range t.Partitions {
			m.Partitions = append(m.Partitions, PartitionInfo{
				Topic: topic, Partition: p.Partition, Leader: p.Leader,
				Replicas: slices.Clone(p.Replicas), ISR: slices.Sorted(slices.Values(p.ISR)),
			})
		}
	}
	slices.SortFunc(m.Partitions, func(a, b PartitionInfo) int {
		if a.Topic != b.Topic {
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		return int(a.Partition - b.Partition)
	})
	return m, errors.Join(errs...)
}

// GroupInfo is a classic consumer group as its coordinator describes it.
type GroupInfo struct {
	Name    string
	State   string // Stable, PreparingRebalance, CompletingRebalance, Empty, Dead
	Members []MemberInfo
}

// MemberInfo is one member of a group and the partitions assigned to it, by
// topic, sorted.
type MemberInfo struct {
	ID       string
	ClientID string
	Host     string
	Assigned map[string][]int32
}

// Partitions returns the partitions of topic assigned to each member, in the
// members' order.
func (g GroupInfo) Partitions(topic string) [][]int32 {
	parts := make([][]int32, len(g.Members))
	for i, m := range g.Members {
		parts[i] = m.Assigned[topic]
	}
	return parts
}

// Groups describes the consumer groups named, or every group when none is.
// Groups using the KIP-848 consumer protocol are not described (the local
// connector uses the classic one).
func (c *Cluster) Groups(ctx context.Context, names ...string) ([]GroupInfo, error) {
	return GroupsAt(ctx, c.Brokers(), names...)
}

// GroupsAt is Groups for any Kafka.
func GroupsAt(ctx context.Context, brokers []string, names ...string) ([]GroupInfo, error) {
	cl, err := client(brokers)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	if len(names) == 0 {
		resp, err := kmsg.NewPtrListGroupsRequest().RequestWith(ctx, cl)
		if err != nil {
			return nil, fmt.Errorf("list groups: %w", err)
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			return nil, fmt.Errorf("list groups: %w", err)
		}
		for _, g := range resp.Groups {
			if g.GroupType == "" || g.GroupType == "classic" {
				names = append(names, g.Group)
			}
		}
		if len(names) == 0 {
			return nil, nil
		}
	}
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups = names
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("describe groups: %w", err)
	}
	var groups []GroupInfo
	for _, g := range resp.Groups {
		if err := kerr.ErrorForCode(g.ErrorCode); err != nil {
			return nil, fmt.Errorf("describe group %s: %w", g.Group, err)
		}
		info := GroupInfo{Name: g.Group, State: g.State}
		for _, m := range g.Members {
			member := MemberInfo{ID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost, Assigned: map[string][]int32{}}
			if len(m.MemberAssignment) > 0 {
				var a kmsg.ConsumerMemberAssignment
				if err := a.ReadFrom(m.MemberAssignment); err != nil {
					return nil, fmt.Errorf("group %s member %s: assignment: %w", g.Group, m.MemberID, err)
				}
				for _, t := range a.Topics {
					member.Assigned[t.Topic] = append(member.Assigned[t.Topic], t.Partitions...)
					slices.Sort(member.Assigned[t.Topic])
				}
			}
			info.Members = append(info.Members, member)
		}
		slices.SortFunc(info.Members, func(a, b MemberInfo) int { return strings.Compare(a.ID, b.ID) })
		groups = append(groups, info)
	}
	slices.SortFunc(groups, func(a, b GroupInfo) int { return strings.Compare(a.Name, b.Name) })
	return groups, nil
}

// WriteStatus writes what the Kafka at brokers says about itself, for
// people: the brokers it lists, each partition's
// leader, replicas and in-sync replicas (Kafka's own topics left out), and
// each consumer group's members with their partitions.
func WriteStatus(ctx context.Context, out io.Writer, brokers []string) error {
	m, err := DescribeAt(ctx, brokers)
	if err != nil {
		return err
	}
	// Not the metadata's controller id: under KRaft a broker answers with a
	// random live broker there (KIP-590), not the quorum's active controller.
	fmt.Fprintf(out, "\nthe cluster lists brokers %v\n\n", m.BrokerIDs())
	fmt.Fprintf(out, "%-24s %4s %7s %-10s %-10s\n", "topic", "part", "leader", "replicas", "isr")
	for _, p := range m.Partitions {
		if strings.HasPrefix(p.Topic, "__") {
			continue // Kafka's own topics: 50 partitions each, nothing to learn here
		}
		fmt.Fprintf(out, "%-24s %4d %7d %-10s %-10s\n", p.Topic, p.Partition, p.Leader, idList(p.Replicas), idList(p.ISR))
	}
	groups, err := GroupsAt(ctx, brokers)
	if err != nil {
		return err
	}
	for _, g := range groups {
		fmt.Fprintf(out, "\nconsumer group %s: %s, %d member(s)\n", g.Name, g.State, len(g.Members))
		for _, m := range g.Members {
			var assigned []string
			for topic, parts := range m.Assigned {
				assigned = append(assigned, fmt.Sprintf("%s %s", topic, idList(parts)))
			}
			slices.Sort(assigned)
			fmt.Fprintf(out, "  %s %s: %s\n", m.Host, m.ID, strings.Join(assigned, "; "))
		}
	}
	return nil
}

func idList(v []int32) string {
	s := make([]string, len(v))
	for i, id := range v {
		s[i] = strconv.Itoa(int(id))
	}
	return strings.Join(s, ",")
}
