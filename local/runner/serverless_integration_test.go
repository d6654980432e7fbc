//go:build integration

package runner_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"handler/function/local/gateway"
	"handler/function/local/metricstest"
	"handler/function/local/overview"
	"handler/function/local/runner"
	"handler/function/local/testenv"
)

// TestServerless: replicas, scaling through the gateway's API, metrics, and a
// scale from zero under concurrent calls, on a whole local stack.
func TestServerless(t *testing.T) {
	f := mustStackWith(t, func(cfg *runner.Config) {
		// apply-result may scale to zero (stack.yml); here after 3 idle seconds, not 5 minutes.
		cfg.Labels = map[string]map[string]string{"apply-result": {"com.openfaas.scale.zero-duration": "3s"}}
	})

	t.Run("every function starts at its minimum replicas, reported by /system/functions", func(t *testing.T) {
		for _, st := range f.functions(t) {
			if st.Name == "apply-result" {
				continue // labelled com.openfaas.scale.zero with 3 s here: it may already be at zero
			}
			if st.Replicas != 1 || st.AvailableReplicas != 1 {
				t.Errorf("%s: replicas %d, available %d; want 1 and 1 (com.openfaas.scale.min)", st.Name, st.Replicas, st.AvailableReplicas)
			}
		}
	})

	t.Run("the overview's lists are lists, never null, before anything happened", func(t *testing.T) {
		raw := f.overviewData(t)
		for _, list := range []string{"functions", "topics", "groups", "deadLetters"} {
			if !strings.Contains(raw, `"`+list+`":[`) {
				t.Errorf("%s is not a JSON list in %s", list, raw)
			}
		}
	})

	t.Run("apply-result goes idle to zero, and the connector's calls wake it", func(t *testing.T) {
		f.waitReplicas(t, "apply-result", 0)
		coldStarts := metricstest.Series("gateway_function_cold_start_seconds_count", "function_name", "apply-result")
		before := metricstest.MustScrape(t, f.stack.GatewayURL+"/metrics")[coldStarts]
		users := f.createMany(t, 20, 10)
		f.waitFinal(t, users, 20)
		f.assertAppliedOnce(t, users)
		if got := metricstest.MustScrape(t, f.stack.GatewayURL+"/metrics")[coldStarts] - before; got < 1 {
			t.Errorf("apply-result cold starts = %v, want at least 1", got)
		}
	})

	t.Run("process-payment scaled to 3: the work spreads over the replicas, nothing lost", func(t *testing.T) {
		f.scale(t, "process-payment", 3)
		f.waitAvailable(t, "process-payment", 3)
		if status, _ := f.post(t, "/system/scale-function/process-payment", f.admin(), []byte(`{"replicas":4}`)); status != http.StatusBadRequest {
			t.Errorf("scale above com.openfaas.scale.max: %d, want 400", status)
		}
		users := f.createMany(t, 60, 12)
		f.waitFinal(t, users, 60)
		f.assertAppliedOnce(t, users)
		replicas := f.stack.Scaler().Function("process-payment").Status()
		t.Logf("process-payment replicas: %+v", replicas)
		for _, r := range replicas {
			if r.Calls == 0 {
				t.Errorf("replica %d took no calls", r.ID)
			}
		}
		f.scale(t, "process-payment", 1)
		f.waitAvailable(t, "process-payment", 1)
	})

	t.Run("a replica of process-payment killed under load: nothing lost, nothing applied twice", func(t *testing.T) {
		f.scale(t, "process-payment", 3)
		f.waitAvailable(t, "process-payment", 3)
		before := f.stack.Restarts("process-payment")
		users := f.createMany(t, 40, 8)
		if err := f.stack.Kill("process-payment"); err != nil {
			t.Fatal(err)
		}
		users = append(users, f.createMany(t, 40, 8)...)
		f.waitFinal(t, users, 80)
		f.assertAppliedOnce(t, users)
		f.waitAvailable(t, "process-payment", 3)
		if got := f.stack.Restarts("process-payment") - before; got != 1 {
			t.Errorf("%d replicas replaced, want 1", got)
		}
		f.scale(t, "process-payment", 1)
	})

	t.Run("the gateway's metrics count the calls", func(t *testing.T) {
		series := metricstest.Series("gateway_function_invocation_total", "function_name", "create-payment", "code", "201")
		// The connector's deliveries are gateway calls too (in memory, the
		// two sharing this process: gateway.Transport).
		applied := metricstest.Series("gateway_function_invocation_total", "function_name", "apply-result", "code", "200")
		scraped := metricstest.MustScrape(t, f.stack.GatewayURL+"/metrics")
		before, appliedBefore := scraped[series], scraped[applied]
		f.createMany(t, 5, 5)
		after := metricstest.MustScrape(t, f.stack.GatewayURL+"/metrics")
		if got := after[series] - before; got != 5 {
			t.Errorf("%s grew by %v, want 5", series, got)
		}
		testenv.MustEventually(t, "apply-result's 5 calls counted by the gateway", func() bool {
			return metricstest.MustScrape(t, f.stack.GatewayURL+"/metrics")[applied]-appliedBefore >= 5
		})
		if got := after.Get("gateway_service_count", "function_name", "create-payment"); got != 1 {
			t.Errorf("gateway_service_count{create-payment} = %v, want 1", got)
		}
		if _, ok := after[metricstest.Series("kafka_consumergroup_lag", "consumergroup", "process-payment", "topic", "payments", "partition", "0")]; !ok {
			t.Error("no consumer lag for process-payment's partition 0")
		}
		// The gateway's connections are bounded, and the bounds fit in this
		// process's open-file limit (the runner's process is the test's).
		var limit syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &limit); err != nil {
			t.Fatal(err)
		}
		budget := after.Get("gateway_client_connections_max")
		for _, name := range []string{"create-payment", "get-payment", "process-payment", "apply-result", "relay-outbox"} {
			n := after.Get("gateway_upstream_connections_max", "function_name", name)
			if n < 1 {
				t.Errorf("gateway_upstream_connections_max{%s} = %v, want a bound", name, n)
			}
			budget += n
		}
		if budget < 1 || budget > float64(limit.Cur) {
			t.Errorf("the gateway may hold %v connections, want a bound within the open-file limit %d", budget, limit.Cur)
		}
	})

	t.Run("create-payment scales out under a burst of calls and back in after it", func(t *testing.T) {
		// Every call counts toward rps, whatever its answer, as in OpenFaaS; a
		// malformed body is the cheapest call (400, nothing stored).
		const calls, workers = 1500, 32
		start := time.Now()
		var wg sync.WaitGroup
		jobs := make(chan struct{}, calls)
		for range calls {
			jobs <- struct{}{}
		}
		close(jobs)
		statuses := make(chan int, calls)
		for range workers {
			wg.Go(func() {
				for range jobs {
					status, _ := f.call(t, http.MethodPost, "/function/create-payment", `{`, f.stack.APIKey)
					statuses <- status
				}
			})
		}
		var scaledOut time.Duration
		deadline := time.Now().Add(2 * time.Minute)
		for scaledOut == 0 {
			if st := f.function(t, "create-payment"); st.AvailableReplicas >= 2 {
				scaledOut = time.Since(start)
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("create-payment never had 2 replicas during the burst")
			}
			time.Sleep(50 * time.Millisecond)
		}
		wg.Wait()
		close(statuses)
		for s := range statuses {
			if s != http.StatusBadRequest {
				t.Errorf("a call answered %d, want 400", s)
			}
		}
		peak := f.function(t, "create-payment").Replicas
		t.Logf("%d calls from %d workers took %s; a second replica was ready %s after the burst began; %d wanted at the end of it",
			calls, workers, time.Since(start).Round(time.Millisecond), scaledOut.Round(time.Millisecond), peak)
		f.waitReplicas(t, "create-payment", 1)
	})

	t.Run("get-payment at zero: concurrent calls wait for a replica and are all answered", func(t *testing.T) {
		users := f.createMany(t, 1, 1)
		p := f.mustPaymentOf(t, users[0])
		f.scale(t, "get-payment", 0)
		if st := f.function(t, "get-payment"); st.Replicas != 0 || st.AvailableReplicas != 0 {
			t.Fatalf("after scaling to 0: %+v", st)
		}
		coldStarts := metricstest.Series("gateway_function_cold_start_seconds_count", "function_name", "get-payment")
		before := metricstest.MustScrape(t, f.stack.GatewayURL+"/metrics")[coldStarts]
		const calls = 30
		var wg sync.WaitGroup
		statuses := make(chan int, calls)
		path := fmt.Sprintf("/function/get-payment?id=%s&userId=%s", p.ID, p.UserID)
		for range calls {
			wg.Go(func() {
				status, _ := f.call(t, http.MethodGet, path, "", f.stack.APIKey)
				statuses <- status
			})
		}
		wg.Wait()
		close(statuses)
		answered := map[int]int{}
		for s := range statuses {
			answered[s]++
		}
		if answered[http.StatusOK] != calls {
			t.Errorf("answers %v, want %d × 200", answered, calls)
		}
		after := metricstest.MustScrape(t, f.stack.GatewayURL+"/metrics")[coldStarts]
		if after-before < 1 {
			t.Errorf("no cold start counted")
		}
		if st := f.function(t, "get-payment"); st.Replicas != 1 {
			t.Errorf("woke to %d replicas, want 1 (min)", st.Replicas)
		}
	})

	t.Run("the System page's overview: functions, topics, groups, dead letters, and a replay", func(t *testing.T) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(f.stack.Brokers...))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		poison := &kgo.Record{Topic: "payments", Key: []byte("overview-poison"), Value: []byte("not a CloudEvent")}
		if err := cl.ProduceSync(context.Background(), poison).FirstErr(); err != nil {
			t.Fatal(err)
		}
		var snap overview.Snapshot
		deadline := time.Now().Add(time.Minute)
		for {
			snap = f.overview(t)
			if slices.ContainsFunc(snap.DeadLetters, func(d overview.DeadLetter) bool { return d.Key == "overview-poison" }) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the poison record is not among the dead letters: %+v", snap.DeadLetters)
			}
			time.Sleep(200 * time.Millisecond)
		}
		if snap.KafkaError != "" {
			t.Errorf("kafka error: %s", snap.KafkaError)
		}
		if len(snap.Functions) != 5 {
			t.Errorf("%d functions, want 5", len(snap.Functions))
		}
		for _, fn := range snap.Functions {
			if fn.Name == "create-payment" && (fn.Invocations == 0 || fn.Available != 1 || len(fn.Instances) != 1) {
				t.Errorf("create-payment: %+v", fn)
			}
		}
		topics := map[string]int{}
		for _, tp := range snap.Topics {
			topics[tp.Name] = len(tp.Partitions)
		}
		if topics["payments"] != 3 || topics["paymentsResults"] != 3 || topics["payments.dlq"] != 3 {
			t.Errorf("topics and partitions: %v", topics)
		}
		groups := map[string]bool{}
		for _, g := range snap.Groups {
			groups[g.Group+" "+g.Topic] = len(g.Partitions) == 3
		}
		if !groups["process-payment payments"] || !groups["apply-result paymentsResults"] {
			t.Errorf("groups: %v", groups)
		}
		i := slices.IndexFunc(snap.DeadLetters, func(d overview.DeadLetter) bool { return d.Key == "overview-poison" })
		dl := snap.DeadLetters[i]
		if dl.Function != "process-payment" || dl.Status != http.StatusBadRequest || dl.Reason == "" {
			t.Errorf("dead letter %+v", dl)
		}
		body := fmt.Sprintf(`{"topic":%q,"partition":%d,"offset":%d}`, dl.Topic, dl.Partition, dl.Offset)
		if status, msg := f.post(t, "/system/dead-letters/replay", f.admin(), []byte(body)); status != http.StatusOK || string(msg) != `{"replayed":1}` {
			t.Errorf("replay: %d %s", status, msg)
		}
		if status, _ := f.post(t, "/system/dead-letters/replay", f.admin(), []byte(`{"topic":"payments"}`)); status != http.StatusNotFound {
			t.Errorf("replay from a topic that is not a dead-letter topic: %d, want 404", status)
		}
	})

	t.Run("cold starts through the gateway, measured", func(t *testing.T) {
		users := f.createMany(t, 1, 1)
		p := f.mustPaymentOf(t, users[0])
		path := fmt.Sprintf("/function/get-payment?id=%s&userId=%s", p.ID, p.UserID)
		sum := metricstest.Series("gateway_function_cold_start_seconds_sum", "function_name", "get-payment")
		const samples = 20
		var waits, calls []time.Duration
		for range samples {
			f.scale(t, "get-payment", 0)
			before := metricstest.MustScrape(t, f.stack.GatewayURL+"/metrics")[sum]
			start := time.Now()
			if status, body := f.call(t, http.MethodGet, path, "", f.stack.APIKey); status != http.StatusOK {
				t.Fatalf("call at zero: %d %s", status, body)
			}
			calls = append(calls, time.Since(start))
			took := metricstest.MustScrape(t, f.stack.GatewayURL+"/metrics")[sum] - before
			waits = append(waits, time.Duration(took*float64(time.Second)))
		}
		// Numbers for the notes, not assertions: the wait for a ready replica,
		// and the whole first call (the replica also opens its pool on it).
		t.Logf("get-payment from zero, %d times: wait for a replica p50 %s p99 %s; whole first call p50 %s p99 %s",
			samples, percentile(waits, 50), percentile(waits, 99), percentile(calls, 50), percentile(calls, 99))
	})
}

