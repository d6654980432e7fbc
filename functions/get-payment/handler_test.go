package function

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	handler "github.com/openfaas/templates-sdk/go-http"

	"handler/function/functions/pkg/api"
	"handler/function/functions/pkg/config"
	"handler/function/functions/pkg/memory"
	"handler/function/functions/pkg/payment"
	"handler/function/functions/pkg/storetest"
)

var (
	testUser = uuid.MustParse("5d1f7a58-3c1e-4e0c-8a57-0f6f2f1f3b11")
	testNow  = time.Date(2026, 11, 25, 15, 4, 5, 123456000, time.UTC)
)

// signalStore is the memory store that reports each subscription, so a test
// can change a payment exactly while the function waits for it.
type signalStore struct {
	*memory.Store
	subscribed chan uuid.UUID
}

func newSignalStore() *signalStore {
	return &signalStore{Store: memory.New(), subscribed: make(chan uuid.UUID, 10)}
}

func (s *signalStore) Subscribe(ctx context.Context, id uuid.UUID) (<-chan struct{}, func(), error) {
	ch, stop, err := s.Store.Subscribe(ctx, id)
	if err == nil {
		s.subscribed <- id
	}
	return ch, stop, err
}

func newTestService(s store) *service {
	return &service{cfg: Config{MaxWait: 30 * time.Second, MaxWaiters: 100}, store: s, log: slog.New(slog.DiscardHandler), waiters: api.NewGate(100, "busy")}
}

func get(tb testing.TB, s *service, query string) handler.Response {
	tb.Helper()
	return s.handle(tb.Context(), handler.Request{Method: http.MethodGet, QueryString: query, Header: http.Header{}})
}

func MustCreate(tb testing.TB, s *memory.Store, user uuid.UUID, created time.Time) payment.Payment {
	tb.Helper()
	p := storetest.MustPayment(tb, user, "125.50", created)
	storetest.MustCreate(tb, s, p)
	return p
}

func applyResult(ctx context.Context, s *memory.Store, id uuid.UUID, success bool) error {
	_, err := s.UpdatePayment(ctx, id, func(p *payment.Payment) error {
		return p.Apply(payment.Result{PaymentID: id, Success: success, Details: "ref 9", Processed: testNow.Add(time.Minute)})
	})
	return err
}

type errorJSON struct {
	Error struct {
		Code    string            `json:"code"`
		Message string            `json:"message"`
		Fields  map[string]string `json:"fields"`
	} `json:"error"`
}

func MustDecode[T any](tb testing.TB, resp handler.Response) T {
	tb.Helper()
	var v T
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		tb.Fatalf("Content-Type = %q", ct)
	}
	if err := json.Unmarshal(resp.Body, &v); err != nil {
		tb.Fatalf("body %s: %v", resp.Body, err)
	}
	return v
}

