//go:build linux

package fnbuild_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"handler/function/functions/pkg/events"
	"handler/function/functions/pkg/eventsig"
	"handler/function/functions/pkg/functest"
	"handler/function/functions/pkg/payment"
	"handler/function/local/stack"
)

// functionUID is the uid the functions run as on both platforms (stack.yml's comment,
// the Knative Services' runAsUser, OpenFaaS's functions.setNonRootUser).
const functionUID = 12000

// readOnlySandbox runs a function binary as a pod with readOnlyRootFilesystem and an emptyDir
// for temporary files would: in a mount namespace of its own, every mount is remounted
// read-only (/proc aside), a small tmpfs is mounted at $TMPDIR, and the script proves both
// before it starts the function, as uid 12000 when the test runs as root.
const readOnlySandbox = `set -e
awk '{print $5}' /proc/self/mountinfo | grep -v '^/proc' | sort -u | while read -r m; do
  mount -o remount,bind,ro "$m" 2>/dev/null || true
done
mount -t tmpfs -o size=16m,mode=1777 tmpfs "$TMPDIR"
for probe in "$WORKDIR/.probe" /tmp/.readonly-probe-$$ /dev/shm/.readonly-probe-$$ "$HOME/.probe"; do
  if touch "$probe" 2>/dev/null; then echo "sandbox: $probe is writable" >&2; exit 97; fi
done
cd "$WORKDIR"
exec $DROP "$BINARY"
`

// MustStartReadOnly starts binary in readOnlySandbox with the function's stack.yml environment.
func MustStartReadOnly(tb testing.TB, binary string, fn stack.Function, env ...string) (*functionProcess, string) {
	tb.Helper()
	dir := filepath.Dir(binary)
	tmp := filepath.Join(tb.TempDir(), "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		tb.Fatal(err)
	}
	// The function's uid must reach its binary: open the test's folders for reading.
	for d := dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	args := []string{"--mount", "--propagation", "private"}
	drop := fmt.Sprintf("setpriv --reuid=%d --regid=%d --clear-groups", functionUID, functionUID)
	if os.Geteuid() != 0 {
		// Without root, a user namespace gives the mounts; the process keeps the caller's uid.
		args = append([]string{"--user", "--map-root-user"}, args...)
		drop = ""
	}
	cmd := exec.Command("unshare", append(args, "sh", "-c", readOnlySandbox)...)
	for k, v := range fn.Environment {
		env = append(env, k+"="+v)
	}
	env = append(env, "BINARY="+binary, "WORKDIR="+dir, "TMPDIR="+tmp, "HOME="+dir, "DROP="+drop)
	return MustStartCommand(tb, cmd, env...), tmp
}

// peakRSS is the process's VmHWM, its peak resident memory, in bytes.
func peakRSS(tb testing.TB, pid int) int64 {
	tb.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				tb.Fatal(err)
			}
			return kb << 10
		}
	}
	tb.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// probeRequest builds a request each function accepts as valid, so that it goes past its input
