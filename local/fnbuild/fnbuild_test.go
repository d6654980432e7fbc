package fnbuild_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"handler/function/local/fnbuild"
	"handler/function/local/stack"
)

// repoRoot is this repository, whose go.mod and go.sum the stub project borrows.
var repoRoot = filepath.Join("..", "..")

// waitLimit bounds every wait for something a loaded machine may be slow to do.
const waitLimit = 60 * time.Second

// MustStubRepo copies testdata/stubrepo, a one-function project laid out like
// this repository, to a temporary folder and gives it a go.mod requiring the
// templates SDK at the version this repository uses.
func MustStubRepo(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("testdata", "stubrepo"))); err != nil {
		tb.Fatal(err)
	}
	rootMod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		tb.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*(?:require\s+)?github\.com/openfaas/templates-sdk/go-http\s+(\S+)`).FindSubmatch(rootMod)
	if m == nil {
		tb.Fatal("the repository's go.mod does not require github.com/openfaas/templates-sdk/go-http")
	}
	gomod := "// Like the repository's: the module path the template gives the function folder.\n" +
		"module handler/function\n\ngo 1.26.0\n\nrequire github.com/openfaas/templates-sdk/go-http " + string(m[1]) + "\n"
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		tb.Fatal(err)
	}
	sum, err := os.ReadFile(filepath.Join(repoRoot, "go.sum"))
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// MustLoadStack reads dir/stack.yml.
func MustLoadStack(tb testing.TB, dir string) *stack.Stack {
	tb.Helper()
	st, err := stack.Load(filepath.Join(dir, "stack.yml"))
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

// MustFreeAddr returns a loopback address no one listened on a moment ago.
func MustFreeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		tb.Fatal(err)
	}
	return addr
}

// testContext is cancelled a little before the test binary's deadline, so a
// slow go command fails with its output instead of a panic.
func testContext(t *testing.T) context.Context {
	ctx := t.Context()
	if deadline, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-30*time.Second))
		t.Cleanup(cancel)
	}
	return ctx
}

// functionProcess is a running function binary.
type functionProcess struct {
	cmd    *exec.Cmd
	addr   string
	output bytes.Buffer // read only after done is closed
	done   chan struct{}
	err    error // of Wait, set before done is closed
}

// MustStartFunction starts binary listening on a free port and waits until it
// accepts connections. The process is killed at cleanup if it is still running.
func MustStartFunction(tb testing.TB, binary string, env ...string) *functionProcess {
	tb.Helper()
	return MustStartCommand(tb, exec.Command(binary), env...)
}

// MustStartCommand starts cmd, which runs a function binary, as MustStartFunction does.
func MustStartCommand(tb testing.TB, cmd *exec.Cmd, env ...string) *functionProcess {
	tb.Helper()
	p := &functionProcess{addr: MustFreeAddr(tb), done: make(chan struct{}), cmd: cmd}
	p.cmd.Env = append(os.Environ(), append(env, "FUNCTION_LISTEN_ADDR="+p.addr)...)
	p.cmd.Stdout = &p.output
	p.cmd.Stderr = &p.output
	if err := p.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	tb.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})

	deadline := time.Now().Add(waitLimit)
	for {
		conn, err := net.Dial("tcp", p.addr)
		if err == nil {
			conn.Close()
			return p
		}
		select {
		case <-p.done:
			tb.Fatalf("function exited before listening: %v\n%s", p.err, p.output.String())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("function did not listen on %s within %s", p.addr, waitLimit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// MustExit waits for the process to end and returns its exit code.
func (p *functionProcess) MustExit(tb testing.TB) int {
	tb.Helper()
	select {
	case <-p.done:
	case <-time.After(waitLimit):
		tb.Fatalf("function still running %s after it was told to stop", waitLimit)
	}
	var exitErr *exec.ExitError
	if p.err != nil && !errors.As(p.err, &exitErr) {
		tb.Fatal(p.err)
	}
	return p.cmd.ProcessState.ExitCode()
}

func TestAssembleLayout(t *testing.T) {
	repo := MustStubRepo(t)
	// faas-cli leaves a handler's build/ and template/ folders out.
	for _, skipped := range []string{"build", "template"} {
		if err := os.MkdirAll(filepath.Join(repo, "functions", "echo", skipped), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(repo, "functions", "echo", skipped, "x.txt"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dst := filepath.Join(t.TempDir(), "build", "echo")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dst, "stale.go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}

	if err := fnbuild.Assemble(repo, MustLoadStack(t, repo), "echo", dst); err != nil {
		t.Fatal(err)
	}

	for _, present := range []string{
		"main.go", "go.mod", "go.sum",
		"function/handler.go", "function/handler_test.go",
		"function/functions/pkg/greeting/greeting.go",
	} {
		if _, err := os.Stat(filepath.Join(dst, present)); err != nil {
			t.Errorf("want %s in the context: %v", present, err)
		}
	}
	for _, absent := range []string{"stale.go", "function/go.mod", "function/go.sum", "function/build", "function/template"} {
		if _, err := os.Stat(filepath.Join(dst, absent)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("want no %s in the context, stat says %v", absent, err)
		}
	}
	gomod, err := os.ReadFile(filepath.Join(dst, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"module handler\n", "\nreplace handler/function => ./function\n", "github.com/openfaas/templates-sdk/go-http"} {
		if !strings.Contains(string(gomod), want) {
			t.Errorf("go.mod lacks %q:\n%s", want, gomod)
		}
	}
	if strings.Contains(string(gomod), "module handler/function") {
		t.Errorf("go.mod still declares handler/function:\n%s", gomod)
	}
	wantSum, err := os.ReadFile(filepath.Join(repo, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	if gotSum, err := os.ReadFile(filepath.Join(dst, "go.sum")); err != nil || !bytes.Equal(gotSum, wantSum) {
		t.Errorf("go.sum is not the project's (err %v)", err)
	}
}

func TestAssembleKeepsTemplateModuleWithoutFunctionGoMod(t *testing.T) {
	repo := MustStubRepo(t)
	st := MustLoadStack(t, repo)
	st.Configuration.Copy = []string{"./functions/pkg"}
	dst := filepath.Join(t.TempDir(), "echo")

	if err := fnbuild.Assemble(repo, st, "echo", dst); err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile(filepath.Join(dst, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(gomod), "module handler\n") || strings.Contains(string(gomod), "replace") {
		t.Errorf("want the template's go.mod, got:\n%s", gomod)
	}
}

func TestAssembleRejects(t *testing.T) {
	repo := MustStubRepo(t)
	tests := []struct {
		name  string
		edit  func(*stack.Stack)
		fn    string
		dst   string
		match string
	}{
		{name: "unknown function", fn: "nope", match: "no such function"},
		{name: "another lang", fn: "echo", match: "only golang-http", edit: func(st *stack.Stack) {
			fn := st.Functions["echo"]
			fn.Lang = "node20"
			st.Functions["echo"] = fn
		}},
		{name: "copy outside the project", fn: "echo", match: "outside the project", edit: func(st *stack.Stack) {
			st.Configuration.Copy = append(st.Configuration.Copy, "../elsewhere")
		}},
		{name: "copy of the whole project", fn: "echo", match: "whole project", edit: func(st *stack.Stack) {
			st.Configuration.Copy = append(st.Configuration.Copy, ".")
		}},
		{name: "destination is the project", fn: "echo", dst: repo, match: "overlaps"},
		{name: "destination inside a copied folder", fn: "echo", dst: filepath.Join(repo, "functions", "pkg", "out"), match: "overlaps"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := MustLoadStack(t, repo)
			if tt.edit != nil {
				tt.edit(st)
			}
			dst := tt.dst
			if dst == "" {
				dst = filepath.Join(t.TempDir(), "ctx")
			}
			err := fnbuild.Assemble(repo, st, tt.fn, dst)
			if err == nil || !strings.Contains(err.Error(), tt.match) {
				t.Fatalf("Assemble error = %v, want one containing %q", err, tt.match)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(repo, "functions", "echo", "handler.go")); err != nil {
		t.Fatalf("the project was damaged: %v", err)
	}
}

// TestStubFunctionEndToEnd builds the stub function as the local runner would,
// checks it as the image build would, and talks to the running binary.
func TestStubFunctionEndToEnd(t *testing.T) {
	ctx := testContext(t)
	repo := MustStubRepo(t)
	workDir := t.TempDir()

	binaries, err := fnbuild.BuildAll(ctx, repo, MustLoadStack(t, repo), workDir)
	if err != nil {
		t.Fatal(err)
	}
	binary := binaries["echo"]
	if binary != filepath.Join(workDir, "bin", "echo") {
		t.Fatalf("binaries = %v, want echo at %s", binaries, filepath.Join(workDir, "bin", "echo"))
	}
	contextDir := filepath.Join(workDir, "build", "echo")
	if err := fnbuild.Check(ctx, contextDir); err != nil {
		t.Fatal(err)
	}
	// Check vets only the function, as the image build tests only the function;
	// the adapter main is vetted here.
	vet := exec.CommandContext(ctx, "go", "vet", ".")
	vet.Dir = contextDir
	vet.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off", "CGO_ENABLED=0")
	if out, err := vet.CombinedOutput(); err != nil {
		t.Fatalf("go vet of the adapter: %v\n%s", err, out)
	}

	p := MustStartFunction(t, binary, "write_timeout=30s")
	base := "http://" + p.addr

	t.Run("request reaches the function and the response comes back", func(t *testing.T) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, base+"/any/path?x=1&y=two", strings.NewReader("hello"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "text/plain")
		res, body := mustDo(t, req)
		if res.StatusCode != http.StatusCreated {
			t.Errorf("status = %d, want 201", res.StatusCode)
		}
		if string(body) != "echo: hello" {
			t.Errorf("body = %q, want %q", body, "echo: hello")
		}
		for header, want := range map[string]string{
			"X-Echo-Method":       http.MethodPut,
			"X-Echo-Query":        "x=1&y=two",
			"X-Echo-Host":         p.addr,
			"X-Echo-Content-Type": "text/plain",
			"X-Echo-Context":      "yes",
		} {
			if got := res.Header.Get(header); got != want {
				t.Errorf("%s = %q, want %q", header, got, want)
			}
		}
	})

	t.Run("an error is a 500 with the function's body", func(t *testing.T) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/?fail=1", nil)
		if err != nil {
			t.Fatal(err)
		}
		res, body := mustDo(t, req)
		if res.StatusCode != http.StatusInternalServerError {
			t.Errorf("status = %d, want 500", res.StatusCode)
		}
		if string(body) != "it broke" {
			t.Errorf("body = %q, want %q", body, "it broke")
		}
	})

	t.Run("SIGTERM drains the request in flight and exits 0", func(t *testing.T) {
		holdDir := t.TempDir()
		type result struct {
			status int
			body   string
			err    error
		}
		inFlight := make(chan result, 1)
		go func() {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/?hold="+holdDir, strings.NewReader("late"))
			if err != nil {
				inFlight <- result{err: err}
				return
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				inFlight <- result{err: err}
				return
			}
			defer res.Body.Close()
			body, err := io.ReadAll(res.Body)
			inFlight <- result{status: res.StatusCode, body: string(body), err: err}
		}()
		waitFor(t, "the held request to reach the function", func() bool {
			_, err := os.Stat(filepath.Join(holdDir, "started"))
			return err == nil
		})

		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the function to stop accepting connections", func() bool {
			conn, err := net.Dial("tcp", p.addr)
			if err != nil {
				return true
			}
			conn.Close()
			return false
		})
		select {
		case r := <-inFlight:
			t.Fatalf("the held request ended before it was released: %+v", r)
		case <-p.done:
			t.Fatalf("the function exited with a request in flight: %v", p.err)
		default:
		}

		if err := os.WriteFile(filepath.Join(holdDir, "release"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		var r result
		select {
		case r = <-inFlight:
		case <-time.After(waitLimit):
			t.Fatal("the held request did not finish after it was released")
		}
		if r.err != nil || r.status != http.StatusCreated || r.body != "echo: late" {
			t.Errorf("held request = %+v, want 201 %q", r, "echo: late")
		}
		if code := p.MustExit(t); code != 0 {
			t.Errorf("exit code = %d, want 0\n%s", code, p.output.String())
		}
	})
}

func TestCheckReportsToolOutput(t *testing.T) {
	ctx := testContext(t)
	repo := MustStubRepo(t)
	contextDir := filepath.Join(t.TempDir(), "echo")
	if err := fnbuild.Assemble(repo, MustLoadStack(t, repo), "echo", contextDir); err != nil {
		t.Fatal(err)
	}

	unformatted := filepath.Join(contextDir, "function", "functions", "pkg", "greeting", "extra.go")
	if err := os.WriteFile(unformatted, []byte("package greeting\nfunc   Extra() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := fnbuild.Check(ctx, contextDir)
	if err == nil || !strings.Contains(err.Error(), "gofmt") || !strings.Contains(err.Error(), "extra.go") {
		t.Fatalf("Check with an unformatted file: %v", err)
	}
	if err := os.Remove(unformatted); err != nil {
		t.Fatal(err)
	}

	failing := "package function\n\nimport \"testing\"\n\nfunc TestFails(t *testing.T) { t.Fatal(\"deliberate failure\") }\n"
	if err := os.WriteFile(filepath.Join(contextDir, "function", "fail_test.go"), []byte(failing), 0o644); err != nil {
		t.Fatal(err)
	}
	err = fnbuild.Check(ctx, contextDir)
	if err == nil || !strings.Contains(err.Error(), "deliberate failure") {
		t.Fatalf("Check with a failing test: %v", err)
	}
}

func mustDo(tb testing.TB, req *http.Request) (*http.Response, []byte) {
	tb.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return res, body
}

// waitFor polls cond until it holds, failing the test after waitLimit.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("gave up waiting for %s after %s", what, waitLimit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