func TestGetRejectsBadQueries(t *testing.T) {
	u, id := testUser.String(), "0b6c6f0e-1f57-4b38-9d2b-6a0a5c1c9f10"
	tests := []struct {
		query      string
		wantFields []string // nil: the error names no field
	}{
		{query: "", wantFields: []string{"userId"}},
		{query: "limit=5", wantFields: []string{"userId"}},
		{query: "userId=", wantFields: []string{"userId"}},
		{query: "userId=bob", wantFields: []string{"userId"}},
		{query: "userId=" + strings.ReplaceAll(u, "-", ""), wantFields: []string{"userId"}},
		{query: "userId=%7B" + u + "%7D", wantFields: []string{"userId"}},
		{query: "userId=urn:uuid:" + u, wantFields: []string{"userId"}},
		{query: "id=" + id, wantFields: []string{"userId"}},
		{query: "id=&userId=" + u, wantFields: []string{"id"}},
		{query: "id=42&userId=" + u, wantFields: []string{"id"}},
		{query: "id=42&userId=x", wantFields: []string{"id", "userId"}},
		{query: "id=" + id + "&userId=" + u + "&wait=31", wantFields: []string{"wait"}},
		{query: "id=" + id + "&userId=" + u + "&wait=-1", wantFields: []string{"wait"}},
		{query: "id=" + id + "&userId=" + u + "&wait=soon", wantFields: []string{"wait"}},
		{query: "id=" + id + "&userId=" + u + "&wait=1.5", wantFields: []string{"wait"}},
		{query: "id=" + id + "&userId=" + u + "&wait=5s", wantFields: []string{"wait"}},
		{query: "id=" + id + "&userId=" + u + "&wait=", wantFields: []string{"wait"}},
		{query: "id=" + id + "&userId=" + u + "&wait=9223372037", wantFields: []string{"wait"}},  // overflows a Duration to negative
		{query: "id=" + id + "&userId=" + u + "&wait=18446744074", wantFields: []string{"wait"}}, // overflows a Duration to 0.29 s
		{query: "id=" + id + "&userId=" + u + "&wait=99999999999999999999", wantFields: []string{"wait"}},
		{query: "id=" + id + "&userId=" + u + "&limit=5", wantFields: []string{"limit"}},
		{query: "userId=" + u + "&wait=5", wantFields: []string{"wait"}},
		{query: "userId=" + u + "&limit=0", wantFields: []string{"limit"}},
		{query: "userId=" + u + "&limit=101", wantFields: []string{"limit"}},
		{query: "userId=" + u + "&limit=-1", wantFields: []string{"limit"}},
		{query: "userId=" + u + "&limit=ten", wantFields: []string{"limit"}},
		{query: "userId=" + u + "&limit=", wantFields: []string{"limit"}},
		{query: "userId=" + u + "&sort=asc", wantFields: []string{"sort"}},
		{query: "userId=" + u + "&userid=" + u, wantFields: []string{"userid"}},
		{query: "userId=" + u + "&userId=" + u, wantFields: []string{"userId"}},
		{query: "userId=" + u + "&userId=" + uuid.NewString(), wantFields: []string{"userId"}},
		{query: "id=" + id + "&id=" + id + "&userId=" + u, wantFields: []string{"id"}},
		{query: "userId=" + u + "&limit=5&limit=6", wantFields: []string{"limit"}},
		{query: "userId=%zz"},
		{query: "userId=" + u + ";limit=5"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			// The store is down: a query that reached it would answer 503, not 400.
			st := memory.New()
			st.Fail = payment.Unavailable("database", errors.New("down"))
			resp := get(t, newTestService(st), tt.query)
			body := MustDecode[errorJSON](t, resp)
			if resp.StatusCode != http.StatusBadRequest || body.Error.Code != "invalid_request" || body.Error.Message == "" {
				t.Fatalf("%d %s", resp.StatusCode, resp.Body)
			}
			if len(body.Error.Fields) != len(tt.wantFields) {
				t.Fatalf("fields = %v, want %v", body.Error.Fields, tt.wantFields)
			}
			for _, f := range tt.wantFields {
				if body.Error.Fields[f] == "" {
					t.Fatalf("fields = %v, want %v", body.Error.Fields, tt.wantFields)
				}
			}
		})
	}
}

func TestGetOne(t *testing.T) {
	st := memory.New()
	p := MustCreate(t, st, testUser, testNow)
	s := newTestService(st)
	for _, query := range []string{
		"id=" + p.ID.String() + "&userId=" + testUser.String(),
		"userId=" + testUser.String() + "&id=" + p.ID.String() + "&wait=0",
		"id=" + strings.ToUpper(p.ID.String()) + "&userId=" + strings.ToUpper(testUser.String()),
	} {
		resp := get(t, s, query)
		got := MustDecode[map[string]any](t, resp)
		want := map[string]any{
			"paymentId": p.ID.String(), "userId": testUser.String(), "accountNumber": p.AccountNumber,
			"amount": "125.50", "description": p.Description, "state": "pending",
			"created": "2026-11-25T15:04:05.123456Z", "processed": nil, "extPaymentDetails": nil,
		}
		if resp.StatusCode != http.StatusOK || !maps.Equal(got, want) {
			t.Fatalf("%s: %d %v, want %v", query, resp.StatusCode, got, want)
		}
	}
}

