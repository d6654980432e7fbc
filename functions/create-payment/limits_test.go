package function

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"handler/function/functions/pkg/api"
	"handler/function/functions/pkg/functest"
	"handler/function/functions/pkg/payment"
	"handler/function/functions/pkg/ratelimit"
)

func bodyFor(user uuid.UUID) string {
	return fmt.Sprintf(`{"userId":%q,"accountNumber":"40817810099910004312","amount":"10.00","description":"rent"}`, user)
}

func TestCreateRequiresTheAPIKeyWhenOneIsConfigured(t *testing.T) {
	f := newFixture(t)
	f.svc.cfg.APIKeys = []string{"old-key", "new-key"}
	for _, tc := range []struct {
		name   string
		header map[string]string
		want   int
	}{
		{"no header", nil, http.StatusUnauthorized},
		{"wrong key", map[string]string{"Authorization": "Bearer nope"}, http.StatusUnauthorized},
		{"not bearer", map[string]string{"Authorization": "Basic new-key"}, http.StatusUnauthorized},
		{"empty token", map[string]string{"Authorization": "Bearer "}, http.StatusUnauthorized},
		{"current key", map[string]string{"Authorization": "Bearer new-key"}, http.StatusCreated},
		{"key being rotated out", map[string]string{"Authorization": "bearer old-key"}, http.StatusCreated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.store.creates
			resp := f.post(t, bodyFor(uuid.New()), tc.header)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, resp.Body)
			}
			if tc.want == http.StatusUnauthorized {
				if got := functest.MustDecodeError(t, resp).Error.Code; got != "unauthorized" {
					t.Errorf("code %q", got)
				}
				if resp.Header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
				if f.store.creates != before {
					t.Error("an unauthenticated request reached the store")
				}
			}
		})
	}
}

func TestCreateRateLimitsEachUser(t *testing.T) {
	f := newFixture(t)
	now := testNow
	f.svc.limiter = ratelimit.New(1, 2, func() time.Time { return now })
	alice, bob := uuid.New(), uuid.New()
	for i := range 2 {
		if resp := f.post(t, bodyFor(alice), nil); resp.StatusCode != http.StatusCreated {
			t.Fatalf("create %d within the burst: %d %s", i+1, resp.StatusCode, resp.Body)
		}
	}
	resp := f.post(t, bodyFor(alice), nil)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("over the limit: %d Retry-After %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), resp.Body)
	}
	if got := functest.MustDecodeError(t, resp).Error.Code; got != "rate_limited" {
		t.Fatalf("code %q", got)
	}
	if n := len(MustPendingEvents(t, f.store.Store)) + len(f.pub.Messages()); n != 2 {
		t.Fatalf("%d events, want 2: a limited request must store nothing", n)
	}
	if resp := f.post(t, bodyFor(bob), nil); resp.StatusCode != http.StatusCreated {
		t.Fatalf("another user was limited: %d", resp.StatusCode)
	}
	now = now.Add(time.Second)
	if resp := f.post(t, bodyFor(alice), nil); resp.StatusCode != http.StatusCreated {
		t.Fatalf("after waiting: %d", resp.StatusCode)
	}
}

func TestCreateMatchesFieldNamesExactly(t *testing.T) {
	user := uuid.New()
	for _, tc := range []struct{ name, body, field, msg string }{
		{"other case", fmt.Sprintf(`{"USERID":%q,"accountNumber":"1","amount":1,"description":""}`, user), "USERID", "is not a known field"},
		{"duplicate", fmt.Sprintf(`{"userId":%q,"accountNumber":"1","amount":1,"amount":2,"description":""}`, user), "amount", "is given more than once"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			resp := f.post(t, tc.body, nil)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
			}
			if got := functest.MustDecodeError(t, resp).Error.Fields[tc.field]; got != tc.msg {
				t.Fatalf("fields[%s] = %q, want %q", tc.field, got, tc.msg)
			}
			if f.store.creates != 0 {
				t.Fatal("the store was called")
			}
		})
	}
}

// While Kafka is failing, creates do not each wait for it: after one failure the
// next creates leave their events to the relay at once, for publishPause.
func TestCreatePausesPublishingAfterAFailure(t *testing.T) {
	f := newFixture(t)
	now := testNow
	f.svc.now = func() time.Time { return now }
	builds := 0
	f.svc.relay = func(context.Context) (relay, error) {
		builds++
		return nil, payment.Unavailable("kafka", errors.New("no brokers"))
	}
	for i := range 3 {
		if resp := f.post(t, bodyFor(uuid.New()), nil); resp.StatusCode != http.StatusCreated {
			t.Fatalf("create %d: %d", i, resp.StatusCode)
		}
	}
	if builds != 1 {
		t.Fatalf("tried Kafka %d times during the pause, want 1", builds)
	}
	now = now.Add(publishPause)
	f.post(t, bodyFor(uuid.New()), nil)
	if builds != 2 {
		t.Fatalf("did not try Kafka again after the pause (%d tries)", builds)
	}
	if n := len(MustPendingEvents(t, f.store.Store)); n != 4 {
		t.Fatalf("%d events in the outbox, want all 4", n)
	}
}

// A saturated instance refuses at once, before anything is stored, and frees
// the slot of every request it served.
func TestCreateRefusesPastMaxInFlight(t *testing.T) {
	f := newFixture(t)
	f.svc.gate = api.NewGate(1, "busy")
	resp := f.post(t, bodyFor(uuid.New()), nil)
	if resp.StatusCode != http.StatusCreated || f.svc.gate.InUse() != 0 {
		t.Fatalf("create with a free slot: %d, %d slots in use after it", resp.StatusCode, f.svc.gate.InUse())
	}
	leave, err := f.svc.gate.Enter() // another create holds the one slot
	if err != nil {
		t.Fatal(err)
	}
	defer leave()
	before := f.store.creates
	resp = f.post(t, bodyFor(uuid.New()), nil)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("create past the bound: %d, Retry-After %q, want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if got := functest.MustDecodeError(t, resp).Error.Code; got != "unavailable" {
		t.Errorf("code %q, want unavailable", got)
	}
	if f.store.creates != before {
		t.Error("a refused create reached the store")
	}
}
