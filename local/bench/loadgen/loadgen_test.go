package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"handler/function/local/bench/load"
)

// TestMain lets Run start this test binary as its child, as the benchmark
// starts its own executable.
func TestMain(m *testing.M) {
	if len(os.Args) == 2 && os.Args[1] == ChildArg {
		if err := Child(context.Background(), os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// fakeCreatePayment answers creates as create-payment does: every fifth is
// refused with Retry-After, every seventh otherwise fails, the rest are
// created. It returns the server and the ids it created so far.
func fakeCreatePayment(t *testing.T) (*httptest.Server, func() map[uuid.UUID]bool) {
	t.Helper()
	var mu sync.Mutex
	n := 0
	issued := map[uuid.UUID]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			UserID uuid.UUID `json:"userId"`
		}
		if r.Header.Get("Authorization") != "Bearer key" || json.NewDecoder(r.Body).Decode(&body) != nil || body.UserID == uuid.Nil {
			http.Error(w, `{"error":"bad request"}`, http.StatusBadRequest)
			return
		}
		mu.Lock()
		n++
		i := n
		id := uuid.New()
		created := i%5 != 0 && i%7 != 0
		if created {
			issued[id] = true
		}
		mu.Unlock()
		switch {
		case i%5 == 0:
			w.Header().Set("Retry-After", "1")
			http.Error(w, `{"error":"busy"}`, http.StatusServiceUnavailable)
		case i%7 == 0:
			http.Error(w, `{"error":"boom"}`, http.StatusInternalServerError)
		default:
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintf(w, `{"paymentId":%q}`, id)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, func() map[uuid.UUID]bool {
		mu.Lock()
		defer mu.Unlock()
		out := make(map[uuid.UUID]bool, len(issued))
		for id := range issued {
			out[id] = true
		}
		return out
	}
}

// collect gathers what the messages before the summary carried.
type collect struct {
	progress []load.Summary
	created  []Created
}

func (c *collect) add(m Message) {
	if m.Progress != nil {
		c.progress = append(c.progress, *m.Progress)
	}
	c.created = append(c.created, m.Created...)
}

func TestTheParentReadsWhatTheChildsRecorderSummed(t *testing.T) {
	srv, issued := fakeCreatePayment(t)
	spec := Spec{URL: srv.URL, APIKey: "key", Mode: Closed, Workers: 4, Duration: 300 * time.Millisecond, IDs: true, ProgressEvery: 20 * time.Millisecond}
	client := NewClient()
	defer client.CloseIdleConnections()
	rec := &load.Recorder{}
	r, w := io.Pipe()
	served := make(chan error, 1)
	go func() {
		served <- serve(t.Context(), spec, func(ctx context.Context) (uuid.UUID, error) { return Create(ctx, client, spec.URL, spec.APIKey) }, rec, w)
		w.Close()
	}()
	var got collect
	last, err := read(r, got.add)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	want := rec.Summary()
	if *last.Done != want {
		t.Fatalf("the parent read %+v, the child's recorder summed %+v", *last.Done, want)
	}
	if want.OK == 0 || want.Refused == 0 || want.Failed == 0 || want.Latency.N != int(want.OK) {
		t.Fatalf("summary %+v: want creates, refusals and failures, each told apart", want)
	}
	// Every payment reported was created, once; a call cut off by the end of
	// the run is neither recorded nor reported.
	seen, created := map[uuid.UUID]bool{}, issued()
	for _, c := range got.created {
		if !created[c.ID] || seen[c.ID] || c.Sent.Before(last.Started) {
			t.Fatalf("reported %v (sent %v, run started %v): not created, or twice, or before the run", c.ID, c.Sent, last.Started)
		}
		seen[c.ID] = true
	}
	if int64(len(seen)) != want.OK {
		t.Fatalf("%d payments reported, %d creates recorded", len(seen), want.OK)
	}
	for i, p := range got.progress {
		if p.OK > want.OK || (i > 0 && p.OK < got.progress[i-1].OK) || p.Latency != (load.Latency{}) {
			t.Fatalf("progress %d: %+v after %+v, final %+v", i, p, got.progress[max(i-1, 0)], want)
		}
	}
}

func TestRunMeasuresTheLoadInAProcessOfItsOwn(t *testing.T) {
	srv, issued := fakeCreatePayment(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// 400/s for 250 ms: exactly 100 calls, each answered (an open loop waits
	// for the calls in flight).
	spec := Spec{URL: srv.URL, APIKey: "key", Mode: Open, Rate: 400, MaxInFlight: 1000, Duration: 250 * time.Millisecond, IDs: true}
	var got collect
	res, err := Run(t.Context(), exe, spec, got.add)
	if err != nil {
		t.Fatal(err)
	}
	s := res.Summary
	// Calls 5, 10, …, 100 are refused; the 14 of 7, 14, …, 98 fail but for 35 and 70.
	if s.OK != 68 || s.Refused != 20 || s.Failed != 12 || s.Dropped != 0 || s.Latency.N != 68 {
		t.Fatalf("summary %+v, want 68 created, 20 refused, 12 failed", s)
	}
	created := issued()
	if len(got.created) != len(created) {
		t.Fatalf("%d payments reported, the server created %d", len(got.created), len(created))
	}
	for _, c := range got.created {
		if !created[c.ID] {
			t.Fatalf("reported %v, which the server did not create", c.ID)
		}
	}
	if res.CPU <= 0 || res.Started.IsZero() {
		t.Fatalf("the child's CPU %v and start %v were not measured", res.CPU, res.Started)
	}
}

func TestRunRefusesASpecThatCannotRun(t *testing.T) {
	for _, spec := range []Spec{
		{URL: "http://x", Mode: Closed, Duration: time.Second},              // no workers
		{URL: "http://x", Mode: Open, Rate: 10, Duration: time.Second},      // no in-flight bound
		{URL: "http://x", Mode: "burst", Workers: 1, Duration: time.Second}, // no such mode
		{Mode: Closed, Workers: 1, Duration: time.Second},                   // no url
	} {
		if _, err := Run(t.Context(), "/nonexistent", spec, nil); err == nil {
			t.Errorf("%+v: accepted", spec)
		}
	}
}

func TestAChildThatDiesIsAnError(t *testing.T) {
	// false(1) exits without a report.
	_, err := Run(t.Context(), "/bin/false", Spec{URL: "http://x", Mode: Closed, Workers: 1, Duration: time.Second}, nil)
	if err == nil {
		t.Fatal("a child that wrote no summary was taken for a run")
	}
}
