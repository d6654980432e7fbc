package eventing

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"handler/function/local/stack"
)

// Paths are relative to this package's folder, where go test runs.
const (
	stackFile    = "../stack.yml"
	knativeDir   = "knative"
	kafkaDir     = "kafka"
	openfaasDir  = "openfaas"
	schemasDir   = "schemas"
	secretsDir   = "/var/openfaas/secrets"
	watchdogPort = 8080
	// partitions is the partition count of every topic, and so the number of
	// consumers per group and the max scale of each event-triggered function.
	partitions = 3
)

// document is one YAML document of a manifest file.
type document struct {
	path  string
	index int // position in its file, from 0
	node  *yaml.Node
}

func (d document) String() string { return fmt.Sprintf("%s#%d", d.path, d.index) }

// typeMeta identifies a Kubernetes object's schema.
type typeMeta struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
}

func (t typeMeta) String() string { return t.APIVersion + " " + t.Kind }

type objectMeta struct {
	Name        string            `yaml:"name"`
	Namespace   string            `yaml:"namespace"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

type knativeService struct {
	Metadata objectMeta `yaml:"metadata"`
	Spec     struct {
		Template struct {
			Metadata objectMeta `yaml:"metadata"`
			Spec     struct {
				ContainerConcurrency int         `yaml:"containerConcurrency"`
				TimeoutSeconds       int         `yaml:"timeoutSeconds"`
				Containers           []container `yaml:"containers"`
				Volumes              []volume    `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type container struct {
	Name  string `yaml:"name"`
	Image string `yaml:"image"`
	Ports []struct {
		ContainerPort int `yaml:"containerPort"`
	} `yaml:"ports"`
	Env []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom any    `yaml:"valueFrom"`
	} `yaml:"env"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
	Resources struct {
		Requests stack.Resources `yaml:"requests"`
		Limits   stack.Resources `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext *securityContext `yaml:"securityContext"`
}

type securityContext struct {
	RunAsNonRoot             *bool  `yaml:"runAsNonRoot"`
	RunAsUser                *int64 `yaml:"runAsUser"`
	AllowPrivilegeEscalation *bool  `yaml:"allowPrivilegeEscalation"`
	ReadOnlyRootFilesystem   *bool  `yaml:"readOnlyRootFilesystem"`
	Capabilities             *struct {
		Drop []string `yaml:"drop"`
		Add  []string `yaml:"add"`
	} `yaml:"capabilities"`
	SeccompProfile *struct {
		Type string `yaml:"type"`
	} `yaml:"seccompProfile"`
}

type volume struct {
	Name   string `yaml:"name"`
	Secret *struct {
		SecretName string `yaml:"secretName"`
	} `yaml:"secret"`
	EmptyDir *struct {
		SizeLimit string `yaml:"sizeLimit"`
	} `yaml:"emptyDir"`
}

// destination is a Knative duck-typed sink: a reference or a URI.
type destination struct {
	Ref *struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Name       string `yaml:"name"`
		Namespace  string `yaml:"namespace"`
	} `yaml:"ref"`
	URI string `yaml:"uri"`
}

type deliverySpec struct {
	Retry          *int         `yaml:"retry"`
	BackoffPolicy  string       `yaml:"backoffPolicy"`
	BackoffDelay   string       `yaml:"backoffDelay"`
	Timeout        string       `yaml:"timeout"`
	DeadLetterSink *destination `yaml:"deadLetterSink"`
}

type kafkaSource struct {
	Metadata objectMeta `yaml:"metadata"`
	Spec     struct {
		BootstrapServers []string      `yaml:"bootstrapServers"`
		Topics           []string      `yaml:"topics"`
		ConsumerGroup    string        `yaml:"consumerGroup"`
		Consumers        *int          `yaml:"consumers"`
		InitialOffset    string        `yaml:"initialOffset"`
		Ordering         string        `yaml:"ordering"`
		Delivery         *deliverySpec `yaml:"delivery"`
		Sink             destination   `yaml:"sink"`
	} `yaml:"spec"`
}

type kafkaSink struct {
	Metadata objectMeta `yaml:"metadata"`
	Spec     struct {
		Topic             string   `yaml:"topic"`
		BootstrapServers  []string `yaml:"bootstrapServers"`
		ContentMode       string   `yaml:"contentMode"`
		NumPartitions     *int     `yaml:"numPartitions"`
		ReplicationFactor *int     `yaml:"replicationFactor"`
	} `yaml:"spec"`
}

