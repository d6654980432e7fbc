// Package fnbuild turns a stack.yml function into a build context and an
// executable the way `faas-cli build` and the golang-http template would, without
// Docker:
//
//   - Assemble lays out the context faas-cli --shrinkwrap writes: the template
//     files at the root, the handler folder in function/, and every
//     configuration.copy path under function/, then applies the template's
//     modules-cleanup.sh to go.mod;
//   - Check runs what the template's Dockerfile runs before compiling: the gofmt
//     check, and go test (plus go vet) inside function/;
//   - Build compiles the context's main package.
//
// The main package is this package's own adapter (template/main.go.txt), which
// serves the function over HTTP as the template's main.go does, on
// FUNCTION_LISTEN_ADDR so the local runner can start many functions side by side.
package fnbuild

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"handler/function/local/stack"
)

// Lang is the only stack.yml lang this package builds.
const Lang = "golang-http"

// templateFiles are written at the root of every build context. The go.mod and
// go.sum are the template's own, used when the function brings none; they and
// main.go are stored as .txt so that they are not part of this module.
//
//go:embed template/main.go.txt template/go.mod.txt template/go.sum.txt
var templateFiles embed.FS

// templateLayout maps each embedded file to its name in a build context.
var templateLayout = map[string]string{
	"template/main.go.txt": "main.go",
	"template/go.mod.txt":  "go.mod",
	"template/go.sum.txt":  "go.sum",
}

// skippedHandlerEntries are the handler folder's top-level entries faas-cli
// leaves out of the build context.
var skippedHandlerEntries = map[string]bool{"build": true, "template": true}

// Assemble writes the build context of function name from the stack st, whose
// stack.yml lives in repoRoot, to dst. Whatever dst held is removed first, as
// faas-cli clears build/<fn>.
func Assemble(repoRoot string, st *stack.Stack, name, dst string) error {
	fn, ok := st.Functions[name]
	if !ok {
		return fmt.Errorf("assemble %s: no such function in the stack", name)
	}
	if fn.Lang != Lang {
		return fmt.Errorf("assemble %s: lang is %q, only %s is supported", name, fn.Lang, Lang)
	}
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		return fmt.Errorf("assemble %s: %w", name, err)
	}
	handlerDir, err := inProject(root, fn.Handler)
	if err != nil {
		return fmt.Errorf("assemble %s: handler: %w", name, err)
	}
	copies := make([]string, 0, len(st.Configuration.Copy))
	for _, p := range st.Configuration.Copy {
		abs, err := inProject(root, p)
		if err != nil {
			return fmt.Errorf("assemble %s: configuration.copy: %w", name, err)
		}
		copies = append(copies, abs)
	}
	dst, err = filepath.Abs(dst)
	if err != nil {
		return fmt.Errorf("assemble %s: %w", name, err)
	}
	// dst is removed below: never let that be the project or a source folder.
	for _, src := range append([]string{handlerDir}, copies...) {
		if within(src, dst) || within(dst, src) {
			return fmt.Errorf("assemble %s: destination %s overlaps %s", name, dst, src)
		}
	}
	if within(dst, root) {
		return fmt.Errorf("assemble %s: destination %s contains the project", name, dst)
	}

	if err := os.RemoveAll(dst); err != nil {
		return fmt.Errorf("assemble %s: clear destination: %w", name, err)
	}
	fnDir := filepath.Join(dst, functionDir)
	if err := os.MkdirAll(fnDir, 0o755); err != nil {
		return fmt.Errorf("assemble %s: %w", name, err)
	}
	if err := writeTemplate(dst); err != nil {
		return fmt.Errorf("assemble %s: %w", name, err)
	}

	entries, err := os.ReadDir(handlerDir)
	if err != nil {
		return fmt.Errorf("assemble %s: read handler: %w", name, err)
	}
	for _, e := range entries {
		if skippedHandlerEntries[e.Name()] {
			continue
		}
		if err := copyPath(filepath.Join(handlerDir, e.Name()), filepath.Join(fnDir, e.Name())); err != nil {
			return fmt.Errorf("assemble %s: handler: %w", name, err)
		}
	}
	for _, src := range copies {
		rel, err := filepath.Rel(root, src)
		if err != nil {
			return fmt.Errorf("assemble %s: %w", name, err)
		}
		if err := copyPath(src, filepath.Join(fnDir, rel)); err != nil {
			return fmt.Errorf("assemble %s: configuration.copy: %w", name, err)
		}
	}

	if err := cleanupModules(dst); err != nil {
		return fmt.Errorf("assemble %s: %w", name, err)
	}
	return nil
}

