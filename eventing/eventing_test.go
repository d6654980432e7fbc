package eventing

import (
	"errors"
	"fmt"
	"hash/crc32"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/robfig/cron/v3"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"handler/function/functions/pkg/events"
	"handler/function/functions/pkg/kafka"
	"handler/function/local/scaler"
	"handler/function/local/stack"
)

// crdSchemas maps each kind the manifests use to the schema files (under
// schemas/) it must satisfy.
var crdSchemas = map[string][]string{
	"serving.knative.dev/v1 Service": {"serving.knative.dev/service_v1.json"},
	// The manifests use KafkaSource v1. Upstream created v1 as a copy of v1beta1 and
	// the two have the same spec fields; the public catalog only has v1beta1.
	"sources.knative.dev/v1 KafkaSource":      {"sources.knative.dev/kafkasource_v1beta1.json"},
	"sources.knative.dev/v1 PingSource":       {"sources.knative.dev/pingsource_v1.json"},
	"eventing.knative.dev/v1alpha1 KafkaSink": {"eventing.knative.dev/kafkasink_v1alpha1.json"},
	// Strimzi 1.0 and later serve only v1 (v1beta2 was removed).
	"kafka.strimzi.io/v1 KafkaTopic": {"kafka.strimzi.io/kafkatopic_v1.json"},
}

// coreKinds are built-in Kubernetes kinds, which have no CRD schema.
var coreKinds = map[string]bool{"v1 Namespace": true}

// wantOrdering is the delivery order chosen per function; docs/deploy.md and the
// comments in knative/30-sources.yaml explain why.
var wantOrdering = map[string]string{
	"process-payment": "unordered",
	"apply-result":    "ordered",
}

var (
	dns1123Subdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	dns1123Label     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dns1035Label     = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)
)

// MustCompileSchemas compiles every schema crdSchemas names, by kind.
func MustCompileSchemas(tb testing.TB) map[string][]*jsonschema.Schema {
	tb.Helper()
	c := jsonschema.NewCompiler()
	compiled := map[string][]*jsonschema.Schema{}
	for kind, files := range crdSchemas {
		for _, f := range files {
			sch, err := c.Compile(filepath.Join(schemasDir, filepath.FromSlash(f)))
			if err != nil {
				tb.Fatalf("compile schema %s: %v", f, err)
			}
			compiled[kind] = append(compiled[kind], sch)
		}
	}
	return compiled
}

// validateManifest checks one document against its kind's schemas and the
// Kubernetes naming rules the schemas leave out.
func validateManifest(schemas map[string][]*jsonschema.Schema, d document, t typeMeta) error {
	kind := t.String()
	if !coreKinds[kind] && len(schemas[kind]) == 0 {
		return fmt.Errorf("%s: no schema for %s; add one to crdSchemas", d, kind)
	}
	v, err := toJSONValue(d)
	if err != nil {
		return fmt.Errorf("%s: %w", d, err)
	}
	for i, sch := range schemas[kind] {
		if err := sch.Validate(v); err != nil {
			return fmt.Errorf("%s: %s does not match %s: %v", d, kind, crdSchemas[kind][i], err)
		}
	}
	var obj struct{ Metadata objectMeta }
	if err := d.node.Decode(&obj); err != nil {
		return fmt.Errorf("%s: %w", d, err)
	}
	name, ns := obj.Metadata.Name, obj.Metadata.Namespace
	if len(name) > 253 || !dns1123Subdomain.MatchString(name) {
		return fmt.Errorf("%s: metadata.name %q is not a valid Kubernetes name", d, name)
	}
	if t.Kind == "Namespace" {
		if !dns1123Label.MatchString(name) || len(name) > 63 {
			return fmt.Errorf("%s: namespace name %q is not a DNS label", d, name)
		}
		return nil
	}
	// kubectl apply would put an object without a namespace wherever the
	// reader's context points; every manifest names its own.
	if ns == "" || len(ns) > 63 || !dns1123Label.MatchString(ns) {
		return fmt.Errorf("%s: metadata.namespace %q must be set to a valid namespace", d, ns)
	}
	return nil
}

func TestYAMLFilesParse(t *testing.T) {
	// MustReadDocuments fails on the first file that does not parse or repeats a key.
	docs := MustReadDocuments(t, ".")
	perDir := map[string]int{}
	for _, d := range docs {
		perDir[strings.SplitN(d.path, "/", 2)[0]]++
	}
	for _, dir := range []string{knativeDir, kafkaDir, openfaasDir} {
		if perDir[dir] == 0 {
			t.Errorf("no YAML documents under eventing/%s", dir)
		}
	}
}

func TestManifestsMatchCRDSchemas(t *testing.T) {
	schemas := MustCompileSchemas(t)
	docs := append(MustReadDocuments(t, knativeDir), MustReadDocuments(t, kafkaDir)...)
	seen := map[string]string{}
	for _, d := range docs {
		typ := MustTypeOf(t, d)
		if err := validateManifest(schemas, d, typ); err != nil {
			t.Error(err)
			continue
		}
		var obj struct{ Metadata objectMeta }
		MustDecode(t, d, &obj, false)
		id := typ.Kind + " " + obj.Metadata.Namespace + "/" + obj.Metadata.Name
		if prev, dup := seen[id]; dup {
			t.Errorf("%s: %s is also defined in %s", d, id, prev)
		}
		seen[id] = d.String()
	}
}