type pingSource struct {
	Metadata objectMeta `yaml:"metadata"`
	Spec     struct {
		Schedule string      `yaml:"schedule"`
		Data     string      `yaml:"data"`
		Sink     destination `yaml:"sink"`
	} `yaml:"spec"`
}

type kafkaTopic struct {
	Metadata objectMeta `yaml:"metadata"`
	Spec     struct {
		TopicName  string         `yaml:"topicName"`
		Partitions int            `yaml:"partitions"`
		Replicas   int            `yaml:"replicas"`
		Config     map[string]any `yaml:"config"`
	} `yaml:"spec"`
}

// Name is the Kafka topic: spec.topicName, or metadata.name when it is not set.
func (k kafkaTopic) Name() string {
	if k.Spec.TopicName != "" {
		return k.Spec.TopicName
	}
	return k.Metadata.Name
}

// manifests are the decoded Kubernetes objects of knative/ and kafka/.
type manifests struct {
	namespaces   []string
	services     map[string]knativeService // by name
	kafkaSources []kafkaSource
	kafkaSinks   map[string]kafkaSink // by name
	pingSources  []pingSource
	topics       map[string]kafkaTopic // by Kafka topic name
}

// MustLoadStack reads the repository's stack.yml.
func MustLoadStack(tb testing.TB) *stack.Stack {
	tb.Helper()
	s, err := stack.Load(stackFile)
	if err != nil {
		tb.Fatalf("load %s: %v", stackFile, err)
	}
	return s
}

// MustReadDocuments parses every document of every *.yaml or *.yml file under
// root (a folder or a file). Empty documents (a file of comments only) are skipped.
func MustReadDocuments(tb testing.TB, root string) []document {
	tb.Helper()
	docs, err := readDocuments(root)
	if err != nil {
		tb.Fatalf("read YAML under %s: %v", root, err)
	}
	return docs
}

func readDocuments(root string) ([]document, error) {
	var docs []document
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !isYAML(path) {
			return nil
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		for i := 0; ; i++ {
			var node yaml.Node
			err := dec.Decode(&node)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return fmt.Errorf("%s: document %d: %w", path, i, err)
			}
			// Parsing into a node accepts a key given twice; decoding the node
			// into values does not, and kubectl would silently keep the last one.
			var v any
			if err := node.Decode(&v); err != nil {
				return fmt.Errorf("%s: document %d: %w", path, i, err)
			}
			if v == nil {
				continue
			}
			docs = append(docs, document{path: filepath.ToSlash(path), index: i, node: &node})
		}
		return nil
	})
	return docs, err
}

func isYAML(path string) bool {
	ext := filepath.Ext(path)
	return ext == ".yaml" || ext == ".yml"
}

// MustDecode decodes a document into v; strict rejects keys v does not have.
func MustDecode(tb testing.TB, d document, v any, strict bool) {
	tb.Helper()
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	if err := enc.Encode(d.node); err != nil {
		tb.Fatalf("%s: re-encode: %v", d, err)
	}
	dec := yaml.NewDecoder(&buf)
	dec.KnownFields(strict)
	if err := dec.Decode(v); err != nil {
		tb.Fatalf("%s: decode into %T: %v", d, v, err)
	}
}

// MustTypeOf returns a document's apiVersion and kind, failing when either is missing.
func MustTypeOf(tb testing.TB, d document) typeMeta {
	tb.Helper()
	var t typeMeta
	if err := d.node.Decode(&t); err != nil {
		tb.Fatalf("%s: %v", d, err)
	}
	if t.APIVersion == "" || t.Kind == "" {
		tb.Fatalf("%s: apiVersion and kind are required in a manifest", d)
	}
	return t
}

