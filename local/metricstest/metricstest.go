// Package metricstest reads Prometheus text exposition in tests: scrape a
// /metrics endpoint and look a sample up by name and labels.
package metricstest

import (
	"bufio"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Samples maps a series, written as `name{a="x",b="y"}` with labels sorted
// (as client_golang writes them), to its value.
type Samples map[string]float64

// MustScrape GETs url and parses its text exposition.
func MustScrape(tb testing.TB, url string) Samples {
	tb.Helper()
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		tb.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("scrape %s: status %d", url, resp.StatusCode)
	}
	s, err := Parse(resp.Body)
	if err != nil {
		tb.Fatalf("scrape %s: %v", url, err)
	}
	return s
}

// Parse reads text exposition format: one `series value` per line, comments skipped.
func Parse(r io.Reader) (Samples, error) {
	s := Samples{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, err
		}
		s[line[:i]] = v
	}
	return s, sc.Err()
}

// Get returns the value of the series name with the given label pairs
// (name, value, name, value...), 0 when absent.
func (s Samples) Get(name string, labels ...string) float64 {
	return s[Series(name, labels...)]
}

// Series writes a series key the way Samples stores it.
func Series(name string, labels ...string) string {
	if len(labels) == 0 {
		return name
	}
	pairs := make([]string, 0, len(labels)/2)
	for i := 0; i+1 < len(labels); i += 2 {
		pairs = append(pairs, labels[i]+`="`+labels[i+1]+`"`)
	}
	sort.Strings(pairs)
	return name + "{" + strings.Join(pairs, ",") + "}"
}