func TestGetNotFoundRevealsNothing(t *testing.T) {
	st := newSignalStore()
	p := MustCreate(t, st.Store, testUser, testNow)
	s := newTestService(st)
	unknown := uuid.New()
	// The same answer whether the payment does not exist or is another user's,
	// also when waiting (which must not wait for someone else's payment).
	mine := get(t, s, "id="+unknown.String()+"&userId="+testUser.String())
	for _, query := range []string{
		"id=" + p.ID.String() + "&userId=" + uuid.NewString(),
		"id=" + p.ID.String() + "&userId=" + uuid.NewString() + "&wait=30",
	} {
		theirs := get(t, s, query)
		if mine.StatusCode != http.StatusNotFound || theirs.StatusCode != http.StatusNotFound {
			t.Fatalf("%s: statuses %d and %d, want 404", query, mine.StatusCode, theirs.StatusCode)
		}
		body := MustDecode[errorJSON](t, theirs)
		if body.Error.Code != "not_found" || body.Error.Fields != nil {
			t.Fatalf("%s", theirs.Body)
		}
		if a, b := strings.ReplaceAll(string(mine.Body), unknown.String(), "ID"), strings.ReplaceAll(string(theirs.Body), p.ID.String(), "ID"); a != b {
			t.Fatalf("the answers differ:\n%s\n%s", a, b)
		}
	}
}

func TestGetList(t *testing.T) {
	st := memory.New()
	var ids []string
	for i := range 5 {
		ids = append(ids, MustCreate(t, st, testUser, testNow.Add(time.Duration(i)*time.Minute)).ID.String())
	}
	MustCreate(t, st, uuid.New(), testNow.Add(time.Hour)) // another user's, newer than all
	s := newTestService(st)

	type list struct {
		Payments []map[string]any `json:"payments"`
	}
	idsOf := func(l list) []string {
		var out []string
		for _, p := range l.Payments {
			out = append(out, fmt.Sprint(p["paymentId"]))
		}
		return out
	}
	tests := []struct {
		query string
		want  []string
	}{
		{query: "userId=" + testUser.String(), want: []string{ids[4], ids[3], ids[2], ids[1], ids[0]}},
		{query: "userId=" + testUser.String() + "&limit=3", want: []string{ids[4], ids[3], ids[2]}},
		{query: "userId=" + testUser.String() + "&limit=1", want: []string{ids[4]}},
		{query: "limit=100&userId=" + testUser.String(), want: []string{ids[4], ids[3], ids[2], ids[1], ids[0]}},
	}
	for _, tt := range tests {
		resp := get(t, s, tt.query)
		got := idsOf(MustDecode[list](t, resp))
		if resp.StatusCode != http.StatusOK || strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("%s: %d %v, want %v", tt.query, resp.StatusCode, got, tt.want)
		}
	}

	empty := get(t, s, "userId="+uuid.NewString())
	if empty.StatusCode != http.StatusOK || string(empty.Body) != "{\"payments\":[]}\n" {
		t.Fatalf("empty list: %d %s", empty.StatusCode, empty.Body)
	}
}

func TestGetWaitsForTheResult(t *testing.T) {
	for _, success := range []bool{true, false} {
		t.Run(fmt.Sprint("success=", success), func(t *testing.T) {
			st := newSignalStore()
			p := MustCreate(t, st.Store, testUser, testNow)
			s := newTestService(st)

			// The result arrives while the function waits: after it subscribed.
			returned := make(chan struct{})
			applied := make(chan error, 1)
			go func() {
				select {
				case <-st.subscribed:
					applied <- applyResult(context.Background(), st.Store, p.ID, success)
				case <-returned:
					applied <- errors.New("the function answered without subscribing")
				}
			}()
			resp := get(t, s, "id="+p.ID.String()+"&userId="+testUser.String()+"&wait=30")
			close(returned)
			if err := <-applied; err != nil {
				t.Fatal(err)
			}
			got := MustDecode[payment.Payment](t, resp)
			want := payment.Rejected
			if success {
				want = payment.Completed
			}
			if resp.StatusCode != http.StatusOK || got.State != want || got.Processed == nil || got.ExtPaymentDetails == nil {
				t.Fatalf("%d %s, want %s", resp.StatusCode, resp.Body, want)
			}
		})
	}
}

func TestGetAnswersAtTheDeadlineWithThePendingPayment(t *testing.T) {
	st := newSignalStore()
	p := MustCreate(t, st.Store, testUser, testNow)
	resp := get(t, newTestService(st), "id="+p.ID.String()+"&userId="+testUser.String()+"&wait=1")
	got := MustDecode[payment.Payment](t, resp)
	if resp.StatusCode != http.StatusOK || got.ID != p.ID || got.State != payment.Pending || got.Processed != nil {
		t.Fatalf("%d %s", resp.StatusCode, resp.Body)
	}
	if len(st.subscribed) != 1 {
		t.Fatalf("subscribed %d times, want 1 (it must wait for a change)", len(st.subscribed))
	}
}