// inProject resolves a stack.yml path against root and refuses, as faas-cli
// does, one that is the project itself or lies outside it.
func inProject(root, p string) (string, error) {
	abs := filepath.Join(root, filepath.FromSlash(p))
	if filepath.IsAbs(filepath.FromSlash(p)) {
		abs = filepath.Clean(filepath.FromSlash(p))
	}
	if abs == root {
		return "", fmt.Errorf("path %q is the whole project", p)
	}
	if !within(root, abs) {
		return "", fmt.Errorf("path %q is outside the project", p)
	}
	if _, err := os.Stat(abs); err != nil {
		return "", fmt.Errorf("path %q: %w", p, err)
	}
	return abs, nil
}

// within reports whether path is dir or lies below it; both must be clean and absolute.
func within(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

func writeTemplate(dst string) error {
	for src, name := range templateLayout {
		data, err := templateFiles.ReadFile(src)
		if err != nil {
			return fmt.Errorf("read embedded %s: %w", src, err)
		}
		if err := os.WriteFile(filepath.Join(dst, name), data, 0o644); err != nil {
			return fmt.Errorf("write template: %w", err)
		}
	}
	return nil
}

// cleanupModules does what the template's modules-cleanup.sh does with a
// function that has its own go.mod: that go.mod and its go.sum replace the
// template's, rewritten by rewriteGoMod. Without a function go.mod the
// template's go.mod stays, as in the script.
func cleanupModules(dst string) error {
	fnDir := filepath.Join(dst, functionDir)
	if _, err := os.Stat(filepath.Join(fnDir, "vendor")); err == nil {
		// The script would move it up and patch vendor/modules.txt; nothing
		// here vendors, so rather than half-support it, say so.
		return errors.New("modules cleanup: a vendor folder in the function is not supported")
	}
	gomod, err := os.ReadFile(filepath.Join(fnDir, "go.mod"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("modules cleanup: %w", err)
	}
	// The script moves go.sum with set -e: a go.mod without a go.sum fails the build.
	if err := os.Rename(filepath.Join(fnDir, "go.sum"), filepath.Join(dst, "go.sum")); err != nil {
		return fmt.Errorf("modules cleanup: move go.sum: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dst, "go.mod"), rewriteGoMod(gomod), 0o644); err != nil {
		return fmt.Errorf("modules cleanup: %w", err)
	}
	if err := os.Remove(filepath.Join(fnDir, "go.mod")); err != nil {
		return fmt.Errorf("modules cleanup: %w", err)
	}
	return nil
}

// BuildFunction assembles function name into workDir/build/<name> and builds
// it to workDir/bin/<name>, whose path it returns. It does not run Check: that
// runs the function's tests, which the local runner has no need to wait for.
func BuildFunction(ctx context.Context, repoRoot string, st *stack.Stack, name, workDir string) (string, error) {
	contextDir := filepath.Join(workDir, "build", name)
	binary, err := filepath.Abs(filepath.Join(workDir, "bin", name))
	if err != nil {
		return "", fmt.Errorf("build %s: %w", name, err)
	}
	if err := Assemble(repoRoot, st, name, contextDir); err != nil {
		return "", err
	}
	if err := Build(ctx, contextDir, binary); err != nil {
		return "", fmt.Errorf("build %s: %w", name, err)
	}
	return binary, nil
}

// maxParallelBuilds keeps concurrent go builds from starving a small machine;
// each go build already uses every core.
const maxParallelBuilds = 2

// BuildAll builds every function of st with BuildFunction and returns the
// binaries by function name. It builds what it can and reports every failure,
// in function-name order.
func BuildAll(ctx context.Context, repoRoot string, st *stack.Stack, workDir string) (map[string]string, error) {
	fns := st.Sorted()
	var (
		wg       sync.WaitGroup
		binaries = make([]string, len(fns))
		errs     = make([]error, len(fns))
		slots    = make(chan struct{}, maxParallelBuilds)
	)
	for i, fn := range fns {
		wg.Go(func() {
			select {
			case slots <- struct{}{}:
				defer func() { <-slots }()
			case <-ctx.Done():
				errs[i] = fmt.Errorf("build %s: %w", fn.Name, ctx.Err())
				return
			}
			binaries[i], errs[i] = BuildFunction(ctx, repoRoot, st, fn.Name, workDir)
		})
	}
	wg.Wait()
	built := make(map[string]string, len(fns))
	for i, fn := range fns {
		if errs[i] == nil {
			built[fn.Name] = binaries[i]
		}
	}
	return built, errors.Join(errs...)
}