// MustLoadManifests decodes the Kubernetes objects under knative/ and kafka/.
// Schema validation is a separate test; this only needs the fields the
// consistency checks read.
func MustLoadManifests(tb testing.TB) *manifests {
	tb.Helper()
	m := &manifests{
		services:   map[string]knativeService{},
		kafkaSinks: map[string]kafkaSink{},
		topics:     map[string]kafkaTopic{},
	}
	docs := append(MustReadDocuments(tb, knativeDir), MustReadDocuments(tb, kafkaDir)...)
	for _, d := range docs {
		switch t := MustTypeOf(tb, d); t.String() {
		case "v1 Namespace":
			var ns struct{ Metadata objectMeta }
			MustDecode(tb, d, &ns, false)
			m.namespaces = append(m.namespaces, ns.Metadata.Name)
		case "serving.knative.dev/v1 Service":
			var s knativeService
			MustDecode(tb, d, &s, false)
			if _, dup := m.services[s.Metadata.Name]; dup {
				tb.Fatalf("%s: second Service %q", d, s.Metadata.Name)
			}
			m.services[s.Metadata.Name] = s
		case "sources.knative.dev/v1 KafkaSource":
			var s kafkaSource
			MustDecode(tb, d, &s, false)
			m.kafkaSources = append(m.kafkaSources, s)
		case "eventing.knative.dev/v1alpha1 KafkaSink":
			var s kafkaSink
			MustDecode(tb, d, &s, false)
			if _, dup := m.kafkaSinks[s.Metadata.Name]; dup {
				tb.Fatalf("%s: second KafkaSink %q", d, s.Metadata.Name)
			}
			m.kafkaSinks[s.Metadata.Name] = s
		case "sources.knative.dev/v1 PingSource":
			var s pingSource
			MustDecode(tb, d, &s, false)
			m.pingSources = append(m.pingSources, s)
		case "kafka.strimzi.io/v1 KafkaTopic":
			var k kafkaTopic
			MustDecode(tb, d, &k, false)
			if _, dup := m.topics[k.Name()]; dup {
				tb.Fatalf("%s: second KafkaTopic for topic %q", d, k.Name())
			}
			m.topics[k.Name()] = k
		default:
			tb.Fatalf("%s: %s is not a kind these tests know; add it to crdSchemas and to MustLoadManifests", d, t)
		}
	}
	return m
}

// toJSONValue turns a YAML document into the value a JSON Schema validator expects.
func toJSONValue(d document) (any, error) {
	var v any
	if err := d.node.Decode(&v); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("not representable as JSON: %w", err)
	}
	var out any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return nil, err
	}
	return out, nil
}

// watchdogDuration reads a timeout as of-watchdog does: a Go duration, or a bare
// number of seconds.
func watchdogDuration(s string) (time.Duration, error) {
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(s)
}

// MustExecTimeout is a function's exec_timeout from stack.yml.
func MustExecTimeout(tb testing.TB, fn stack.Function) time.Duration {
	tb.Helper()
	v, ok := fn.Environment["exec_timeout"]
	if !ok {
		tb.Fatalf("stack.yml: function %s sets no exec_timeout", fn.Name)
	}
	d, err := watchdogDuration(v)
	if err != nil {
		tb.Fatalf("stack.yml: function %s exec_timeout: %v", fn.Name, err)
	}
	return d
}

var isoDuration = regexp.MustCompile(`^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$`)

// parseISODuration reads the ISO-8601 durations Knative uses (PT2S, PT1M30S, P1D).
// Years, months and weeks are not accepted: their length is not fixed.
func parseISODuration(s string) (time.Duration, error) {
	m := isoDuration.FindStringSubmatch(s)
	if m == nil || s == "P" || s == "PT" || strings.HasSuffix(s, "T") {
		return 0, fmt.Errorf("%q is not an ISO-8601 duration of days, hours, minutes and seconds", s)
	}
	var d time.Duration
	for i, unit := range []time.Duration{24 * time.Hour, time.Hour, time.Minute} {
		if m[i+1] != "" {
			n, err := strconv.Atoi(m[i+1])
			if err != nil {
				return 0, fmt.Errorf("%q: %w", s, err)
			}
			d += time.Duration(n) * unit
		}
	}
	if m[4] != "" {
		f, err := strconv.ParseFloat(m[4], 64)
		if err != nil {
			return 0, fmt.Errorf("%q: %w", s, err)
		}
		d += time.Duration(f * float64(time.Second))
	}
	return d, nil
}

// MustBrokers is the Kafka bootstrap list every function in stack.yml shares.
func MustBrokers(tb testing.TB, s *stack.Stack) []string {
	tb.Helper()
	var brokers []string
	for _, fn := range s.Sorted() {
		v, ok := fn.Environment["KAFKA_BROKERS"]
		if !ok {
			continue
		}
		list := splitList(v)
		if brokers == nil {
			brokers = list
		} else if !slices.Equal(brokers, list) {
			tb.Fatalf("stack.yml: function %s has KAFKA_BROKERS %v, others %v", fn.Name, list, brokers)
		}
	}
	if len(brokers) == 0 {
		tb.Fatal("stack.yml: no function sets KAFKA_BROKERS")
	}
	return brokers
}

