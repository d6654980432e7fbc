package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

// The in-process transport gives its caller what a call over HTTP would: the
// function's status, headers and body, with the gateway's own work done (the
// call id), and leaves the caller's request as it was.
func TestTransportCallsTheFunctionInMemory(t *testing.T) {
	tg := MustStartGateway(t, Config{})
	got := make(chan seen, 1)
	MustUpstream(t, tg, "echo", recordingUpstream(got))
	client := &http.Client{Transport: tg.Transport(1 << 10)}

	// No connection is made: the host is never dialled.
	req := MustRequest(t, http.MethodPost, "http://gateway.invalid/function/echo/items?x=1", strings.NewReader("record"))
	req.Header.Set("X-Kafka-Key", "k1")
	resp, body := MustDoWith(t, client, req)

	in := MustReceive(t, got, "upstream request")
	if in.method != http.MethodPost || in.path != "/items" || in.query != "x=1" || in.body != "record" {
		t.Errorf("upstream got %s %s?%s %q, want POST /items?x=1 \"record\"", in.method, in.path, in.query, in.body)
	}
	if in.header.Get("X-Kafka-Key") != "k1" || in.header.Get(headerCallID) == "" {
		t.Errorf("upstream headers = %v, want X-Kafka-Key and X-Call-Id", in.header)
	}
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("X-Reply") != "from-POST" || body != `{"echo":"record"}` {
		t.Errorf("response = %d %v %q", resp.StatusCode, resp.Header, body)
	}
	if resp.Header.Get(headerCallID) != in.header.Get(headerCallID) {
		t.Errorf("response X-Call-Id = %q, upstream's %q", resp.Header.Get(headerCallID), in.header.Get(headerCallID))
	}
	if req.Header.Get(headerCallID) != "" {
		t.Errorf("the caller's request was changed: X-Call-Id = %q", req.Header.Get(headerCallID))
	}
}

func TestTransportKeepsOnlyTheStartOfALongBody(t *testing.T) {
	tg := MustStartGateway(t, Config{})
	MustUpstream(t, tg, "echo", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, strings.Repeat("x", 10_000))
	})
	req := MustRequest(t, http.MethodPost, "http://gateway.invalid/function/echo", strings.NewReader("r"))
	resp, body := MustDoWith(t, &http.Client{Transport: tg.Transport(100)}, req)
	if resp.StatusCode != http.StatusInternalServerError || body != strings.Repeat("x", 100) || resp.ContentLength != -1 {
		t.Errorf("got %d, %d bytes, length %d; want 500, the first 100 bytes, length unknown", resp.StatusCode, len(body), resp.ContentLength)
	}
}

// A caller that gives up gets its context's error, and the function's call
// is cancelled with it.
func TestTransportCallEndsWithItsContext(t *testing.T) {
	tg := MustStartGateway(t, Config{})
	started, cancelled := make(chan struct{}), make(chan struct{})
	MustUpstream(t, tg, "echo", func(w http.ResponseWriter, r *http.Request) {
		// Until the body is read, net/http does not watch the connection.
		io.ReadAll(r.Body)
		close(started)
		<-r.Context().Done()
		close(cancelled)
	})
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://gateway.invalid/function/echo", strings.NewReader("r"))
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 1)
	go func() {
		resp, err := tg.Transport(100).RoundTrip(req)
		if resp != nil {
			resp.Body.Close()
		}
		errs <- err
	}()
	MustReceive(t, started, "the function's call")
	cancel()
	if err := MustReceive(t, errs, "the end of the call"); !errors.Is(err, context.Canceled) {
		t.Errorf("RoundTrip error = %v, want context.Canceled", err)
	}
	MustReceive(t, cancelled, "the function's call cancelled")
}

// A handler that panics fails that call, as net/http's server would; it does
// not take the process down.
func TestTransportTurnsAPanicIntoAnError(t *testing.T) {
	tg := MustStartGateway(t, Config{Replay: func(context.Context, ReplayRequest) (int, error) { panic("replay broke") }})
	req := asAdmin(MustRequest(t, http.MethodPost, "http://gateway.invalid/system/dead-letters/replay", strings.NewReader(`{"topic":"payments.dlq"}`)))
	resp, err := tg.Transport(100).RoundTrip(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got %d, want an error", resp.StatusCode)
	}
	if !errors.Is(err, errAborted) {
		t.Errorf("error = %v, want errAborted", err)
	}
}
