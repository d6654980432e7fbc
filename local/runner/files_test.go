package runner

import (
	"log/slog"
	"testing"

	"handler/function/local/connector"
	"handler/function/local/stack"
)

func budgetStack() *stack.Stack {
	fn := func(name, topic, exec string) stack.Function {
		return stack.Function{Name: name, Annotations: map[string]string{"topic": topic}, Environment: map[string]string{"exec_timeout": exec}}
	}
	relay := fn("relay-outbox", stack.CronTopic, "30s")
	relay.Annotations["schedule"] = "*/1 * * * *"
	return &stack.Stack{Functions: map[string]stack.Function{
		"create-payment":  fn("create-payment", "", "15s"),
		"get-payment":     fn("get-payment", "", "40s"),
		"process-payment": fn("process-payment", "payments", "60s"),
		"apply-result":    fn("apply-result", "paymentsResults", "15"),
		"relay-outbox":    relay, // called by cron
	}}
}

func TestBudgetSharesTheOpenFileLimit(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	st := budgetStack()
	for _, files := range []uint64{0, filesNeeded(st), 1 << 20} {
		b := budget(files, st, log)
		if b.InFlight != nil || b.Conns["process-payment"] != connector.DefaultMaxInFlight || b.Conns["create-payment"] != functionConns || b.Conns["relay-outbox"] != cronConns || b.Clients != MaxClientConns {
			t.Errorf("with %d files (enough, or unknown): %+v, want every bound at its default", files, b)
		}
	}

	// This machine: 20,000 files, which root cannot raise. After the reserve
	// (1,024), the callers (2,048, both ends), two functions called over HTTP
	// (1,024 each) and one by cron (16): 12,816 for the fed functions, shared
	// 60:15 (Little's law at one rate: in flight ∝ time per call).
	b := budget(20000, st, log)
	if b.InFlight["process-payment"] != 10252 || b.InFlight["apply-result"] != 2563 || len(b.InFlight) != 2 {
		t.Errorf("with 20,000 files: %v, want process-payment 10,252 and apply-result 2,563", b.InFlight)
	}
	for name, n := range b.InFlight {
		if b.Conns[name] != n {
			t.Errorf("%s: the gateway may open %d connections to it, want its in-flight bound %d", name, b.Conns[name], n)
		}
	}
	for _, files := range []uint64{20000, 8192, 2048, 1100} {
		b := budget(files, st, log)
		if got := b.total(); uint64(got) > files {
			t.Errorf("with %d files the budget gives out %d: %+v", files, got, b)
		}
		for name, n := range b.Conns {
			if n < 1 {
				t.Errorf("with %d files %s gets %d connections", files, name, n)
			}
		}
	}
}
