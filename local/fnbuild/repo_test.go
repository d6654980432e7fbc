package fnbuild_test

import (
	"os"
	"path/filepath"
	"testing"

	"handler/function/local/fnbuild"
)

// TestRepositoryFunctionsBuild is the build context test: every function of the
// repository's stack.yml must assemble as faas-cli would, pass the checks the
// template's Dockerfile runs (gofmt, go vet, go test without Postgres or Kafka)
// and compile. Functions are done one after another: each go command already
// uses every core.
func TestRepositoryFunctionsBuild(t *testing.T) {
	ctx := testContext(t)
	st := MustLoadStack(t, repoRoot)
	work := t.TempDir()
	for _, fn := range st.Sorted() {
		t.Run(fn.Name, func(t *testing.T) {
			contextDir := filepath.Join(work, "build", fn.Name)
			if err := fnbuild.Assemble(repoRoot, st, fn.Name, contextDir); err != nil {
				t.Fatal(err)
			}
			if err := fnbuild.Check(ctx, contextDir); err != nil {
				t.Fatal(err)
			}
			binary := filepath.Join(work, "bin", fn.Name)
			if err := fnbuild.Build(ctx, contextDir, binary); err != nil {
				t.Fatal(err)
			}
			info, err := os.Stat(binary)
			if err != nil {
				t.Fatal(err)
			}
			if info.Mode().Perm()&0o100 == 0 {
				t.Errorf("%s is not executable: %v", binary, info.Mode())
			}
			MustServeReadOnly(t, binary, fn)
		})
	}
}
