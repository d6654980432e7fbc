package eventing

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"handler/function/functions/pkg/config"
	"handler/function/local/scaler"
	"handler/function/local/stack"
)

// The deployment is sized for this rate of payments (docs/deploy.md, "Sizing
// for 200 payments/s"). Every bound on the calls an event-triggered function
// has in flight must hold what Little's law says is in flight at that rate
// when every call takes its worst time.
const sizedRate = 200 // payments per second

// inFlight is the one formula: calls in flight = arrival rate × time each
// call spends in the system (Little's law), at the worst time, rounded up.
func inFlight(rate float64, worst time.Duration) int {
	return int(math.Ceil(rate * worst.Seconds()))
}

// sizing is what each event-triggered function must hold at sizedRate.
type sizing struct {
	function string
	worst    time.Duration // the longest one call can take
	why      string
}

// MustSizings reads the worst times from stack.yml: process-payment waits up to
// the provider's maximum delay; apply-result's one database call is bounded by
// DB_TIMEOUT.
func MustSizings(tb testing.TB) []sizing {
	tb.Helper()
	s := MustLoadStack(tb)
	delay := MustGoDuration(tb, "process-payment PAYMENT_PROVIDER_MAX_DELAY", s.Functions["process-payment"].Environment["PAYMENT_PROVIDER_MAX_DELAY"])
	db := config.DefaultDBTimeout
	if v, ok := s.Functions["apply-result"].Environment["DB_TIMEOUT"]; ok {
		db = MustGoDuration(tb, "apply-result DB_TIMEOUT", v)
	}
	return []sizing{
		{"process-payment", delay, "the provider's maximum delay"},
		{"apply-result", db, "DB_TIMEOUT"},
	}
}

func TestDeploymentSizedForTheStatedRate(t *testing.T) {
	sizes := MustSizings(t)
	s := MustLoadStack(t)
	m := MustLoadManifests(t)
	values := MustLoadOpenFaaSValues(t)
	doc, err := os.ReadFile("../docs/deploy.md")
	if err != nil {
		t.Fatal(err)
	}

	total := 0
	for _, sz := range sizes {
		need := inFlight(sizedRate, sz.worst)
		total += need
		line := fmt.Sprintf("%s: %d/s × %s = %d calls in flight", sz.function, sizedRate, sz.worst, need)
		if !strings.Contains(string(doc), line) {
			t.Errorf("docs/deploy.md does not state %q", line)
		}
		fn := s.Functions[sz.function]
		// Each call must be allowed to take its worst time everywhere on its
		// way: of-watchdog's exec_timeout, and the template's own server, which
		// reads read_timeout and write_timeout (10 s when unset).
		for _, key := range []string{"exec_timeout", "read_timeout", "write_timeout"} {
			d, err := watchdogDuration(fn.Environment[key])
			if err != nil || d <= sz.worst {
				t.Errorf("%s: %s %q, want more than %s (%s)", sz.function, key, fn.Environment[key], sz.worst, sz.why)
			}
		}
		// Knative: the Service's pods together take every call in flight. An
		// ordered source sends one event per partition at a time, so there
		// the rate is what the partitions can carry instead (docs/deploy.md).
		svc := m.services[sz.function].Spec.Template
		if src := sourceFor(t, m, sz.function); src.Spec.Ordering == "ordered" {
			parts := *src.Spec.Consumers // one consumer per partition (TestKafkaSourcesMatchStack)
			budget := time.Second * time.Duration(parts) / sizedRate
			line := fmt.Sprintf("%s: ordered, %d partitions ÷ %d/s = %s per call", sz.function, parts, sizedRate, budget)
			if !strings.Contains(string(doc), line) {
				t.Errorf("docs/deploy.md does not state %q", line)
			}
			if svc.Spec.ContainerConcurrency < parts {
				t.Errorf("Knative %s: containerConcurrency %d, want at least one call per partition (%d)", sz.function, svc.Spec.ContainerConcurrency, parts)
			}
			continue
		}
		maxScale, err := strconv.Atoi(svc.Metadata.Annotations["autoscaling.knative.dev/max-scale"])
		if err != nil {
			t.Fatalf("%s: max-scale: %v", sz.function, err)
		}
		if got := svc.Spec.ContainerConcurrency * maxScale; got < need {
			t.Errorf("Knative %s: containerConcurrency %d × max-scale %d = %d, want at least %d",
				sz.function, svc.Spec.ContainerConcurrency, maxScale, got, need)
		}
		assertScalesToHold(t, fn, svc.Spec.ContainerConcurrency, need)
	}

	// OpenFaaS: with asynchronous invocation the connectors commit a record
	// once it is queued, and the queue-worker's in-flight bound (per replica)
	// is what limits the calls of every asynchronous function together.
	qw := values.openfaas
	perReplica, err := strconv.Atoi(qw.QueueWorkerPro.MaxInflight)
	if err != nil {
		t.Fatalf("queueWorkerPro.maxInflight: %v", err)
	}
	replicas := qw.QueueWorker.Replicas
	if replicas == 0 {
		replicas = 1 // the chart's default
	}
	if got := perReplica * replicas; got < total {
		t.Errorf("queueWorkerPro.maxInflight %d × queueWorker.replicas %d = %d, want at least %d", perReplica, replicas, got, total)
	}
	line := fmt.Sprintf("queue-worker: %d calls in flight in all", total)
	if !strings.Contains(string(doc), line) {
		t.Errorf("docs/deploy.md does not state %q", line)
	}
}

