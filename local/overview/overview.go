// Package overview assembles what the UI's System page shows, once a second:
// each function's replicas, calls a second, p50/p99 and cold starts (from
// the gateway's metrics), the topics with their partitions, leaders and end
// offsets, the consumer groups with committed offsets and lag, and the dead
// letters with their reasons.
package overview

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"handler/function/local/connector"
	"handler/function/local/scaler"
	"handler/function/local/stack"
)

// Snapshot is one System page state.
type Snapshot struct {
	Time        time.Time              `json:"time"`
	Functions   []Function             `json:"functions"`
	Topics      []connector.TopicState `json:"topics"`
	Groups      []connector.GroupState `json:"groups"`
	DeadLetters []DeadLetter           `json:"deadLetters"`
	// KafkaError says why topics, groups or dead letters are missing.
	KafkaError string `json:"kafkaError,omitempty"`
}

// Function is a function's replicas and recent load.
type Function struct {
	Name      string                 `json:"name"`
	Replicas  int                    `json:"replicas"`
	Available int                    `json:"availableReplicas"`
	Min       int                    `json:"min"`
	Max       int                    `json:"max"`
	ScaleType string                 `json:"scaleType"`
	Target    float64                `json:"target"`
	Zero      bool                   `json:"scaleToZero"`
	Instances []scaler.ReplicaStatus `json:"instances"`
	// Invocations is every call since start; RPS, P50 and P99 (seconds) are
	// over the last Window.
	Invocations float64 `json:"invocations"`
	RPS         float64 `json:"rps"`
	P50         float64 `json:"p50"`
	P99         float64 `json:"p99"`
	InFlight    float64 `json:"inFlight"`
	ColdStarts  float64 `json:"coldStarts"`
	// ColdStartMean is the mean wait of the cold starts so far, in seconds.
	ColdStartMean float64 `json:"coldStartMean"`
}

// DeadLetter is one record of a dead-letter topic, without its value.
type DeadLetter struct {
	Topic             string    `json:"topic"`
	Partition         int32     `json:"partition"`
	Offset            int64     `json:"offset"`
	Key               string    `json:"key"`
	Function          string    `json:"function"`
	Reason            string    `json:"reason"`
	Status            int       `json:"status"`
	Attempts          int       `json:"attempts"`
	OriginalTopic     string    `json:"originalTopic"`
	OriginalPartition int32     `json:"originalPartition"`
	OriginalOffset    int64     `json:"originalOffset"`
	Time              time.Time `json:"time"`
}

// Window is how far back calls a second and percentiles are measured.
const Window = 10 * time.Second

// maxDeadLetters bounds the dead letters a snapshot carries (the newest).
const maxDeadLetters = 200

// Source builds snapshots. It remembers recent metrics to compute rates, and
// the dead letters to reread them only when their topics grow.
type Source struct {
	scaler    *scaler.Scaler
	metrics   prometheus.Gatherer
	inspector *connector.Inspector
	brokers   []string
	topics    []string            // subscribed topics and their dead-letter topics
	dlqs      []string            // dead-letter topics
	groups    map[string][]string // consumer group (function) → topics

	mu       sync.Mutex
	history  []gathered
	dlqEnds  map[string]int64
	letters  []DeadLetter
	lastSnap Snapshot
	lastAt   time.Time
}

type gathered struct {
	at       time.Time
	families map[string]*dto.MetricFamily
}

// New prepares a source for the stack's functions; dlqTopic names a topic's
// dead-letter topic.
func New(fns []stack.Function, sc *scaler.Scaler, metrics prometheus.Gatherer, brokers []string, dlqTopic func(string) string) (*Source, error) {
	in, err := connector.NewInspector(brokers)
	if err != nil {
		return nil, err
	}
	s := &Source{scaler: sc, metrics: metrics, inspector: in, brokers: brokers, groups: map[string][]string{},
		dlqEnds: map[string]int64{}, letters: []DeadLetter{}}
	seen := map[string]bool{}
	for _, fn := range fns {
		for _, t := range fn.Topics() {
			s.groups[fn.Name] = append(s.groups[fn.Name], t)
			if !seen[t] {
				seen[t] = true
				s.topics = append(s.topics, t)
				s.dlqs = append(s.dlqs, dlqTopic(t))
			}
		}
	}
	sort.Strings(s.topics)
	sort.Strings(s.dlqs)
	s.topics = append(s.topics, s.dlqs...)
	return s, nil
}

