package greeting

import "testing"

func TestPrefix(t *testing.T) {
	if Prefix() != "echo: " {
		t.Fatalf("Prefix() = %q", Prefix())
	}
}