// checks to Postgres or Kafka, which are unreachable here: every answer must be a 503.
func probeRequest(tb testing.TB, fn, base string) *http.Request {
	tb.Helper()
	id, user := uuid.New(), uuid.New()
	var (
		method = http.MethodPost
		query  string
		body   []byte
		ctype  = "application/json"
		err    error
	)
	now := time.Now().UTC()
	switch fn {
	case "create-payment":
		body = []byte(`{"userId":"` + user.String() + `","accountNumber":"40817810099910004312","amount":"1.00","description":"read-only"}`)
	case "get-payment":
		method, query = http.MethodGet, "?id="+id.String()+"&userId="+user.String()
	case "process-payment":
		ctype = "application/cloudevents+json"
		body, err = json.Marshal(functest.Signed(events.Created(payment.Payment{ID: id, UserID: user, AccountNumber: "40817810099910004312",
			Amount: 100, Description: "read-only", State: payment.Pending, Created: now})))
	case "apply-result":
		ctype = "application/cloudevents+json"
		body, err = json.Marshal(functest.Signed(events.Processed(payment.Result{PaymentID: id, Success: true, Details: "ok", Processed: now})))
	case "relay-outbox":
		ctype = ""
	default:
		tb.Fatalf("no probe request for function %s", fn)
	}
	if err != nil {
		tb.Fatal(err)
	}
	req, err := http.NewRequest(method, base+query, bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	return req
}

// MustServeReadOnly is the read-only root check for one built function: started in
// readOnlySandbox, it must answer a burst of valid requests with 503 (they get past the input
// checks to Postgres or Kafka, which are unreachable here), stay up, and never meet a read-only
// file system. What it shows: the function's own code and the template's server write nothing
// outside TMPDIR on these paths (a write elsewhere fails with EROFS, which the function would
// log or answer 500 for), and the binary runs as uid 12000. What it does not: the paths that
// need a live Postgres or Kafka (their clients keep no files either), and of-watchdog, which
// runs in front of the function in the image and is not built here; it writes its lock file
// to /tmp (os.TempDir), which the manifests mount writable. Its peak resident memory must stay
// under half of stack.yml's memory limit.
func MustServeReadOnly(t *testing.T, binary string, fn stack.Function) {
	t.Helper()
	// The event key, readable by the function's uid: the probe events are signed with it.
	if err := os.WriteFile(filepath.Join(filepath.Dir(binary), eventsig.SecretName), []byte(functest.EventKey), 0o644); err != nil {
		t.Fatal(err)
	}
	p, tmp := MustStartReadOnly(t, binary, fn,
		"DATABASE_URL=postgres://payments@127.0.0.1:1/payments?connect_timeout=1",
		"KAFKA_BROKERS=127.0.0.1:1", "OPENFAAS_SECRETS_DIR="+filepath.Dir(binary),
		"PAYMENT_PROVIDER_MIN_DELAY=0s", "PAYMENT_PROVIDER_MAX_DELAY=0s")
	client := &http.Client{Timeout: 30 * time.Second}
	// All at once: one round, so that process-payment, whose publish waits out Sarama's retries
	// against the unreachable broker (about 18 s), is waited for once.
	const requests, concurrency = 50, 50
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		counts = map[int]int{}
		failed error
	)
	for range concurrency {
		wg.Go(func() {
			for range requests / concurrency {
				resp, err := client.Do(probeRequest(t, fn.Name, "http://"+p.addr+"/"))
				mu.Lock()
				if err != nil {
					failed = err
				} else {
					counts[resp.StatusCode]++
					resp.Body.Close()
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	select {
	case <-p.done:
		t.Fatalf("the function exited during the requests: %v\n%s", p.err, p.output.String())
	default:
	}
	peak := peakRSS(t, p.cmd.Process.Pid)
	_ = p.cmd.Process.Signal(os.Interrupt)
	p.MustExit(t)
	out := p.output.String()
	if failed != nil {
		t.Errorf("a request failed: %v", failed)
	}
	if counts[http.StatusServiceUnavailable] != requests {
		t.Errorf("answers by status %v, want %d times 503 (Postgres or Kafka unreachable)\n%s", counts, requests, out)
	}
	if strings.Contains(strings.ToLower(out), "read-only file system") {
		t.Errorf("the function met the read-only root:\n%s", out)
	}
	written, _ := os.ReadDir(tmp)
	limit, err := memoryBytes(fn.Limits.Memory)
	if err != nil {
		t.Fatal(err)
	}
	if peak*2 > limit {
		t.Errorf("peak RSS %.1f MB is more than half of stack.yml's limit %s", float64(peak)/1e6, fn.Limits.Memory)
	}
	t.Logf("%s on a read-only root as uid %d: %d requests, answers %v, peak RSS %.1f MB (limit %s), %d entries written to TMPDIR",
		fn.Name, functionUID, requests, counts, float64(peak)/1e6, fn.Limits.Memory, len(written))
}

// memoryBytes reads the binary-suffixed quantities stack.yml uses ("64Mi", "1Gi").
func memoryBytes(q string) (int64, error) {
	for suffix, shift := range map[string]uint{"Ki": 10, "Mi": 20, "Gi": 30} {
		if num, ok := strings.CutSuffix(q, suffix); ok {
			n, err := strconv.ParseInt(num, 10, 64)
			return n << shift, err
		}
	}
	return 0, fmt.Errorf("memory %q: want Ki, Mi or Gi", q)
}