func TestGetDoesNotWaitWithoutReason(t *testing.T) {
	st := newSignalStore()
	done := MustCreate(t, st.Store, testUser, testNow)
	if err := applyResult(t.Context(), st.Store, done.ID, true); err != nil {
		t.Fatal(err)
	}
	pending := MustCreate(t, st.Store, testUser, testNow)
	s := newTestService(st)

	// A final payment comes back at once, even with the longest wait.
	resp := get(t, s, "id="+done.ID.String()+"&userId="+testUser.String()+"&wait=30")
	if got := MustDecode[payment.Payment](t, resp); resp.StatusCode != http.StatusOK || got.State != payment.Completed {
		t.Fatalf("%d %s", resp.StatusCode, resp.Body)
	}
	// Without wait nothing subscribes.
	st.subscribed = make(chan uuid.UUID, 10)
	resp = get(t, s, "id="+pending.ID.String()+"&userId="+testUser.String())
	if got := MustDecode[payment.Payment](t, resp); resp.StatusCode != http.StatusOK || got.State != payment.Pending {
		t.Fatalf("%d %s", resp.StatusCode, resp.Body)
	}
	if len(st.subscribed) != 0 {
		t.Fatal("a request without wait subscribed")
	}
}

func TestGetStopsWaitingWhenTheCallerLeaves(t *testing.T) {
	st := newSignalStore()
	p := MustCreate(t, st.Store, testUser, testNow)
	s := newTestService(st)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-st.subscribed
		cancel()
	}()
	defer cancel()
	resp := s.handle(ctx, handler.Request{Method: http.MethodGet, QueryString: "id=" + p.ID.String() + "&userId=" + testUser.String() + "&wait=30"})
	if got := MustDecode[payment.Payment](t, resp); resp.StatusCode != http.StatusOK || got.State != payment.Pending {
		t.Fatalf("%d %s", resp.StatusCode, resp.Body)
	}
}

func TestGetStoreOutage(t *testing.T) {
	st := newSignalStore()
	p := MustCreate(t, st.Store, testUser, testNow)
	st.Fail = payment.Unavailable("database", errors.New("connection refused"))
	s := newTestService(st)
	for _, query := range []string{
		"id=" + p.ID.String() + "&userId=" + testUser.String(),
		"id=" + p.ID.String() + "&userId=" + testUser.String() + "&wait=30",
		"userId=" + testUser.String(),
	} {
		resp := get(t, s, query)
		body := MustDecode[errorJSON](t, resp)
		if resp.StatusCode != http.StatusServiceUnavailable || body.Error.Code != "unavailable" || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("%s: %d %v %s", query, resp.StatusCode, resp.Header, resp.Body)
		}
	}
}

func TestGetMethods(t *testing.T) {
	st := memory.New()
	p := MustCreate(t, st, testUser, testNow)
	s := newTestService(st)
	query := url.Values{"id": {p.ID.String()}, "userId": {testUser.String()}}.Encode()
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodHead} {
		resp := s.handle(t.Context(), handler.Request{Method: method, QueryString: query})
		body := MustDecode[errorJSON](t, resp)
		if resp.StatusCode != http.StatusMethodNotAllowed || body.Error.Code != "method_not_allowed" || resp.Header.Get("Allow") != "GET" {
			t.Fatalf("%s: %d %v %s", method, resp.StatusCode, resp.Header, resp.Body)
		}
	}
}

func TestLoadConfig(t *testing.T) {
	c, err := LoadConfig(config.New(config.Map(map[string]string{"DATABASE_URL": "postgres://x"})))
	if err != nil || c.MaxWait != 30*time.Second || c.Database.URL != "postgres://x" || c.Database.Timeout != config.DefaultDBTimeout {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
	c, err = LoadConfig(config.New(config.Map(map[string]string{"DATABASE_URL": "postgres://x", "LONG_POLL_MAX_WAIT": "10"})))
	if err != nil || c.MaxWait != 10*time.Second {
		t.Fatalf("LONG_POLL_MAX_WAIT=10: %+v, %v", c, err)
	}
	for _, bad := range []string{"-1s", "6m", "forever"} {
		vars := map[string]string{"DATABASE_URL": "postgres://x", "LONG_POLL_MAX_WAIT": bad}
		if _, err := LoadConfig(config.New(config.Map(vars))); err == nil {
			t.Errorf("LONG_POLL_MAX_WAIT=%s accepted", bad)
		}
	}
}
