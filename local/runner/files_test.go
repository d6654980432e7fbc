package runner

import (
	"log/slog"
	"testing"

	"handler/function/local/connector"
	"handler/function/local/stack"
)

func TestInFlightBoundsShareTheOpenFileLimitByExecTimeout(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	fn := func(name, topic, exec string) stack.Function {
		return stack.Function{Name: name, Annotations: map[string]string{"topic": topic}, Environment: map[string]string{"exec_timeout": exec}}
	}
	st := &stack.Stack{Functions: map[string]stack.Function{
		"process-payment": fn("process-payment", "payments", "60s"),
		"apply-result":    fn("apply-result", "paymentsResults", "15"),
		"relay-outbox":    fn("relay-outbox", stack.CronTopic, "30s"), // not a subscriber
	}}
	if got := inFlightBounds(filesNeeded(2), st, log); got != nil {
		t.Errorf("with room for every bound: %v, want none lowered", got)
	}
	if got := inFlightBounds(0, st, log); got != nil {
		t.Errorf("with the limit unknown: %v, want none lowered", got)
	}
	// This machine: 20,000 files, which root cannot raise. 15,904 for calls,
	// shared 60:15 (Little's law at one rate: in flight ∝ time per call).
	got := inFlightBounds(20000, st, log)
	if got["process-payment"] != 12723 || got["apply-result"] != 3180 || len(got) != 2 {
		t.Errorf("with 20,000 files: %v, want process-payment 12,723 and apply-result 3,180", got)
	}
	if got := inFlightBounds(1024, st, log); got["apply-result"] != 256 {
		t.Errorf("with 1,024 files: %v, want at least 256 each", got)
	}
	if got := inFlightBounds(1<<20, st, log); got != nil {
		t.Errorf("with a million files: %v, want the default %d for each", got, connector.DefaultMaxInFlight)
	}
}
