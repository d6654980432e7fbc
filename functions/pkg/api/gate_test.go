package api_test

import (
	"net/http"
	"testing"

	"handler/function/functions/pkg/api"
)

func TestGateRefusesPastItsSlotsAndFreesThem(t *testing.T) {
	g := api.NewGate(2, "busy")
	leave1, err1 := g.Enter()
	leave2, err2 := g.Enter()
	if err1 != nil || err2 != nil {
		t.Fatalf("first two Enter = %v, %v", err1, err2)
	}
	_, err := g.Enter()
	if api.Status(err) != http.StatusServiceUnavailable {
		t.Fatalf("third Enter = %v, want a 503 error", err)
	}
	log, _ := newLogger()
	if res := api.Error(log, err); res.Header.Get("Retry-After") != "1" {
		t.Errorf("refusal Retry-After = %q, want 1", res.Header.Get("Retry-After"))
	}
	leave1()
	leave3, err := g.Enter()
	if err != nil {
		t.Fatalf("Enter after a leave = %v", err)
	}
	leave2()
	leave3()
	if g.InUse() != 0 {
		t.Errorf("InUse = %d after every leave, want 0", g.InUse())
	}
}

func TestGateOfZeroSlotsAdmitsEverything(t *testing.T) {
	g := api.NewGate(0, "busy")
	for range 1000 {
		if _, err := g.Enter(); err != nil {
			t.Fatalf("Enter = %v", err)
		}
	}
}
