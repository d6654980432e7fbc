package runner_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// MustReadmeBlock returns the first fenced sh block after the heading in the
// README (without its fences).
func MustReadmeBlock(tb testing.TB, heading string) string {
	tb.Helper()
	return MustReadmeBlockN(tb, heading, 1)
}

// MustReadmeBlockN returns the n-th fenced sh block after the heading.
func MustReadmeBlockN(tb testing.TB, heading string, n int) string {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		tb.Fatal(err)
	}
	readme := string(raw)
	i := strings.Index(readme, "\n"+heading+"\n")
	if i < 0 {
		tb.Fatalf("README has no %q", heading)
	}
	rest := readme[i:]
	for k := 1; ; k++ {
		start := strings.Index(rest, "```sh\n")
		if start < 0 {
			tb.Fatalf("fewer than %d sh blocks after %q", n, heading)
		}
		rest = rest[start+len("```sh\n"):]
		end := strings.Index(rest, "```\n")
		if end < 0 {
			tb.Fatalf("unterminated block after %q", heading)
		}
		if k == n {
			return rest[:end]
		}
		rest = rest[end:]
	}
}

// The README shows the walkthrough's commands; the script is what the end-to-end
// test runs. They must be the same lines, so the README cannot rot.
func TestReadmeWalkthroughIsTheTestedScript(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "docs", "follow-one-payment.sh"))
	if err != nil {
		t.Fatal(err)
	}
	const marker = "# --- walkthrough ---\n"
	script := string(raw)
	i := strings.Index(script, marker)
	if i < 0 {
		t.Fatalf("the script has no %q line", strings.TrimSpace(marker))
	}
	if got, want := MustReadmeBlock(t, "## Follow one payment"), script[i+len(marker):]; got != want {
		t.Fatalf("README's walkthrough differs from docs/follow-one-payment.sh:\n--- README\n%s\n--- script\n%s", got, want)
	}
}