// Close releases the Kafka client.
func (s *Source) Close() { s.inspector.Close() }

// Snapshot returns the current state. Calls less than half a second apart
// share one snapshot, so several open pages cost what one does.
func (s *Source) Snapshot(ctx context.Context) Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if now.Sub(s.lastAt) < 500*time.Millisecond {
		return s.lastSnap
	}
	snap := Snapshot{Time: now.UTC(), Topics: []connector.TopicState{}, Groups: []connector.GroupState{}, DeadLetters: []DeadLetter{}}
	snap.Functions = s.functions(now)

	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := s.kafka(ctx, &snap); err != nil {
		snap.KafkaError = err.Error()
	}
	s.lastSnap, s.lastAt = snap, now
	return snap
}

func (s *Source) kafka(ctx context.Context, snap *Snapshot) error {
	topics, err := s.inspector.Topics(ctx, s.topics)
	if err != nil {
		return fmt.Errorf("topics: %w", err)
	}
	snap.Topics = topics
	groups, err := s.inspector.Groups(ctx, s.groups, topics)
	if err != nil {
		return fmt.Errorf("consumer groups: %w", err)
	}
	if groups != nil {
		snap.Groups = groups
	}
	if err := s.refreshDeadLetters(ctx, topics); err != nil {
		return fmt.Errorf("dead letters: %w", err)
	}
	snap.DeadLetters = s.letters
	return nil
}

// refreshDeadLetters rereads the dead-letter topics when one has grown.
func (s *Source) refreshDeadLetters(ctx context.Context, topics []connector.TopicState) error {
	changed := false
	ends := map[string]int64{}
	for _, t := range topics {
		var end int64
		for _, p := range t.Partitions {
			end += p.End
		}
		ends[t.Name] = end
	}
	for _, dlq := range s.dlqs {
		if ends[dlq] != s.dlqEnds[dlq] {
			changed = true
		}
	}
	if !changed {
		return nil
	}
	var letters []DeadLetter
	for _, dlq := range s.dlqs {
		if ends[dlq] == 0 {
			continue
		}
		dls, err := connector.ListDeadLetters(ctx, s.brokers, dlq)
		if err != nil {
			return err
		}
		for _, dl := range dls {
			letters = append(letters, DeadLetter{
				Topic: dl.Topic, Partition: dl.Partition, Offset: dl.Offset, Key: string(dl.Key),
				Function: dl.Function, Reason: dl.Reason, Status: dl.Status, Attempts: dl.Attempts,
				OriginalTopic: dl.OriginalTopic, OriginalPartition: dl.OriginalPartition, OriginalOffset: dl.OriginalOffset,
				Time: dl.Timestamp.UTC(),
			})
		}
	}
	sort.Slice(letters, func(i, j int) bool { return letters[i].Time.After(letters[j].Time) })
	if len(letters) > maxDeadLetters {
		letters = letters[:maxDeadLetters]
	}
	if letters == nil {
		letters = []DeadLetter{}
	}
	s.letters, s.dlqEnds = letters, ends
	return nil
}

func (s *Source) functions(now time.Time) []Function {
	families := map[string]*dto.MetricFamily{}
	if mfs, err := s.metrics.Gather(); err == nil {
		for _, mf := range mfs {
			families[mf.GetName()] = mf
		}
	}
	s.history = append(s.history, gathered{at: now, families: families})
	for len(s.history) > 1 && now.Sub(s.history[1].at) >= Window {
		s.history = s.history[1:]
	}
	past := s.history[0]
	span := now.Sub(past.at).Seconds()

	var out []Function
	for _, name := range s.scaler.Names() {
		f := s.scaler.Function(name)
		p := f.Policy()
		fn := Function{Name: name, Min: p.Min, Max: p.Max, ScaleType: p.Type, Target: p.Target, Zero: p.Zero, Instances: f.Status()}
		fn.Replicas, fn.Available = f.Replicas()
		fn.Invocations = sum(families, "gateway_function_invocation_total", name)
		fn.InFlight = max(sum(families, "gateway_function_invocation_started", name)-fn.Invocations, 0)
		if span > 0 {
			fn.RPS = (fn.Invocations - sum(past.families, "gateway_function_invocation_total", name)) / span
		}
		recent := subtract(buckets(families, "gateway_functions_seconds", name), buckets(past.families, "gateway_functions_seconds", name))
		if span == 0 {
			recent = buckets(families, "gateway_functions_seconds", name)
		}
		fn.P50, fn.P99 = Quantile(recent, 0.5), Quantile(recent, 0.99)
		cold := histogram(families, "gateway_function_cold_start_seconds", name)
		fn.ColdStarts = float64(cold.count)
		if cold.count > 0 {
			fn.ColdStartMean = cold.sum / float64(cold.count)
		}
		out = append(out, fn)
	}
	return out
}

