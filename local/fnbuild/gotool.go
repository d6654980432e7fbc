package fnbuild

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/format"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Build compiles the main package at the root of contextDir to output, as the
// template's Dockerfile does (without its -a, which only defeats the cache).
func Build(ctx context.Context, contextDir, output string) error {
	out, err := filepath.Abs(output)
	if err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	return runGo(ctx, contextDir, "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
}

// Check runs, in contextDir, what the template's Dockerfile runs before it
// builds: the gofmt check over every .go file, then go vet and go test -cover
// inside function/. Like the image build, the tests see no DATABASE_URL,
// KAFKA_BROKERS or other settings of the caller's environment (see goEnv).
func Check(ctx context.Context, contextDir string) error {
	if err := checkFormat(contextDir); err != nil {
		return err
	}
	fnDir := filepath.Join(contextDir, functionDir)
	if err := runGo(ctx, fnDir, "vet", "-trimpath", "./..."); err != nil {
		return err
	}
	return runGo(ctx, fnDir, "test", "-trimpath", "-cover", "./...")
}

// checkFormat is the Dockerfile's `test -z "$(gofmt -l ...)"`: every .go file
// outside vendor/ and function/vendor/ must be gofmt-clean.
func checkFormat(contextDir string) error {
	skip := []string{
		filepath.Join(contextDir, "vendor"),
		filepath.Join(contextDir, functionDir, "vendor"),
	}
	var unformatted []string
	var errs []error
	err := filepath.WalkDir(contextDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if slices.Contains(skip, path) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || !d.Type().IsRegular() {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(contextDir, path)
		formatted, err := format.Source(src)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", rel, err))
			return nil
		}
		if !bytes.Equal(src, formatted) {
			unformatted = append(unformatted, rel)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("gofmt check: %w", err)
	}
	if len(unformatted) > 0 {
		errs = append(errs, fmt.Errorf("not gofmt-clean (run gofmt -w): %s", strings.Join(unformatted, ", ")))
	}
	if len(errs) > 0 {
		return fmt.Errorf("gofmt check: %w", errors.Join(errs...))
	}
	return nil
}

// The go commands run with -trimpath: without it the build and test caches are
// keyed on each context's folder, and the shared packages, identical in every
// context, would be compiled and tested again for each function.

// runGo runs the go command in dir and returns an error carrying its output.
func runGo(ctx context.Context, dir string, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = goEnv(os.Environ())
	setProcessGroup(cmd)
	// go test and go build leave children (compilers, test binaries) that
	// would hold the output pipe open after a cancelled go command is killed.
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go %s in %s: %w\n%s", args[0], dir, err, bytes.TrimSpace(out))
	}
	return nil
}

// passedEnv names the caller's variables the go command may see: where its
// caches and toolchain are, and how it reaches the module proxy. Everything
// else stays out so tests run as in the image build, where no database or
// broker address is set.
var passedEnv = []string{
	"PATH", "HOME", "USER", "TMPDIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME",
	"GOROOT", "GOPATH", "GOCACHE", "GOMODCACHE", "GOENV", "GOTMPDIR", "GOTOOLCHAIN",
	"GOPROXY", "GONOPROXY", "GOPRIVATE", "GOSUMDB", "GONOSUMDB", "GOINSECURE", "GOVCS", "GOAUTH",
	"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
	"SSL_CERT_FILE", "SSL_CERT_DIR",
}

// goEnv builds the go command's environment from the caller's: passedEnv,
// plus a native, cgo-free build (the image's CGO_ENABLED=0) that may fetch
// missing modules and ignores any go.work above the context.
func goEnv(environ []string) []string {
	env := make([]string, 0, len(passedEnv)+4)
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if slices.Contains(passedEnv, name) {
			env = append(env, kv)
		}
	}
	return append(env, "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOWORK=off")
}
