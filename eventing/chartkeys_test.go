package eventing

import (
	"bufio"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// chartKeysFile lists the values keys each faas-netes chart's templates read; its header says
// from which commit and chart versions.
const chartKeysFile = "testdata/chart-values-keys.txt"

// MustChartKeys reads chartKeysFile: chart name -> set of dotted keys.
func MustChartKeys(tb testing.TB) map[string]map[string]bool {
	tb.Helper()
	f, err := os.Open(chartKeysFile)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	keys := map[string]map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		chart, key, ok := strings.Cut(line, " ")
		if !ok {
			tb.Fatalf("%s: %q is not \"<chart> <key>\"", chartKeysFile, line)
		}
		if keys[chart] == nil {
			keys[chart] = map[string]bool{}
		}
		keys[chart][key] = true
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return keys
}

// leafKeys flattens a values document into dotted keys ("queueWorker.ackWait").
func leafKeys(prefix string, v map[string]any, out *[]string) {
	for k, child := range v {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		if m, ok := child.(map[string]any); ok && len(m) > 0 {
			leafKeys(key, m, out)
			continue
		}
		*out = append(*out, key)
	}
}

// chartOf names the chart a values file in eventing/openfaas is for.
func chartOf(file string) string {
	base := filepath.Base(file)
	switch {
	case strings.HasPrefix(base, "kafka-connector-"):
		return "kafka-connector"
	case base == "cron-connector.yaml":
		return "cron-connector"
	default:
		return "openfaas"
	}
}

// TestOpenFaaSValuesKeysExist: every key set in eventing/openfaas is one the chart's templates
// read. A key the chart does not know (async.maxInflight, sasl) is ignored by Helm without a word.
func TestOpenFaaSValuesKeysExist(t *testing.T) {
	known := MustChartKeys(t)
	values := MustLoadOpenFaaSValues(t)
	for file, raw := range values.raw {
		chart := chartOf(file)
		if len(known[chart]) == 0 {
			t.Fatalf("%s lists no keys for chart %s", chartKeysFile, chart)
		}
		var keys []string
		leafKeys("", raw, &keys)
		sort.Strings(keys)
		for _, k := range keys {
			if !known[chart][k] {
				t.Errorf("%s: %s is not a value the %s chart reads", file, k, chart)
			}
		}
	}
}

func TestChartKeysCatchMistakes(t *testing.T) {
	known := MustChartKeys(t)
	for chart, key := range map[string]string{
		"kafka-connector": "async.maxInflight",
		"cron-connector":  "contentTypes",
		"openfaas":        "queueWorker.ackwait",
	} {
		if known[chart][key] {
			t.Errorf("%s %s is listed; the key check would miss it", chart, key)
		}
	}
	if !known["kafka-connector"]["saslAuth"] || known["kafka-connector"]["sasl"] {
		t.Error("the kafka-connector chart reads saslAuth, not sasl")
	}
}
