package metrics

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// MustScrape GETs the side listener's /metrics and returns each sample line's value by series.
func MustScrape(tb testing.TB, addr string) map[string]float64 {
	tb.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + addr + "/metrics")
	if err != nil {
		tb.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	samples := map[string]float64{}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 1<<20))
	for sc.Scan() {
		line := sc.Text()
		if i := strings.LastIndexByte(line, ' '); i > 0 && !strings.HasPrefix(line, "#") {
			v, err := strconv.ParseFloat(line[i+1:], 64)
			if err == nil {
				samples[line[:i]] = v
			}
		}
	}
	return samples
}

func TestSideListenerServesWhatTheProcessRecords(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	addr := Start("127.0.0.1:0", log)
	if addr == "" {
		t.Fatal("no listener started")
	}
	if again := Start("127.0.0.1:0", log); again != addr {
		t.Errorf("second Start = %q, want the first listener %q", again, addr)
	}
	pool, err := pgxpool.New(context.Background(), "postgres://u@127.0.0.1:1/db?pool_max_conns=7")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	unwatch := WatchPool(pool)

	before := MustScrape(t, addr)
	ObserveRequest(201, 3*time.Millisecond)
	ObserveRequest(201, 4*time.Millisecond)
	ObserveRequest(503, time.Millisecond)
	ObserveProduce("payments", nil, time.Millisecond)
	ObserveProduce("payments", errors.New("broker down"), time.Millisecond)
	after := MustScrape(t, addr)

	deltas := map[string]float64{
		`function_request_duration_seconds_count{code="201"}`:            2,
		`function_request_duration_seconds_count{code="503"}`:            1,
		`function_kafka_produced_total{result="ok",topic="payments"}`:    1,
		`function_kafka_produced_total{result="error",topic="payments"}`: 1,
	}
	for series, want := range deltas {
		if got := after[series] - before[series]; got != want {
			t.Errorf("%s grew by %v, want %v", series, got, want)
		}
	}
	if got := after["function_db_pool_max_conns"]; got != 7 {
		t.Errorf("function_db_pool_max_conns = %v, want 7", got)
	}
	if _, ok := after["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}
	unwatch()
	if got := MustScrape(t, addr)["function_db_pool_max_conns"]; got != 0 {
		t.Errorf("function_db_pool_max_conns after unwatch = %v, want 0", got)
	}
}