func TestInFlightFormula(t *testing.T) {
	for _, c := range []struct {
		rate  float64
		worst time.Duration
		want  int
	}{
		{500, 25 * time.Second, 12500}, // the local stack (local/connector)
		{200, 25 * time.Second, 5000},
		{200, 3 * time.Second, 600},
		{1, 1500 * time.Millisecond, 2}, // rounded up
	} {
		if got := inFlight(c.rate, c.worst); got != c.want {
			t.Errorf("inFlight(%v, %s) = %d, want %d", c.rate, c.worst, got, c.want)
		}
	}
}

// sourceFor returns the KafkaSource that feeds function.
func sourceFor(tb testing.TB, m *manifests, function string) kafkaSource {
	tb.Helper()
	for _, src := range m.kafkaSources {
		if src.Spec.Sink.Ref != nil && src.Spec.Sink.Ref.Name == function {
			return src
		}
	}
	tb.Fatalf("no KafkaSource delivers to %s", function)
	return kafkaSource{}
}

// assertScalesToHold checks that the autoscaler, at the stated load, gives a
// function that waits (scaled on calls in flight) the replicas that hold it:
// its target is what one replica is sized to hold (containerConcurrency), so
// the calls in flight ask for about as many replicas as hold them, not one
// per few dozen waiting calls, and what it gives holds them all.
func assertScalesToHold(t *testing.T, fn stack.Function, perReplica, need int) {
	t.Helper()
	policy, err := scaler.ParsePolicy(fn.Labels)
	if err != nil {
		t.Fatalf("%s: %v", fn.Name, err)
	}
	if policy.Type != scaler.TypeCapacity {
		t.Errorf("%s: com.openfaas.scale.type %s, want capacity: its calls wait, and rps says nothing of how many are waiting", fn.Name, policy.Type)
		return
	}
	if policy.Target != float64(perReplica) {
		t.Errorf("%s: com.openfaas.scale.target %g, want %d, what one replica holds (containerConcurrency)", fn.Name, policy.Target, perReplica)
	}
	d := scaler.Decide(scaler.Input{Policy: policy, Replicas: 1, InFlight: float64(need)})
	if d.Replicas*perReplica < need || d.Want > policy.Max+1 {
		t.Errorf("%s: %d calls in flight → %d replicas wanted, %d given (%s); want at most max+1 wanted and %d held",
			fn.Name, need, d.Want, d.Replicas, d.Reason, need)
	}
}
