//go:build integration

package runner_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"handler/function/local/testenv"
)

// docBlock is one sh block of a doc and the terminal its first line names.
type docBlock struct {
	terminal int
	title    string // the first line, the terminal's comment
	text     string
}

var terminalLine = regexp.MustCompile(`^# Terminal (\d+)`)

// MustDocBlocks returns the sh blocks of a doc in order; each must name its
// terminal on its first line, so a reader knows where to run it.
func MustDocBlocks(tb testing.TB, path string) []docBlock {
	tb.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var blocks []docBlock
	rest := string(raw)
	for {
		start := strings.Index(rest, "```sh\n")
		if start < 0 {
			return blocks
		}
		rest = rest[start+len("```sh\n"):]
		end := strings.Index(rest, "```\n")
		if end < 0 {
			tb.Fatalf("%s: unterminated sh block", path)
		}
		text := rest[:end]
		rest = rest[end:]
		first, _, _ := strings.Cut(text, "\n")
		m := terminalLine.FindStringSubmatch(first)
		if m == nil {
			tb.Fatalf("%s: a block does not say its terminal on its first line (# Terminal N …):\n%s", path, text)
		}
		var n int
		fmt.Sscan(m[1], &n)
		blocks = append(blocks, docBlock{terminal: n, title: first, text: text})
	}
}

// shell is one terminal: a bash that keeps its variables and functions
// between blocks, as a terminal does.
type shell struct {
	cmd   *exec.Cmd
	in    *os.File
	lines chan string
	n     int
}

func mustShell(t *testing.T, dir string, env []string) *shell {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "--noprofile", "--norc")
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, w, w
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	sh := &shell{cmd: cmd, in: in.(*os.File), lines: make(chan string, 1024)}
	go func() {
		defer close(sh.lines)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			sh.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() { in.Close(); cmd.Process.Kill(); cmd.Wait() })
	return sh
}

// run types the block into the shell and returns its output and the status
// of its last command.
func (sh *shell) run(t *testing.T, block string) (string, string) {
	t.Helper()
	sh.n++
	marker := fmt.Sprintf("__block_%d_done__", sh.n)
	if _, err := fmt.Fprintf(sh.in, "%s\necho %s $?\n", block, marker); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	timeout := time.After(5 * time.Minute)
	for {
		select {
		case line, ok := <-sh.lines:
			if !ok {
				t.Fatalf("the shell exited during:\n%s\noutput:\n%s", block, out.String())
			}
			if status, done := strings.CutPrefix(line, marker+" "); done {
				return out.String(), status
			}
			out.WriteString(line + "\n")
		case <-timeout:
			t.Fatalf("block still running after 5 minutes:\n%s\noutput so far:\n%s", block, out.String())
		}
	}
}

// background is a terminal running one long command (a replica).
type background struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan error
}

func mustBackground(t *testing.T, dir string, env []string, block string) *background {
	t.Helper()
	b := &background{out: &syncBuffer{}, done: make(chan error, 1)}
	b.cmd = exec.Command("bash", "-c", block)
	b.cmd.Dir, b.cmd.Env, b.cmd.Stdout, b.cmd.Stderr = dir, env, b.out, b.out
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { b.done <- b.cmd.Wait() }()
	t.Cleanup(b.stop)
	deadline := time.After(5 * time.Minute)
	for !strings.Contains(b.out.String(), "is running") {
		select {
		case err := <-b.done:
			b.done <- err
			t.Fatalf("%s\nstopped before it was running: %v\n%s", block, err, b.out.String())
		case <-deadline:
			t.Fatalf("%s\nnot running after 5 minutes:\n%s", block, b.out.String())
		case <-time.After(200 * time.Millisecond):
		}
	}
	return b
}

// stop is Ctrl-C in the terminal.
func (b *background) stop() {
	syscall.Kill(-b.cmd.Process.Pid, syscall.SIGINT)
	err := <-b.done
	b.done <- err
}