func (f *fixture) functions(t *testing.T) []gateway.FunctionStatus {
	t.Helper()
	status, body := f.send(t, http.MethodGet, "/system/functions", f.admin(), nil)
	if status != http.StatusOK {
		t.Fatalf("/system/functions: %d %s", status, body)
	}
	var list []gateway.FunctionStatus
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatal(err)
	}
	return list
}

func (f *fixture) function(t *testing.T, name string) gateway.FunctionStatus {
	t.Helper()
	status, body := f.send(t, http.MethodGet, "/system/function/"+name, f.admin(), nil)
	if status != http.StatusOK {
		t.Fatalf("/system/function/%s: %d %s", name, status, body)
	}
	var st gateway.FunctionStatus
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func (f *fixture) scale(t *testing.T, name string, replicas int) {
	t.Helper()
	body := fmt.Sprintf(`{"serviceName":%q,"replicas":%d}`, name, replicas)
	if status, msg := f.post(t, "/system/scale-function/"+name, f.admin(), []byte(body)); status != http.StatusAccepted {
		t.Fatalf("scale %s to %d: %d %s", name, replicas, status, msg)
	}
}

func (f *fixture) waitAvailable(t *testing.T, name string, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		st := f.function(t, name)
		if st.Replicas == uint64(n) && st.AvailableReplicas == uint64(n) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d replicas available after a minute", name, st.AvailableReplicas, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (f *fixture) waitReplicas(t *testing.T, name string, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		st := f.function(t, name)
		if st.Replicas == uint64(n) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d replicas after a minute, want %d", name, st.Replicas, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// admin is the header that signs a call to /system/* in as the gateway's
// admin, with the password the runner generated.
func (f *fixture) admin() http.Header {
	req := &http.Request{Header: http.Header{}}
	req.SetBasicAuth(gateway.DefaultAdminUser, f.stack.AdminPassword)
	return req.Header
}

// overview reads one snapshot from the gateway's /system/overview stream.
func (f *fixture) overview(t *testing.T) overview.Snapshot {
	t.Helper()
	var snap overview.Snapshot
	if err := json.Unmarshal([]byte(f.overviewData(t)), &snap); err != nil {
		t.Fatal(err)
	}
	return snap
}

// overviewData returns the JSON of one snapshot of /system/overview.
func (f *fixture) overviewData(t *testing.T) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.stack.GatewayURL+"/system/overview", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = f.admin()
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			return data
		}
	}
	t.Fatalf("no snapshot on /system/overview: %v", sc.Err())
	return ""
}

// percentile returns the p-th percentile of ds (nearest rank), rounded for a log line.
func percentile(ds []time.Duration, p int) time.Duration {
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	i := max((len(sorted)*p+99)/100-1, 0)
	return sorted[i].Round(100 * time.Microsecond)
}
