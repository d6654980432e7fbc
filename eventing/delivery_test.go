package eventing

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// knativeRetries mirrors the Kafka dispatcher of eventing-kafka-broker (knative-v1.21.0,
// data-plane/dispatcher/.../http/WebClientCloudEventSender.java, isRetryableStatusCode): an
// answer of 300 or more fails the delivery; 5xx, 404, 408, 409 and 429 are retried while retries
// remain, any other failure goes to the dead-letter sink at once (3xx included).
func knativeRetries(status int) bool {
	return status >= 500 || status == 404 || status == 408 || status == 409 || status == 429
}

// retrySchedule is the dispatcher's wait before each retry with backoffPolicy exponential
// (computeRetryPolicy there): retry n, counted from 1, waits backoffDelay * 2^n. So the first
// retry already waits twice the delay.
func retrySchedule(delay time.Duration, retries int) []time.Duration {
	waits := make([]time.Duration, retries)
	for n := 1; n <= retries; n++ {
		waits[n-1] = delay << n
	}
	return waits
}

// formatSchedule writes a schedule as docs/deploy.md states it: "4 s, 8 s and 16 s, 28 s in all".
func formatSchedule(waits []time.Duration) string {
	parts := make([]string, len(waits))
	var total time.Duration
	for i, w := range waits {
		parts[i] = fmt.Sprintf("%g s", w.Seconds())
		total += w
	}
	list := parts[0]
	if len(parts) > 1 {
		list = strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
	}
	return fmt.Sprintf("%s, %g s in all", list, total.Seconds())
}

func TestKnativeRetryRule(t *testing.T) {
	retried := []int{404, 408, 409, 429, 500, 502, 503, 504, 599}
	deadLettered := []int{300, 301, 302, 304, 400, 401, 403, 405, 410, 413, 415, 422}
	for _, c := range retried {
		if !knativeRetries(c) {
			t.Errorf("%d: the dispatcher retries it", c)
		}
	}
	for _, c := range deadLettered {
		if knativeRetries(c) {
			t.Errorf("%d: the dispatcher dead-letters it at once", c)
		}
	}
}

func TestRetrySchedule(t *testing.T) {
	got := formatSchedule(retrySchedule(2*time.Second, 5))
	if want := "4 s, 8 s, 16 s, 32 s and 64 s, 124 s in all"; got != want {
		t.Errorf("schedule %q, want %q", got, want)
	}
	if got := formatSchedule(retrySchedule(500*time.Millisecond, 1)); got != "1 s, 1 s in all" {
		t.Errorf("one retry: %q", got)
	}
}

// TestDeliveryScheduleDocumented: docs/deploy.md states each KafkaSource's retry schedule as
// the dispatcher computes it from the manifest, so changing retry or backoffDelay without the
// docs fails here.
func TestDeliveryScheduleDocumented(t *testing.T) {
	raw, err := os.ReadFile("../docs/deploy.md")
	if err != nil {
		t.Fatal(err)
	}
	m := MustLoadManifests(t)
	for _, src := range m.kafkaSources {
		d := src.Spec.Delivery
		if d == nil || d.Retry == nil || d.BackoffPolicy != "exponential" {
			t.Errorf("KafkaSource %s: want exponential retries", src.Metadata.Name)
			continue
		}
		delay, err := parseISODuration(d.BackoffDelay)
		if err != nil {
			t.Errorf("KafkaSource %s: %v", src.Metadata.Name, err)
			continue
		}
		want := fmt.Sprintf("%s: %s", src.Metadata.Name, formatSchedule(retrySchedule(delay, *d.Retry)))
		if !strings.Contains(string(raw), want) {
			t.Errorf("docs/deploy.md does not state %q", want)
		}
	}
}