// TestSchemasRejectMistakes proves the validation has teeth: each broken
// manifest below must fail.
func TestSchemasRejectMistakes(t *testing.T) {
	schemas := MustCompileSchemas(t)
	// Each case is a manifest and a part of the error it must cause.
	broken := map[string]struct{ text, want string }{
		"misspelt KafkaSource field": {`apiVersion: sources.knative.dev/v1
kind: KafkaSource
metadata: {name: s, namespace: ns}
spec: {bootstrapServers: [b:9092], topics: [t], consumergroup: g, sink: {uri: "http://x"}}`, "'consumergroup' not allowed"},
		"KafkaSource without topics": {`apiVersion: sources.knative.dev/v1
kind: KafkaSource
metadata: {name: s, namespace: ns}
spec: {bootstrapServers: [b:9092], sink: {uri: "http://x"}}`, "missing property 'topics'"},
		"KafkaTopic with zero partitions": {`apiVersion: kafka.strimzi.io/v1
kind: KafkaTopic
metadata: {name: t, namespace: kafka}
spec: {partitions: 0, replicas: 3}`, "/spec/partitions"},
		"Service with containerConcurrency as a string": {`apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: s, namespace: ns}
spec: {template: {spec: {containerConcurrency: "10", containers: [{image: i}]}}}`, "containerConcurrency"},
		"KafkaSink with an unknown content mode": {`apiVersion: eventing.knative.dev/v1alpha1
kind: KafkaSink
metadata: {name: s, namespace: ns}
spec: {topic: t, bootstrapServers: [b:9092], contentMode: json}`, "/spec/contentMode"},
		"PingSource with a field of another kind": {`apiVersion: sources.knative.dev/v1
kind: PingSource
metadata: {name: s, namespace: ns}
spec: {schedule: "* * * * *", topics: [t]}`, "'topics' not allowed"},
		"capitals in a name": {`apiVersion: kafka.strimzi.io/v1
kind: KafkaTopic
metadata: {name: paymentsResults, namespace: kafka}
spec: {partitions: 3, replicas: 3}`, "not a valid Kubernetes name"},
		"no namespace": {`apiVersion: kafka.strimzi.io/v1
kind: KafkaTopic
metadata: {name: payments}
spec: {partitions: 3, replicas: 3}`, "metadata.namespace"},
		"KafkaTopic in the API Strimzi 1.0 removed": {`apiVersion: kafka.strimzi.io/v1beta2
kind: KafkaTopic
metadata: {name: t, namespace: kafka}
spec: {partitions: 3, replicas: 3}`, "no schema for"},
		"KafkaTopic without spec": {`apiVersion: kafka.strimzi.io/v1
kind: KafkaTopic
metadata: {name: t, namespace: kafka}`, "missing property 'spec'"},
		"unknown kind": {`apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t, namespace: ns}
spec: {broker: default}`, "no schema for"},
	}
	dir := t.TempDir()
	for name, tc := range broken {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".yaml")
			if err := os.WriteFile(path, []byte(tc.text), 0o600); err != nil {
				t.Fatal(err)
			}
			docs := MustReadDocuments(t, path)
			if len(docs) != 1 {
				t.Fatalf("got %d documents, want 1", len(docs))
			}
			err := validateManifest(schemas, docs[0], MustTypeOf(t, docs[0]))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("validation error %v, want one about %q", err, tc.want)
			}
		})
	}
}

// TestKnativeObjectsShareNamespace keeps every Knative object, and every
// reference between them, in the one namespace knative/ creates: a sink
// reference without a namespace resolves in the referring object's namespace.
func TestKnativeObjectsShareNamespace(t *testing.T) {
	m := MustLoadManifests(t)
	if len(m.namespaces) != 1 {
		t.Fatalf("knative/ defines namespaces %v, want exactly one", m.namespaces)
	}
	want := m.namespaces[0]
	check := func(what string, meta objectMeta, refs ...*destination) {
		if meta.Namespace != want {
			t.Errorf("%s %s is in namespace %q, want %q", what, meta.Name, meta.Namespace, want)
		}
		for _, d := range refs {
			if d != nil && d.Ref != nil && d.Ref.Namespace != "" && d.Ref.Namespace != want {
				t.Errorf("%s %s refers to %s %s in namespace %q, want %q", what, meta.Name, d.Ref.Kind, d.Ref.Name, d.Ref.Namespace, want)
			}
		}
	}
	for _, name := range sortedKeys(m.services) {
		check("Service", m.services[name].Metadata)
	}
	for _, name := range sortedKeys(m.kafkaSinks) {
		check("KafkaSink", m.kafkaSinks[name].Metadata)
	}
	for _, src := range m.kafkaSources {
		var dls *destination
		if src.Spec.Delivery != nil {
			dls = src.Spec.Delivery.DeadLetterSink
		}
		check("KafkaSource", src.Metadata, &src.Spec.Sink, dls)
	}
	for _, ps := range m.pingSources {
		check("PingSource", ps.Metadata, &ps.Spec.Sink)
	}
}