// strimziCluster reads the cluster name and namespace out of a Strimzi bootstrap
// address, "<cluster>-kafka-bootstrap.<namespace>[.svc...]:<port>".
func strimziCluster(broker string) (cluster, namespace string, err error) {
	host, _, ok := strings.Cut(broker, ":")
	if !ok {
		return "", "", fmt.Errorf("broker %q has no port", broker)
	}
	labels := strings.Split(host, ".")
	cluster, isStrimzi := strings.CutSuffix(labels[0], "-kafka-bootstrap")
	if !isStrimzi || len(labels) < 2 || cluster == "" {
		return "", "", fmt.Errorf("broker %q is not a Strimzi bootstrap service <cluster>-kafka-bootstrap.<namespace>", broker)
	}
	return cluster, labels[1], nil
}

func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	return out
}

// eventTriggered returns the functions a Kafka topic triggers, by name.
func eventTriggered(s *stack.Stack) map[string]stack.Function {
	fns := map[string]stack.Function{}
	for _, fn := range s.Sorted() {
		if len(fn.Topics()) > 0 {
			fns[fn.Name] = fn
		}
	}
	return fns
}

// stackTopics returns every Kafka topic some function subscribes to, sorted.
func stackTopics(s *stack.Stack) []string {
	seen := map[string]bool{}
	for _, fn := range s.Sorted() {
		for _, t := range fn.Topics() {
			seen[t] = true
		}
	}
	return sortedKeys(seen)
}

// MustScaleLabel reads com.openfaas.scale.min or max.
func MustScaleLabel(tb testing.TB, fn stack.Function, which string) int {
	tb.Helper()
	key := "com.openfaas.scale." + which
	n, err := strconv.Atoi(fn.Labels[key])
	if err != nil {
		tb.Fatalf("stack.yml: function %s label %s: %v", fn.Name, key, err)
	}
	return n
}

// intValue reads a YAML scalar that may be an int or a numeric string.
func intValue(v any) (int, error) {
	switch x := v.(type) {
	case int:
		return x, nil
	case string:
		return strconv.Atoi(x)
	default:
		return 0, fmt.Errorf("%v (%T) is not an integer", v, v)
	}
}

func TestParseISODuration(t *testing.T) {
	good := map[string]time.Duration{
		"PT2S":    2 * time.Second,
		"PT0.5S":  500 * time.Millisecond,
		"PT1M30S": 90 * time.Second,
		"PT1H":    time.Hour,
		"P1DT1S":  24*time.Hour + time.Second,
	}
	for in, want := range good {
		if got, err := parseISODuration(in); err != nil || got != want {
			t.Errorf("parseISODuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "P", "PT", "2s", "PT2", "P1M", "P1DT", "pt2s"} {
		if _, err := parseISODuration(in); err == nil {
			t.Errorf("parseISODuration(%q) succeeded, want an error", in)
		}
	}
}

func TestStrimziCluster(t *testing.T) {
	cluster, ns, err := strimziCluster("payments-kafka-bootstrap.kafka:9092")
	if err != nil || cluster != "payments" || ns != "kafka" {
		t.Errorf("strimziCluster = %q, %q, %v; want payments, kafka", cluster, ns, err)
	}
	for _, in := range []string{"kafka:9092", "payments-kafka-bootstrap.kafka", "-kafka-bootstrap.kafka:9092", "payments-kafka-bootstrap:9092"} {
		if _, _, err := strimziCluster(in); err == nil {
			t.Errorf("strimziCluster(%q) succeeded, want an error", in)
		}
	}
}

func TestReadDocumentsRejectsDuplicateKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dup.yaml")
	text := "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  name: b\n"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readDocuments(path); err == nil {
		t.Error("a key given twice was accepted")
	}
}

// parseBytes reads a Kubernetes memory quantity: a whole number with an optional binary
// (Ki, Mi, Gi) or decimal (k, M, G) suffix, the forms stack.yml and the manifests use.
func parseBytes(q string) (int64, error) {
	for _, u := range []struct {
		suffix string
		factor int64
	}{{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"", 1}} {
		if num, ok := strings.CutSuffix(q, u.suffix); ok {
			n, err := strconv.ParseInt(num, 10, 64)
			if err != nil || n < 0 {
				return 0, fmt.Errorf("memory %q: want a whole number of bytes with Ki/Mi/Gi/k/M/G", q)
			}
			return n * u.factor, nil
		}
	}
	return 0, fmt.Errorf("memory %q: unreachable", q)
}

// parseMilliCPU reads a Kubernetes CPU quantity ("50m", "0.5", "1") in thousandths of a core.
func parseMilliCPU(q string) (int64, error) {
	if num, ok := strings.CutSuffix(q, "m"); ok {
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("cpu %q: want whole millicores", q)
		}
		return n, nil
	}
	f, err := strconv.ParseFloat(q, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("cpu %q: want cores or millicores", q)
	}
	return int64(f * 1000), nil
}