// runExperiments runs every block of docs/experiments.md that needs no real
// Kafka, as written, against the fixture's stack: it plays terminal 2 (the
// stack); terminal 1 (the real cluster) is what make test-kafka covers, and
// a block whose title says "not run by the test" is left out (killing a
// replica by name: TestServerless kills one by its process).
// Only the folder, the replicas' ports and the number of payments are
// changed: .local is the fixture's state folder, which must not be the
// repository's own, and no test may take the default ports.
func (f *fixture) runExperiments(t *testing.T) {
	blocks := MustDocBlocks(t, filepath.Join(f.root, "docs", "experiments.md"))
	if out, err := exec.Command("go", "build", "-o", filepath.Join(f.state, "local"), filepath.Join(f.root, "local")).CombinedOutput(); err != nil {
		t.Fatalf("build .local/local: %v\n%s", err, out)
	}
	rewrite := strings.NewReplacer(
		".local/", f.state+"/",
		"127.0.0.1:8081", fmt.Sprintf("127.0.0.1:%d", testenv.MustFreePort(t)),
		"127.0.0.1:8082", fmt.Sprintf("127.0.0.1:%d", testenv.MustFreePort(t)),
		"make_payments 600", "make_payments 60",
		"$(seq 12)", "$(seq 2)",
	)
	// The replicas' provider is as quick as the fixture's.
	env := append(cleanEnv(), "PAYMENT_PROVIDER_MIN_DELAY=0", "PAYMENT_PROVIDER_MAX_DELAY=1s")
	work := mustShell(t, f.root, env)
	replicas := map[int]*background{}
	stopped := regexp.MustCompile(`after Ctrl-C in terminals? ([\d and]+)`)
	ran := 0
	for _, b := range blocks {
		text := rewrite.Replace(b.text)
		switch {
		case b.terminal <= 2:
			continue // the real cluster, and the stack the fixture runs
		case strings.Contains(b.title, "not run by the test"):
			t.Logf("left out, as its title says: %s", b.title)
			continue
		case b.terminal == 4 || b.terminal == 5:
			replicas[b.terminal] = mustBackground(t, f.root, env, text)
		case b.terminal == 6:
			// A watcher that runs until Ctrl-C: let it run a moment.
			out, err := exec.Command("timeout", "3", "bash", "-c", text).CombinedOutput()
			if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode() != 124) {
				t.Fatalf("%s\nfailed: %v\n%s", b.title, err, out)
			}
		default:
			if m := stopped.FindStringSubmatch(b.title); m != nil {
				for _, field := range strings.Fields(m[1]) {
					var n int
					if _, err := fmt.Sscan(field, &n); err == nil && replicas[n] != nil {
						replicas[n].stop()
					}
				}
			}
			out, status := work.run(t, text)
			for try := 0; try < 30 && !expectation(b.title)(out); try++ {
				time.Sleep(time.Second) // a rebalance takes a moment, as the doc says
				out, status = work.run(t, text)
			}
			if status != "0" || !expectation(b.title)(out) {
				t.Fatalf("%s\nended %s with output:\n%s", b.title, status, out)
			}
		}
		t.Logf("ran %s", b.title)
		ran++
	}
	if ran < 10 {
		t.Fatalf("ran %d blocks of experiments.md, want the dozen that need no real Kafka", ran)
	}
}

// expectation says what a block's output must show, by the block's title.
func expectation(title string) func(string) bool {
	contains := func(want ...string) func(string) bool {
		return func(out string) bool {
			for _, w := range want {
				if !strings.Contains(out, w) {
					return false
				}
			}
			return true
		}
	}
	switch {
	case strings.Contains(title, "the topic's partitions"):
		return contains("3 brokers:", `topic "payments" with 3 partitions`)
	case strings.Contains(title, "make_payments N"):
		return contains("201\n201\n201\n")
	case strings.Contains(title, "once a second"):
		return contains("3 brokers:", "partition 0, leader")
	case strings.Contains(title, "wait for the stream, then count"), strings.Contains(title, "every payment final"):
		return func(out string) bool {
			lines := strings.Split(strings.TrimSpace(out), "\n")
			for _, l := range lines {
				// sort | uniq -c of the statuses: only 201s.
				if f := strings.Fields(l); len(f) == 2 && len(f[1]) == 3 && f[1] != "201" && strings.Trim(f[1], "0123456789") == "" {
					return false
				}
			}
			return strings.Contains(out, " 201\n") && lines[len(lines)-1] == "0"
		}
	case strings.Contains(title, "consumer groups of the stack's Kafka"):
		return contains("consumer group process-payment: Stable, 1 member(s)")
	case strings.Contains(title, "the group after the joins"):
		return contains("consumer group process-payment: Stable, 3 member(s)", "consumer group apply-result: Stable, 3 member(s)")
	case strings.Contains(title, "events waiting for Kafka"):
		return contains("waiting")
	case strings.Contains(title, "in the gateway's metrics"):
		return contains(`gateway_service_count{function_name="process-payment"}`)
	case strings.Contains(title, "process-payment to 3 replicas"):
		return contains("202\n400\n")
	case strings.Contains(title, "apply-result to zero by hand"):
		return contains("202\n201\n", `gateway_function_cold_start_seconds_count{function_name="apply-result"}`)
	}
	return func(string) bool { return true }
}
