package function

import (
	"net/http"
	"testing"

	handler "github.com/openfaas/templates-sdk/go-http"

	"handler/function/functions/pkg/api"
)

func TestGetRequiresTheAPIKeyWhenOneIsConfigured(t *testing.T) {
	st := newSignalStore()
	p := MustCreate(t, st.Store, testUser, testNow)
	s := newTestService(st)
	s.cfg.APIKeys = []string{"k1"}
	query := "id=" + p.ID.String() + "&userId=" + testUser.String()
	for _, tc := range []struct {
		auth string
		want int
	}{{"", http.StatusUnauthorized}, {"Bearer k2", http.StatusUnauthorized}, {"Bearer k1", http.StatusOK}} {
		resp := s.handle(t.Context(), handler.Request{Method: http.MethodGet, QueryString: query, Header: http.Header{"Authorization": {tc.auth}}})
		if resp.StatusCode != tc.want {
			t.Fatalf("Authorization %q: %d, want %d", tc.auth, resp.StatusCode, tc.want)
		}
	}
}

func TestGetBoundsConcurrentLongPolls(t *testing.T) {
	st := newSignalStore()
	p := MustCreate(t, st.Store, testUser, testNow)
	s := newTestService(st)
	s.waiters = api.NewGate(1, "busy")
	leave, err := s.waiters.Enter() // the one slot is taken by another waiter
	if err != nil {
		t.Fatal(err)
	}

	resp := get(t, s, "id="+p.ID.String()+"&userId="+testUser.String()+"&wait=30")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("over the cap: %d Retry-After %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), resp.Body)
	}
	// A read without wait holds no slot and is always served.
	if resp := get(t, s, "id="+p.ID.String()+"&userId="+testUser.String()); resp.StatusCode != http.StatusOK {
		t.Fatalf("plain read over the cap: %d", resp.StatusCode)
	}
	leave()
	done := make(chan handler.Response, 1)
	go func() { done <- get(t, s, "id="+p.ID.String()+"&userId="+testUser.String()+"&wait=1") }()
	if resp := <-done; resp.StatusCode != http.StatusOK {
		t.Fatalf("with a free slot: %d %s", resp.StatusCode, resp.Body)
	}
	if s.waiters.InUse() != 0 {
		t.Fatal("the slot was not given back")
	}
}