func TestKnativeServicesMatchStack(t *testing.T) {
	s := MustLoadStack(t)
	m := MustLoadManifests(t)
	if got, want := sortedKeys(m.services), sortedKeys(s.Functions); !slices.Equal(got, want) {
		t.Fatalf("Knative Services %v, want one per stack.yml function %v", got, want)
	}
	for _, fn := range s.Sorted() {
		t.Run(fn.Name, func(t *testing.T) {
			svc := m.services[fn.Name]
			tmpl := svc.Spec.Template
			if !dns1035Label.MatchString(fn.Name) || len(fn.Name) > 63 {
				t.Errorf("function name %q cannot name a Knative Service (DNS-1035 label)", fn.Name)
			}
			if len(tmpl.Spec.Containers) != 1 {
				t.Fatalf("%d containers, want 1", len(tmpl.Spec.Containers))
			}
			c := tmpl.Spec.Containers[0]
			if c.Image != fn.Image {
				t.Errorf("image %q, stack.yml has %q", c.Image, fn.Image)
			}
			if len(c.Ports) != 1 || c.Ports[0].ContainerPort != watchdogPort {
				t.Errorf("ports %+v, want the watchdog's %d only", c.Ports, watchdogPort)
			}

			env := map[string]string{}
			for _, e := range c.Env {
				if e.ValueFrom != nil {
					t.Errorf("env %s uses valueFrom; stack.yml values are literals", e.Name)
				}
				if _, dup := env[e.Name]; dup {
					t.Errorf("env %s is set twice", e.Name)
				}
				env[e.Name] = e.Value
			}
			if !maps.Equal(env, fn.Environment) {
				t.Errorf("environment differs from stack.yml:\n knative: %v\n stack:   %v", env, fn.Environment)
			}

			assertAutoscaling(t, fn, tmpl.Metadata.Annotations)

			exec := MustExecTimeout(t, fn)
			timeout := time.Duration(tmpl.Spec.TimeoutSeconds) * time.Second
			// Longer than exec_timeout, so the watchdog ends a slow call itself;
			// at most Knative's default max-revision-timeout-seconds.
			if timeout <= exec || timeout > 600*time.Second {
				t.Errorf("timeoutSeconds %d, want more than exec_timeout %v and at most 600", tmpl.Spec.TimeoutSeconds, exec)
			}
			if tmpl.Spec.ContainerConcurrency < 1 {
				t.Errorf("containerConcurrency %d, want a limit of at least 1", tmpl.Spec.ContainerConcurrency)
			}

			// Functions only event sources call are not published outside the cluster.
			internal := len(fn.Topics()) > 0 || fn.Schedule() != ""
			switch local := svc.Metadata.Labels["networking.knative.dev/visibility"] == "cluster-local"; {
			case internal && !local:
				t.Error("only event sources call this function: label it networking.knative.dev/visibility=cluster-local")
			case !internal && local:
				t.Error("an HTTP API function is labelled cluster-local: clients outside the cluster cannot reach it")
			}

			// The same hardening and sizing as stack.yml gives the function on OpenFaaS.
			if c.Resources.Requests != fn.Requests || c.Resources.Limits != fn.Limits {
				t.Errorf("resources requests %+v limits %+v, stack.yml has %+v and %+v",
					c.Resources.Requests, c.Resources.Limits, fn.Requests, fn.Limits)
			}
			if err := checkRestricted(c.SecurityContext); err != nil {
				t.Error(err)
			}
			if ro := c.SecurityContext != nil && isTrue(c.SecurityContext.ReadOnlyRootFilesystem); ro != fn.ReadOnlyRootFilesystem {
				t.Errorf("readOnlyRootFilesystem %v, stack.yml readonly_root_filesystem %v", ro, fn.ReadOnlyRootFilesystem)
			}

			// Each stack.yml secret is a secret volume mounted where the functions
			// look for OpenFaaS secrets; besides them only /tmp is mounted, a small
			// emptyDir as faas-netes gives a read-only function.
			secretVolumes := map[string]string{} // volume name -> secret name
			tmpVolumes := map[string]bool{}
			for _, v := range tmpl.Spec.Volumes {
				switch {
				case v.Secret != nil:
					secretVolumes[v.Name] = v.Secret.SecretName
				case v.EmptyDir != nil && v.EmptyDir.SizeLimit != "":
					tmpVolumes[v.Name] = true
				}
			}
			mounted := map[string]bool{}
			tmpMounted := false
			for _, vm := range c.VolumeMounts {
				if tmpVolumes[vm.Name] && vm.MountPath == "/tmp" && !vm.ReadOnly {
					tmpMounted = true
					continue
				}
				secret, ok := secretVolumes[vm.Name]
				if !ok {
					t.Errorf("volume mount %s at %s is neither a secret nor the /tmp emptyDir with a sizeLimit", vm.Name, vm.MountPath)
					continue
				}
				if want := secretsDir + "/" + secret; vm.MountPath != want || !vm.ReadOnly {
					t.Errorf("secret %s mounted at %s (read-only %v), want read-only at %s", secret, vm.MountPath, vm.ReadOnly, want)
				}
				mounted[secret] = true
			}
			if got, want := sortedKeys(mounted), sorted(fn.Secrets); !slices.Equal(got, want) {
				t.Errorf("mounted secrets %v, stack.yml has %v", got, want)
			}
			if !tmpMounted {
				t.Error("no writable emptyDir at /tmp: of-watchdog could not write its lock file on a read-only root")
			}
		})
	}
}

// checkRestricted checks a container's securityContext against the container fields of the
// "restricted" Pod Security Standard. eventing/validate runs Kubernetes' own checks on the
// whole pod; this keeps the rule visible next to the other consistency checks.
func checkRestricted(sc *securityContext) error {
	var errs []error
	switch {
	case sc == nil:
		return errors.New("no securityContext: Kubernetes' insecure defaults apply")
	case !isTrue(sc.RunAsNonRoot) || sc.RunAsUser == nil || *sc.RunAsUser == 0:
		// The image's USER is a name, which the kubelet cannot check against runAsNonRoot.
		errs = append(errs, errors.New("want runAsNonRoot true and a numeric, non-zero runAsUser"))
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		errs = append(errs, errors.New("want allowPrivilegeEscalation false"))
	}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) || len(sc.Capabilities.Add) > 0 {
		errs = append(errs, errors.New("want capabilities.drop [ALL] and nothing added"))
	}
	if sc.SeccompProfile == nil || sc.SeccompProfile.Type != "RuntimeDefault" {
		errs = append(errs, errors.New("want seccompProfile.type RuntimeDefault"))
	}
	if !isTrue(sc.ReadOnlyRootFilesystem) {
		errs = append(errs, errors.New("want readOnlyRootFilesystem true"))
	}
	return errors.Join(errs...)
}

func isTrue(b *bool) bool { return b != nil && *b }

// TestStackHardeningAndSizing: every function has a read-only root and memory and CPU
// requests and limits, each limit at least its request.
func TestStackHardeningAndSizing(t *testing.T) {
	for _, fn := range MustLoadStack(t).Sorted() {
		if !fn.ReadOnlyRootFilesystem {
			t.Errorf("%s: readonly_root_filesystem is not true", fn.Name)
		}
		for what, pair := range map[string][2]string{
			"memory": {fn.Requests.Memory, fn.Limits.Memory},
			"cpu":    {fn.Requests.CPU, fn.Limits.CPU},
		} {
			parse := parseBytes
			if what == "cpu" {
				parse = parseMilliCPU
			}
			req, err1 := parse(pair[0])
			limit, err2 := parse(pair[1])
			if err := errors.Join(err1, err2); err != nil || req <= 0 || limit < req {
				t.Errorf("%s: %s request %q, limit %q: want both, the limit at least the request (%v)", fn.Name, what, pair[0], pair[1], err)
			}
		}
	}
}

