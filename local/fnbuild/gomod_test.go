package fnbuild

import (
	"bytes"
	"go/format"
	"slices"
	"testing"
)

func TestRewriteGoMod(t *testing.T) {
	const tail = "\nreplace handler/function => ./function\n"
	tests := []struct {
		name string
		in   string
		want string
	}{
		{
			name: "module line replaced by module handler",
			in:   "module handler/function\n\ngo 1.26.0\n\nrequire gopkg.in/yaml.v3 v3.0.1\n",
			want: "module handler\n\n\ngo 1.26.0\n\nrequire gopkg.in/yaml.v3 v3.0.1\n" + tail,
		},
		{
			name: "comments naming the module after a space are dropped like grep does",
			in: "// The module path is \"handler/function\" on purpose:\n" +
				"// handler/function/functions/pkg resolves the same way.\n" +
				"module handler/function\n\ngo 1.26.0\n",
			want: "module handler\n\n// The module path is \"handler/function\" on purpose:\n\ngo 1.26.0\n" + tail,
		},
		{
			name: "local replaces point into the function folder",
			in: "module handler/function\n\ngo 1.26.0\n\n" +
				"replace example.com/lib => ./lib\n" +
				"replace (\n\texample.com/a => ./third_party/a\n\texample.com/b => ../b\n\texample.com/c v1.0.0 => example.com/d v1.1.0\n)\n",
			want: "module handler\n\n\ngo 1.26.0\n\n" +
				"replace example.com/lib => ./function/lib\n" +
				"replace (\n\texample.com/a => ./function/third_party/a\n\texample.com/b => ../b\n\texample.com/c v1.0.0 => example.com/d v1.1.0\n)\n" + tail,
		},
		{
			name: "require and replace of handler/function dropped",
			in: "module handler/function\n\ngo 1.26.0\n\n" +
				"require (\n\thandler/function v0.0.0-00010101000000-000000000000\n\tgithub.com/google/uuid v1.6.0\n)\n\n" +
				"replace handler/function => ./\n",
			want: "module handler\n\n\ngo 1.26.0\n\n" +
				"require (\n\tgithub.com/google/uuid v1.6.0\n)\n\n" + tail,
		},
		{
			name: "a module that is not handler/function is renamed in place",
			in:   "module example.com/fn\n\ngo 1.26.0\n",
			want: "module handler\n\ngo 1.26.0\n" + tail,
		},
		{
			name: "missing final newline",
			in:   "module handler/function\n\ngo 1.26.0",
			want: "module handler\n\n\ngo 1.26.0\n" + tail,
		},
		{
			name: "handler/function at the start of a line is kept, as grep keeps it",
			in:   "module m\n\nrequire (\nhandler/function v1.0.0\n)\n",
			want: "module handler\n\nrequire (\nhandler/function v1.0.0\n)\n" + tail,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(rewriteGoMod([]byte(tt.in)))
			if got != tt.want {
				t.Errorf("rewriteGoMod:\n--- got ---\n%s\n--- want ---\n%s", got, tt.want)
			}
		})
	}
}

func TestMentionsFunctionModule(t *testing.T) {
	tests := map[string]bool{
		"module handler/function\n":                 true,
		"\thandler/function v0.0.0\n":               true,
		"replace handler/function => ./\n":          true,
		"require handler/functions v1\n":            true, // grep matches a prefix too
		"handler/function v1\n":                     false,
		"// \"handler/function\" is quoted\n":       false,
		"require example.com/handler/function v1\n": false,
		"": false,
	}
	for line, want := range tests {
		if got := mentionsFunctionModule(line); got != want {
			t.Errorf("mentionsFunctionModule(%q) = %v, want %v", line, got, want)
		}
	}
}

// The adapter is stored as text so it does not compile here; the image build's
// gofmt check would still reject it if it were not gofmt-clean.
func TestTemplateMainIsGofmtClean(t *testing.T) {
	src, err := templateFiles.ReadFile("template/main.go.txt")
	if err != nil {
		t.Fatal(err)
	}
	formatted, err := format.Source(src)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(src, formatted) {
		t.Error("template/main.go.txt is not gofmt-clean")
	}
}

func TestGoEnvKeepsToolSettingsOnly(t *testing.T) {
	env := goEnv([]string{
		"PATH=/usr/bin", "HOME=/root", "GOMODCACHE=/m", "GOPROXY=https://proxy.example",
		"DATABASE_URL=postgres://x", "KAFKA_BROKERS=k:9092", "GOFLAGS=-race", "GOOS=windows",
		"CGO_ENABLED=1", "GOCOVERDIR=/c",
	})
	want := []string{
		"PATH=/usr/bin", "HOME=/root", "GOMODCACHE=/m", "GOPROXY=https://proxy.example",
		"CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOWORK=off",
	}
	if !slices.Equal(env, want) {
		t.Errorf("goEnv = %q, want %q", env, want)
	}
}
