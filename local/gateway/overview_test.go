package gateway

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestOverviewStreamsSnapshots(t *testing.T) {
	var n atomic.Int64
	tg := MustStartGateway(t, Config{OverviewEvery: 10 * time.Millisecond, Overview: func(context.Context) any {
		return map[string]int64{"n": n.Add(1)}
	}})
	resp, err := (&http.Client{Timeout: wait}).Do(asAdmin(MustRequest(t, http.MethodGet, tg.URL+"/system/overview", nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type = %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	var data []string
	for len(data) < 3 && sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			data = append(data, d)
		}
	}
	for i, d := range data {
		if want := fmt.Sprintf(`{"n":%d}`, i+1); d != want {
			t.Errorf("snapshot %d = %s, want %s", i, d, want)
		}
	}
	if len(data) != 3 {
		t.Fatalf("%d snapshots, want 3 (%v)", len(data), sc.Err())
	}
}

func TestOverviewWithoutSourceIs404(t *testing.T) {
	tg := MustStartGateway(t, Config{})
	resp, _ := MustDo(t, asAdmin(MustRequest(t, http.MethodGet, tg.URL+"/system/overview", nil)))
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("status = %d, want 404", resp.StatusCode)
	}
}

func TestReplayDeadLetters(t *testing.T) {
	var got []ReplayRequest
	tg := MustStartGateway(t, Config{Replay: func(_ context.Context, req ReplayRequest) (int, error) {
		if req.Topic != "payments.dlq" {
			return 0, fmt.Errorf("topic %s: %w", req.Topic, ErrNoDeadLetters)
		}
		got = append(got, req)
		return 1, nil
	}})
	cases := []struct {
		body, want string
		status     int
	}{
		{`{"topic":"payments.dlq","partition":2,"offset":7}`, `{"replayed":1}`, http.StatusOK},
		{`{"topic":"payments.dlq"}`, `{"replayed":1}`, http.StatusOK},
		{`{"topic":"payments"}`, "", http.StatusNotFound},
		{`{"topic":"payments.dlq","partition":2}`, "", http.StatusBadRequest},
		{`{}`, "", http.StatusBadRequest},
		{`nope`, "", http.StatusBadRequest},
	}
	for _, c := range cases {
		resp, body := MustDo(t, asAdmin(MustRequest(t, http.MethodPost, tg.URL+"/system/dead-letters/replay", strings.NewReader(c.body))))
		if resp.StatusCode != c.status || (c.want != "" && body != c.want) {
			t.Errorf("replay %s = %d %q, want %d %q", c.body, resp.StatusCode, body, c.status, c.want)
		}
	}
	if len(got) != 2 || *got[0].Partition != 2 || *got[0].Offset != 7 || got[1].Partition != nil {
		t.Errorf("replays asked for: %+v", got)
	}
}