func TestParseQuantities(t *testing.T) {
	for in, want := range map[string]int64{"32Mi": 32 << 20, "1Gi": 1 << 30, "64M": 64e6, "1024": 1024} {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for in, want := range map[string]int64{"50m": 50, "1": 1000, "0.5": 500, "1000m": 1000} {
		if got, err := parseMilliCPU(in); err != nil || got != want {
			t.Errorf("parseMilliCPU(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "32Mb", "-1Mi", "Mi"} {
		if _, err := parseBytes(in); err == nil {
			t.Errorf("parseBytes(%q) succeeded", in)
		}
	}
}

func TestKafkaSourcesMatchStack(t *testing.T) {
	s := MustLoadStack(t)
	m := MustLoadManifests(t)
	brokers := MustBrokers(t, s)
	triggered := eventTriggered(s)

	bySink := map[string]kafkaSource{}
	groups := map[string]string{}
	for _, src := range m.kafkaSources {
		ref := src.Spec.Sink.Ref
		if ref == nil || ref.Kind != "Service" || ref.APIVersion != "serving.knative.dev/v1" {
			t.Errorf("KafkaSource %s: sink must reference a Knative Service", src.Metadata.Name)
			continue
		}
		if _, dup := bySink[ref.Name]; dup {
			t.Errorf("KafkaSource %s: a second source for %s", src.Metadata.Name, ref.Name)
		}
		bySink[ref.Name] = src
		if other, dup := groups[src.Spec.ConsumerGroup]; dup {
			t.Errorf("KafkaSource %s: consumer group %q is also used by %s", src.Metadata.Name, src.Spec.ConsumerGroup, other)
		}
		groups[src.Spec.ConsumerGroup] = src.Metadata.Name
	}
	if got, want := sortedKeys(bySink), sortedKeys(triggered); !slices.Equal(got, want) {
		t.Fatalf("KafkaSources feed %v, want exactly the functions with a topic annotation %v", got, want)
	}

	for _, fn := range triggered {
		t.Run(fn.Name, func(t *testing.T) {
			src := bySink[fn.Name]
			spec := src.Spec
			if got, want := sorted(spec.Topics), sorted(fn.Topics()); !slices.Equal(got, want) {
				t.Errorf("topics %v, stack.yml topic annotation %v", got, want)
			}
			if !slices.Equal(spec.BootstrapServers, brokers) {
				t.Errorf("bootstrapServers %v, stack.yml KAFKA_BROKERS %v", spec.BootstrapServers, brokers)
			}
			if spec.ConsumerGroup == "" {
				t.Error("consumerGroup is empty: Knative would pick a random group")
			}
			if spec.InitialOffset != "earliest" {
				t.Errorf("initialOffset %q, want earliest", spec.InitialOffset)
			}
			if spec.Ordering != wantOrdering[fn.Name] {
				t.Errorf("ordering %q, want %q", spec.Ordering, wantOrdering[fn.Name])
			}

			// One consumer per partition, one function replica per consumer at most.
			if spec.Consumers == nil {
				t.Errorf("consumers not set (Knative defaults to 1), want %d (the partition count)", partitions)
			} else if *spec.Consumers != partitions {
				t.Errorf("consumers %d, want %d (the partition count)", *spec.Consumers, partitions)
			}
			if maxScale := MustScaleLabel(t, fn, "max"); maxScale != partitions {
				t.Errorf("stack.yml com.openfaas.scale.max is %d, want the partition count %d", maxScale, partitions)
			}
			for _, topic := range spec.Topics {
				if kt, ok := m.topics[topic]; !ok {
					t.Errorf("topic %s has no KafkaTopic", topic)
				} else if kt.Spec.Partitions != partitions {
					t.Errorf("topic %s has %d partitions, want %d", topic, kt.Spec.Partitions, partitions)
				}
			}

			d := spec.Delivery
			if d == nil {
				t.Fatal("no delivery spec: failed events would be dropped after the defaults")
			}
			if d.Retry == nil || *d.Retry < 1 {
				t.Errorf("delivery.retry %v, want at least 1", d.Retry)
			}
			if d.BackoffPolicy != "exponential" {
				t.Errorf("delivery.backoffPolicy %q, want exponential", d.BackoffPolicy)
			}
			if delay, err := parseISODuration(d.BackoffDelay); err != nil || delay <= 0 {
				t.Errorf("delivery.backoffDelay %q: want a positive ISO-8601 duration (%v)", d.BackoffDelay, err)
			}
			exec := MustExecTimeout(t, fn)
			if timeout, err := parseISODuration(d.Timeout); err != nil || timeout <= exec {
				t.Errorf("delivery.timeout %q: want an ISO-8601 duration above exec_timeout %v (%v)", d.Timeout, exec, err)
			}
			if d.DeadLetterSink == nil || d.DeadLetterSink.Ref == nil || d.DeadLetterSink.Ref.Kind != "KafkaSink" {
				t.Fatal("delivery.deadLetterSink must reference a KafkaSink")
			}
			sink, ok := m.kafkaSinks[d.DeadLetterSink.Ref.Name]
			if !ok {
				t.Fatalf("dead-letter KafkaSink %q is not defined", d.DeadLetterSink.Ref.Name)
			}
			if len(spec.Topics) != 1 {
				t.Fatalf("%d topics share one dead-letter sink; give each topic its own source", len(spec.Topics))
			}
			if want := spec.Topics[0] + events.DeadLetterSuffix; sink.Spec.Topic != want {
				t.Errorf("dead letters go to %q, want %q", sink.Spec.Topic, want)
			}
		})
	}
}

func TestDeadLetterSinks(t *testing.T) {
	s := MustLoadStack(t)
	m := MustLoadManifests(t)
	brokers := MustBrokers(t, s)
	if len(m.kafkaSinks) == 0 {
		t.Fatal("no KafkaSinks")
	}
	sinkTopics := map[string]bool{}
	for _, name := range sortedKeys(m.kafkaSinks) {
		sink := m.kafkaSinks[name]
		sinkTopics[sink.Spec.Topic] = true
		if _, ok := m.topics[sink.Spec.Topic]; !ok {
			t.Errorf("KafkaSink %s writes %q, which has no KafkaTopic", name, sink.Spec.Topic)
		}
		if !strings.HasSuffix(sink.Spec.Topic, events.DeadLetterSuffix) {
			t.Errorf("KafkaSink %s writes %q, not a dead-letter topic", name, sink.Spec.Topic)
		}
		if !slices.Equal(sink.Spec.BootstrapServers, brokers) {
			t.Errorf("KafkaSink %s: bootstrapServers %v, stack.yml KAFKA_BROKERS %v", name, sink.Spec.BootstrapServers, brokers)
		}
		if sink.Spec.ContentMode != "structured" {
			t.Errorf("KafkaSink %s: contentMode %q, want structured like the live topics", name, sink.Spec.ContentMode)
		}
		if sink.Spec.NumPartitions != nil || sink.Spec.ReplicationFactor != nil {
			t.Errorf("KafkaSink %s would create its topic; Strimzi owns topics", name)
		}
	}
	for _, topic := range sortedKeys(m.topics) {
		if strings.HasSuffix(topic, events.DeadLetterSuffix) && !sinkTopics[topic] {
			t.Errorf("dead-letter topic %s has no KafkaSink writing to it", topic)
		}
	}
}

func TestKafkaTopicsMatchStackAndCode(t *testing.T) {
	s := MustLoadStack(t)
	m := MustLoadManifests(t)
	brokers := MustBrokers(t, s)
	cluster, namespace, err := strimziCluster(brokers[0])
	if err != nil {
		t.Fatal(err)
	}

	var want []string
	for _, topic := range stackTopics(s) {
		want = append(want, topic, topic+events.DeadLetterSuffix)
	}
	if got := sortedKeys(m.topics); !slices.Equal(got, sorted(want)) {
		t.Errorf("KafkaTopics %v, want the stack.yml topics and their dead-letter topics %v", got, sorted(want))
	}
	for _, topic := range []string{events.PaymentsTopic, events.ResultsTopic} {
		if _, ok := m.topics[topic]; !ok {
			t.Errorf("the code's default topic %q has no KafkaTopic", topic)
		}
	}

	for _, name := range sortedKeys(m.topics) {
		kt := m.topics[name]
		if kt.Metadata.Labels["strimzi.io/cluster"] != cluster || kt.Metadata.Namespace != namespace {
			t.Errorf("KafkaTopic %s: cluster %q in namespace %q, want %q in %q (from %s)",
				name, kt.Metadata.Labels["strimzi.io/cluster"], kt.Metadata.Namespace, cluster, namespace, brokers[0])
		}
		if kt.Spec.Partitions != partitions {
			t.Errorf("KafkaTopic %s: %d partitions, want %d", name, kt.Spec.Partitions, partitions)
		}
		if kt.Spec.Replicas != 3 {
			t.Errorf("KafkaTopic %s: replication %d, want 3", name, kt.Spec.Replicas)
		}
		if isr, err := intValue(kt.Spec.Config["min.insync.replicas"]); err != nil || isr != 2 {
			t.Errorf("KafkaTopic %s: min.insync.replicas %v, want 2 (%v)", name, kt.Spec.Config["min.insync.replicas"], err)
		}
	}
}

func TestPingSourcesMatchSchedules(t *testing.T) {
	s := MustLoadStack(t)
	m := MustLoadManifests(t)
	scheduled := map[string]stack.Function{}
	for _, fn := range s.Sorted() {
		if fn.Schedule() != "" {
			scheduled[fn.Name] = fn
		}
	}
	if len(scheduled) == 0 {
		t.Fatal("stack.yml has no function with a cron schedule; relay-outbox should have one")
	}
	bySink := map[string]pingSource{}
	for _, ps := range m.pingSources {
		ref := ps.Spec.Sink.Ref
		if ref == nil || ref.Kind != "Service" || ref.APIVersion != "serving.knative.dev/v1" {
			t.Errorf("PingSource %s: sink must reference a Knative Service", ps.Metadata.Name)
			continue
		}
		bySink[ref.Name] = ps
	}
	if got, want := sortedKeys(bySink), sortedKeys(scheduled); !slices.Equal(got, want) {
		t.Fatalf("PingSources call %v, want the scheduled functions %v", got, want)
	}
	for name, fn := range scheduled {
		ps := bySink[name]
		if ps.Spec.Schedule != fn.Schedule() {
			t.Errorf("PingSource %s: schedule %q, stack.yml %q", ps.Metadata.Name, ps.Spec.Schedule, fn.Schedule())
		}
		if _, err := cron.ParseStandard(ps.Spec.Schedule); err != nil {
			t.Errorf("PingSource %s: schedule: %v", ps.Metadata.Name, err)
		}
		// The cron-connector posts an empty body; so does the PingSource without data.
		if ps.Spec.Data != "" {
			t.Errorf("PingSource %s sends data %q; the cron-connector sends none", ps.Metadata.Name, ps.Spec.Data)
		}
	}
}

// kafkaConnectorValues are the openfaas/kafka-connector chart values this
// project sets; decoding is strict, so a misspelt key fails.
type kafkaConnectorValues struct {
	NameOverride      string `yaml:"nameOverride"`
	Topics            string `yaml:"topics"`
	Replicas          int    `yaml:"replicas"`
	Group             string `yaml:"group"`
	InitialOffset     string `yaml:"initialOffset"`
	BrokerHosts       string `yaml:"brokerHosts"`
	TLS               bool   `yaml:"tls"`
	SASLAuth          bool   `yaml:"saslAuth"`
	CASecret          string `yaml:"caSecret"`
	CertSecret        string `yaml:"certSecret"`
	KeySecret         string `yaml:"keySecret"`
	ContentType       string `yaml:"contentType"`
	AsyncInvocation   bool   `yaml:"asyncInvocation"`
	UpstreamTimeout   string `yaml:"upstreamTimeout"`
	RebuildInterval   string `yaml:"rebuildInterval"`
	PrintResponse     bool   `yaml:"printResponse"`
	PrintResponseBody bool   `yaml:"printResponseBody"`
	PrintRequestBody  bool   `yaml:"printRequestBody"`
}

type cronConnectorValues struct {
	AsyncInvocation bool   `yaml:"asyncInvocation"`
	RebuildInterval string `yaml:"rebuildInterval"`
	GatewayURL      string `yaml:"gatewayURL"`
	BasicAuth       bool   `yaml:"basicAuth"`
}

type openfaasValues struct {
	Functions struct {
		SetNonRootUser bool `yaml:"setNonRootUser"`
	} `yaml:"functions"`
	Gateway struct {
		UpstreamTimeout string `yaml:"upstreamTimeout"`
		ReadTimeout     string `yaml:"readTimeout"`
		WriteTimeout    string `yaml:"writeTimeout"`
	} `yaml:"gateway"`
	QueueWorker struct {
		AckWait  string `yaml:"ackWait"`
		Replicas int    `yaml:"replicas"`
	} `yaml:"queueWorker"`
	QueueWorkerPro struct {
		MaxInflight      string `yaml:"maxInflight"`
		MaxRetryAttempts string `yaml:"maxRetryAttempts"`
		InitialRetryWait string `yaml:"initialRetryWait"`
		MaxRetryWait     string `yaml:"maxRetryWait"`
		HTTPRetryCodes   string `yaml:"httpRetryCodes"`
	} `yaml:"queueWorkerPro"`
}

// openfaasValueFiles reads eventing/openfaas: every file must be one of the
// kinds this test knows, so a new file cannot escape the checks.
type openfaasValueFiles struct {
	kafka    map[string]kafkaConnectorValues // by file
	cron     *cronConnectorValues
	openfaas *openfaasValues
	raw      map[string]map[string]any // every values file, by file, for the key check
}

// openfaasManifests are the Kubernetes objects in eventing/openfaas; eventing/validate
// checks them with Kubernetes' own types.
var openfaasManifests = map[string]bool{"network-policy.yaml": true}

func MustLoadOpenFaaSValues(tb testing.TB) openfaasValueFiles {
	tb.Helper()
	v := openfaasValueFiles{kafka: map[string]kafkaConnectorValues{}, raw: map[string]map[string]any{}}
	for _, d := range MustReadDocuments(tb, openfaasDir) {
		if openfaasManifests[filepath.Base(d.path)] {
			continue
		}
		if d.index != 0 {
			tb.Fatalf("%s: a Helm values file has one document", d)
		}
		raw := map[string]any{}
		MustDecode(tb, d, &raw, false)
		v.raw[d.path] = raw
		switch base := filepath.Base(d.path); {
		case strings.HasPrefix(base, "kafka-connector-"):
			var k kafkaConnectorValues
			MustDecode(tb, d, &k, true)
			v.kafka[d.path] = k
		case base == "cron-connector.yaml":
			v.cron = new(cronConnectorValues)
			MustDecode(tb, d, v.cron, true)
		case base == "openfaas.yaml":
			v.openfaas = new(openfaasValues)
			MustDecode(tb, d, v.openfaas, true)
		default:
			tb.Fatalf("%s: unknown values file; name it kafka-connector-<topic>.yaml, cron-connector.yaml or openfaas.yaml, or teach this test about it", d)
		}
	}
	if len(v.kafka) == 0 || v.cron == nil || v.openfaas == nil {
		tb.Fatalf("eventing/openfaas must hold kafka-connector-*.yaml, cron-connector.yaml and openfaas.yaml")
	}
	return v
}

func MustGoDuration(tb testing.TB, what, s string) time.Duration {
	tb.Helper()
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		tb.Fatalf("%s %q: want a positive Go duration (%v)", what, s, err)
	}
	return d
}

func TestOpenFaaSKafkaConnectorsMatchStack(t *testing.T) {
	s := MustLoadStack(t)
	m := MustLoadManifests(t)
	brokers := MustBrokers(t, s)
	values := MustLoadOpenFaaSValues(t)

	groupOfTopic := map[string]string{}
	for _, src := range m.kafkaSources {
		for _, topic := range src.Spec.Topics {
			groupOfTopic[topic] = src.Spec.ConsumerGroup
		}
	}

	connectorOf := map[string]string{} // topic -> values file
	for _, file := range sortedKeys(values.kafka) {
		k := values.kafka[file]
		topics := splitList(k.Topics)
		for _, topic := range topics {
			if other, dup := connectorOf[topic]; dup {
				t.Errorf("%s: topic %s is also consumed by %s", file, topic, other)
			}
			connectorOf[topic] = file
			if k.Group != groupOfTopic[topic] {
				t.Errorf("%s: group %q, the KafkaSource for %s uses %q", file, k.Group, topic, groupOfTopic[topic])
			}
		}
		// The release is named after the file (docs/deploy.md), and nameOverride
		// gives its pods their own "app" label.
		release := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
		if k.NameOverride != release {
			t.Errorf("%s: nameOverride %q, want the release name %q so the pod selectors of the connectors differ", file, k.NameOverride, release)
		}
		if k.Replicas != partitions {
			t.Errorf("%s: replicas %d, want the partition count %d", file, k.Replicas, partitions)
		}
		if got := splitList(k.BrokerHosts); !slices.Equal(got, brokers) {
			t.Errorf("%s: brokerHosts %v, stack.yml KAFKA_BROKERS %v", file, got, brokers)
		}
		// stack.yml's brokers are Strimzi's plain listener: no TLS, no SASL, no certificates.
		if k.TLS || k.SASLAuth || k.CASecret != "" || k.CertSecret != "" || k.KeySecret != "" {
			t.Errorf("%s: TLS/SASL settings for a plain listener", file)
		}
		if k.ContentType != "application/cloudevents+json" {
			t.Errorf("%s: contentType %q, want application/cloudevents+json (records are structured CloudEvents)", file, k.ContentType)
		}
		if !k.AsyncInvocation {
			t.Errorf("%s: asyncInvocation is off: no retries", file)
		}
		if k.InitialOffset != "oldest" {
			t.Errorf("%s: initialOffset %q, want oldest", file, k.InitialOffset)
		}
		if k.Group == "" {
			t.Errorf("%s: no consumer group", file)
		}
		upstream := MustGoDuration(t, file+" upstreamTimeout", k.UpstreamTimeout)
		MustGoDuration(t, file+" rebuildInterval", k.RebuildInterval)
		for _, fn := range s.Sorted() {
			for _, topic := range fn.Topics() {
				if slices.Contains(topics, topic) && upstream <= MustExecTimeout(t, fn) {
					t.Errorf("%s: upstreamTimeout %v, want more than %s's exec_timeout", file, upstream, fn.Name)
				}
			}
		}
	}
	if got, want := sortedKeys(connectorOf), stackTopics(s); !slices.Equal(got, want) {
		t.Errorf("connectors consume %v, stack.yml topic annotations name %v", got, want)
	}
}

func TestOpenFaaSChartValues(t *testing.T) {
	s := MustLoadStack(t)
	values := MustLoadOpenFaaSValues(t)

	var slowest, slowestAsync time.Duration
	asyncTopics := map[string]bool{}
	for _, k := range values.kafka {
		for _, topic := range splitList(k.Topics) {
			asyncTopics[topic] = k.AsyncInvocation
		}
	}
	for _, fn := range s.Sorted() {
		exec := MustExecTimeout(t, fn)
		slowest = max(slowest, exec)
		for _, topic := range fn.Topics() {
			if asyncTopics[topic] {
				slowestAsync = max(slowestAsync, exec)
			}
		}
	}

	gw := values.openfaas.Gateway
	upstream := MustGoDuration(t, "gateway.upstreamTimeout", gw.UpstreamTimeout)
	if upstream <= slowest {
		t.Errorf("gateway.upstreamTimeout %v, want more than the longest exec_timeout %v", upstream, slowest)
	}
	for what, v := range map[string]string{"gateway.readTimeout": gw.ReadTimeout, "gateway.writeTimeout": gw.WriteTimeout} {
		if d := MustGoDuration(t, what, v); d <= upstream {
			t.Errorf("%s %v, want more than gateway.upstreamTimeout %v", what, d, upstream)
		}
	}
	if ack := MustGoDuration(t, "queueWorker.ackWait", values.openfaas.QueueWorker.AckWait); ack <= slowestAsync {
		t.Errorf("queueWorker.ackWait %v: an asynchronous call may take %v", ack, slowestAsync)
	}

	qw := values.openfaas.QueueWorkerPro
	if n, err := strconv.Atoi(qw.MaxRetryAttempts); err != nil || n < 1 {
		t.Errorf("queueWorkerPro.maxRetryAttempts %q, want a positive number", qw.MaxRetryAttempts)
	}
	initial := MustGoDuration(t, "queueWorkerPro.initialRetryWait", qw.InitialRetryWait)
	if maxWait := MustGoDuration(t, "queueWorkerPro.maxRetryWait", qw.MaxRetryWait); maxWait < initial {
		t.Errorf("queueWorkerPro.maxRetryWait %v is below initialRetryWait %v", maxWait, initial)
	}
	// The codes Knative retries must be retried here too, so the two platforms
	// treat a function's answer the same way.
	codes := map[int]bool{}
	for _, c := range splitList(qw.HTTPRetryCodes) {
		n, err := strconv.Atoi(c)
		if err != nil {
			t.Errorf("queueWorkerPro.httpRetryCodes: %v", err)
		}
		codes[n] = true
	}
	for c := range codes {
		if !knativeRetries(c) {
			t.Errorf("queueWorkerPro.httpRetryCodes retries %d, which Knative dead-letters at once", c)
		}
	}
	for _, c := range []int{404, 408, 409, 429, 500, 502, 503, 504} {
		if !codes[c] {
			t.Errorf("queueWorkerPro.httpRetryCodes lacks %d, which Knative retries", c)
		}
	}
	if n, err := strconv.Atoi(qw.MaxInflight); err != nil || n < 1 {
		t.Errorf("queueWorkerPro.maxInflight %q, want a positive number", qw.MaxInflight)
	}
	if !values.openfaas.Functions.SetNonRootUser {
		t.Error("functions.setNonRootUser is off: function containers would run as the image's user")
	}

	cc := values.cron
	if cc.GatewayURL == "" {
		t.Error("cron-connector.yaml: gatewayURL is empty")
	}
	MustGoDuration(t, "cron-connector rebuildInterval", cc.RebuildInterval)
	for _, fn := range s.Sorted() {
		if sched := fn.Schedule(); sched != "" {
			if _, err := cron.ParseStandard(sched); err != nil {
				t.Errorf("stack.yml: %s schedule %q: %v", fn.Name, sched, err)
			}
		}
	}
}

// TestStackAgreesWithCode checks the names the Go code assumes against stack.yml.
func TestStackAgreesWithCode(t *testing.T) {
	s := MustLoadStack(t)

	// Who writes which topic, through which variable, with which default in the
	// code (docs/contracts.md, "Function configuration").
	producers := []struct {
		fn, env, def string
	}{
		{"create-payment", "PAYMENTS_TOPIC", events.PaymentsTopic},
		{"relay-outbox", "PAYMENTS_TOPIC", events.PaymentsTopic},
		{"process-payment", "RESULTS_TOPIC", events.ResultsTopic},
	}
	consumed := map[string]bool{}
	for _, topic := range stackTopics(s) {
		consumed[topic] = true
	}
	for _, p := range producers {
		fn, ok := s.Functions[p.fn]
		if !ok {
			t.Errorf("stack.yml has no function %s", p.fn)
			continue
		}
		topic := p.def
		if v, set := fn.Environment[p.env]; set {
			topic = v
		}
		if !consumed[topic] {
			t.Errorf("%s writes %q (%s), which no function's topic annotation subscribes to", p.fn, topic, p.env)
		}
		if topic != p.def {
			t.Errorf("%s: stack.yml %s=%q differs from the code's default %q", p.fn, p.env, topic, p.def)
		}
	}

	for _, src := range []string{events.SourceCreatePayment, events.SourceProcessPayment} {
		name, ok := strings.CutPrefix(src, "/functions/")
		if _, inStack := s.Functions[name]; !ok || !inStack {
			t.Errorf("event source %q does not name a stack.yml function", src)
		}
	}

	for _, fn := range s.Sorted() {
		info, err := os.Stat(filepath.Join("..", filepath.FromSlash(fn.Handler)))
		if err != nil || !info.IsDir() {
			t.Errorf("stack.yml: %s handler %s is not a folder (%v)", fn.Name, fn.Handler, err)
		}
	}
}

// TestProducerSettings checks the producer configuration the functions share
// against what eventing/kafka/README.md documents.
func TestProducerSettings(t *testing.T) {
	cfg := kafka.SaramaConfig("eventing-test", 0)
	if err := cfg.Validate(); err != nil {
		t.Fatalf("SaramaConfig is not a valid Sarama configuration: %v", err)
	}
	if cfg.Producer.RequiredAcks != sarama.WaitForAll {
		t.Errorf("RequiredAcks %v, want WaitForAll (acks=all)", cfg.Producer.RequiredAcks)
	}
	if !cfg.Producer.Idempotent || cfg.Net.MaxOpenRequests != 1 || cfg.Producer.Retry.Max < 1 {
		t.Errorf("idempotent %v, max open requests %d, retries %d: want an idempotent producer",
			cfg.Producer.Idempotent, cfg.Net.MaxOpenRequests, cfg.Producer.Retry.Max)
	}
	// The README promises kcat's partition choice: librdkafka's default
	// partitioner puts a keyed record on crc32(key) mod partitions.
	partitioner := cfg.Producer.Partitioner(events.PaymentsTopic)
	if !partitioner.RequiresConsistency() {
		t.Error("the partitioner does not promise one partition per key")
	}
	for _, key := range []string{"pay-a", "pay-b", "pay-c", "0b6c6f0e-1f57-4b38-9d2b-6a0a5c1c9f10", "5d1f7a58-3c1e-4e0c-8a57-0f6f2f1f3b11"} {
		got, err := partitioner.Partition(&sarama.ProducerMessage{Topic: events.PaymentsTopic, Key: sarama.StringEncoder(key)}, partitions)
		if err != nil {
			t.Fatalf("partition %q: %v", key, err)
		}
		if want := int32(crc32.ChecksumIEEE([]byte(key)) % partitions); got != want {
			t.Errorf("key %q goes to partition %d; kcat -K would pick %d", key, got, want)
		}
	}
}

// TestDeployDocReferencesExist keeps docs/deploy.md honest about file names.
func TestDeployDocReferencesExist(t *testing.T) {
	raw, err := os.ReadFile("../docs/deploy.md")
	if err != nil {
		t.Fatal(err)
	}
	// A path starts the word: ".../knative/eventing/releases" in a URL is not one.
	matches := regexp.MustCompile(`(?:^|[^/\w.-])(eventing/[\w./-]*[\w/])`).FindAllStringSubmatch(string(raw), -1)
	if len(matches) == 0 {
		t.Fatal("docs/deploy.md names no file under eventing/")
	}
	for _, m := range matches {
		ref := m[1]
		if _, err := os.Stat(filepath.Join("..", filepath.FromSlash(ref))); err != nil {
			t.Errorf("docs/deploy.md names %s: %v", ref, err)
		}
	}
}

// assertAutoscaling checks that a Knative revision scales as stack.yml's
// OpenFaaS labels say: min-scale and max-scale from com.openfaas.scale.min and
// max (min-scale 0 for com.openfaas.scale.zero, with the last pod kept for
// zero-duration); metric and target from com.openfaas.scale.type (rps → rps,
// capacity → concurrency) and target; target-utilization-percentage from
// target-proportion.
func assertAutoscaling(t *testing.T, fn stack.Function, annotations map[string]string) {
	t.Helper()
	policy, err := scaler.ParsePolicy(fn.Labels)
	if err != nil {
		t.Fatalf("stack.yml scale labels: %v", err)
	}
	want := map[string]string{
		"autoscaling.knative.dev/min-scale": strconv.Itoa(MustScaleLabel(t, fn, "min")),
		"autoscaling.knative.dev/max-scale": strconv.Itoa(MustScaleLabel(t, fn, "max")),
	}
	if policy.Zero {
		want["autoscaling.knative.dev/min-scale"] = "0"
		want["autoscaling.knative.dev/scale-to-zero-pod-retention-period"] = policy.ZeroDuration.String()
	}
	if _, ok := fn.Labels[scaler.LabelTarget]; ok {
		want["autoscaling.knative.dev/metric"] = map[string]string{scaler.TypeRPS: "rps", scaler.TypeCapacity: "concurrency"}[policy.Type]
		want["autoscaling.knative.dev/target"] = strconv.FormatFloat(policy.Target, 'f', -1, 64)
		want["autoscaling.knative.dev/target-utilization-percentage"] = strconv.FormatFloat(policy.TargetProportion*100, 'f', -1, 64)
	}
	for key, v := range want {
		got := annotations[key]
		if key == "autoscaling.knative.dev/scale-to-zero-pod-retention-period" {
			if d, err := time.ParseDuration(got); err == nil {
				got = d.String()
			}
		}
		if got != v {
			t.Errorf("%s = %q, want %q from stack.yml's labels", key, annotations[key], v)
		}
	}
	for key := range annotations {
		if _, expected := want[key]; strings.HasPrefix(key, "autoscaling.knative.dev/") && !expected {
			t.Errorf("%s is set, but stack.yml has no label it follows from", key)
		}
	}
}