// Bucket is a cumulative histogram bucket: Count observations at most UpperBound.
type Bucket struct {
	UpperBound float64
	Count      float64
}

// Quantile estimates the q-quantile from cumulative buckets by linear
// interpolation inside the bucket that holds it, as Prometheus's
// histogram_quantile does; 0 without observations.
func Quantile(buckets []Bucket, q float64) float64 {
	if len(buckets) == 0 {
		return 0
	}
	total := buckets[len(buckets)-1].Count
	if total <= 0 {
		return 0
	}
	rank := q * total
	lower, below := 0.0, 0.0
	for _, b := range buckets {
		if b.Count >= rank {
			if math.IsInf(b.UpperBound, 1) {
				return lower // beyond the last finite bound: the best known is that bound
			}
			inBucket := b.Count - below
			if inBucket <= 0 {
				return b.UpperBound
			}
			return lower + (b.UpperBound-lower)*(rank-below)/inBucket
		}
		lower, below = b.UpperBound, b.Count
	}
	return lower
}

func matches(m *dto.Metric, function string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == "function_name" {
			return l.GetValue() == function
		}
	}
	return false
}

func sum(families map[string]*dto.MetricFamily, name, function string) float64 {
	total := 0.0
	for _, m := range families[name].GetMetric() {
		if matches(m, function) {
			total += m.GetCounter().GetValue()
		}
	}
	return total
}

type hist struct {
	count uint64
	sum   float64
}

func histogram(families map[string]*dto.MetricFamily, name, function string) hist {
	var h hist
	for _, m := range families[name].GetMetric() {
		if matches(m, function) {
			h.count += m.GetHistogram().GetSampleCount()
			h.sum += m.GetHistogram().GetSampleSum()
		}
	}
	return h
}

// buckets adds up a histogram's buckets over its other labels (the codes),
// with +Inf last.
func buckets(families map[string]*dto.MetricFamily, name, function string) []Bucket {
	counts := map[float64]float64{}
	for _, m := range families[name].GetMetric() {
		if !matches(m, function) {
			continue
		}
		h := m.GetHistogram()
		for _, b := range h.GetBucket() {
			counts[b.GetUpperBound()] += float64(b.GetCumulativeCount())
		}
		counts[math.Inf(1)] += float64(h.GetSampleCount())
	}
	out := make([]Bucket, 0, len(counts))
	for ub, c := range counts {
		out = append(out, Bucket{UpperBound: ub, Count: c})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UpperBound < out[j].UpperBound })
	return out
}

// subtract returns now − before bucket by bucket (before may lack buckets).
func subtract(now, before []Bucket) []Bucket {
	prev := map[float64]float64{}
	for _, b := range before {
		prev[b.UpperBound] = b.Count
	}
	out := make([]Bucket, len(now))
	for i, b := range now {
		out[i] = Bucket{UpperBound: b.UpperBound, Count: b.Count - prev[b.UpperBound]}
	}
	return out
}

// Replay re-sends the dead letters of dlqTopic to their original partitions:
// the one at partition and offset, or, when partition is nil, every one no
// replay has sent yet (connector.ReplayDeadLetters). It refuses
// a topic that is not one of the stack's dead-letter topics, and a record
// that is not there, with notFound wrapped.
func (s *Source) Replay(ctx context.Context, dlqTopic string, partition *int32, offset *int64, notFound error) (int, error) {
	if !slices.Contains(s.dlqs, dlqTopic) {
		return 0, fmt.Errorf("%s is not a dead-letter topic: %w", dlqTopic, notFound)
	}
	if partition == nil || offset == nil {
		return connector.ReplayDeadLetters(ctx, s.brokers, dlqTopic)
	}
	n, err := connector.ReplayDeadLetter(ctx, s.brokers, dlqTopic, *partition, *offset)
	if err == nil && n == 0 {
		return 0, fmt.Errorf("%s/%d/%d: %w", dlqTopic, *partition, *offset, notFound)
	}
	return n, err
}
