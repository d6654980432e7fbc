package config_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"handler/function/functions/pkg/config"
)

func MustWriteFile(tb testing.TB, path, content string) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
}

// MustKnativeSecret lays out a secret volume the way the kubelet does: the keys
// in a hidden timestamped folder, a hidden ..data link to it, and one visible
// link per key.
func MustKnativeSecret(tb testing.TB, dir, name string, keys map[string]string) {
	tb.Helper()
	volume := filepath.Join(dir, name)
	stamp := filepath.Join(volume, "..2026_11_25_15_04_05.123456789")
	for key, value := range keys {
		MustWriteFile(tb, filepath.Join(stamp, key), value)
	}
	if err := os.Symlink(filepath.Base(stamp), filepath.Join(volume, "..data")); err != nil {
		tb.Fatal(err)
	}
	for key := range keys {
		if err := os.Symlink(filepath.Join("..data", key), filepath.Join(volume, key)); err != nil {
			tb.Fatal(err)
		}
	}
}

func TestString(t *testing.T) {
	env := config.New(config.Map(map[string]string{"SET": "  value  ", "BLANK": "   "}))
	if got := env.String("SET", "def"); got != "value" {
		t.Errorf("String(SET) = %q", got)
	}
	if got := env.String("BLANK", "def"); got != "def" {
		t.Errorf("String(BLANK) = %q, want the default", got)
	}
	if got := env.String("UNSET", "def"); got != "def" {
		t.Errorf("String(UNSET) = %q, want the default", got)
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		value   string
		set     bool
		want    time.Duration
		wantErr bool
	}{
		{set: false, want: 7 * time.Second},
		{value: "", set: true, want: 7 * time.Second},
		{value: "30", set: true, want: 30 * time.Second},
		{value: "0", set: true, want: 0},
		{value: " 45 ", set: true, want: 45 * time.Second},
		{value: "25s", set: true, want: 25 * time.Second},
		{value: "1m30s", set: true, want: 90 * time.Second},
		{value: "250ms", set: true, want: 250 * time.Millisecond},
		{value: "0s", set: true, want: 0},
		{value: "soon", set: true, want: 7 * time.Second, wantErr: true},
		{value: "1.5", set: true, want: 7 * time.Second, wantErr: true},
		{value: "30 s", set: true, want: 7 * time.Second, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			vars := map[string]string{}
			if tt.set {
				vars["TIMEOUT"] = tt.value
			}
			env := config.New(config.Map(vars))
			got := env.Duration("TIMEOUT", 7*time.Second)
			if got != tt.want {
				t.Errorf("Duration = %v, want %v", got, tt.want)
			}
			err := env.Err()
			if tt.wantErr != (err != nil) {
				t.Fatalf("Err() = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "TIMEOUT") {
				t.Errorf("Err() = %v does not name the variable", err)
			}
		})
	}
}

func TestErrCollectsEveryBadValue(t *testing.T) {
	env := config.New(config.Map(map[string]string{"A": "x", "B": "y", "C": "z", "OK": "5s"}))
	env.Duration("A", time.Second)
	env.Float("B", 0.5)
	env.Int("C", 1)
	env.Duration("OK", time.Second)
	err := env.Err()
	if err == nil {
		t.Fatal("Err() = nil")
	}
	for _, name := range []string{"A:", "B:", "C:"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("Err() = %q does not mention %s", err, name)
		}
	}
	if strings.Contains(err.Error(), "OK") {
		t.Errorf("Err() = %q mentions a good value", err)
	}
}

func TestFloatAndInt(t *testing.T) {
	env := config.New(config.Map(map[string]string{"RATE": "0.25", "N": "12"}))
	if got := env.Float("RATE", 0.8); got != 0.25 {
		t.Errorf("Float = %v", got)
	}
	if got := env.Float("UNSET", 0.8); got != 0.8 {
		t.Errorf("Float(unset) = %v", got)
	}
	if got := env.Int("N", 1); got != 12 {
		t.Errorf("Int = %v", got)
	}
	if got := env.Int("UNSET", 3); got != 3 {
		t.Errorf("Int(unset) = %v", got)
	}
	if err := env.Err(); err != nil {
		t.Fatal(err)
	}
}

func TestList(t *testing.T) {
	tests := map[string][]string{
		"a":                 {"a"},
		"a,b":               {"a", "b"},
		" a , b ,, c ,":     {"a", "b", "c"},
		"kafka-0:9092":      {"kafka-0:9092"},
		",":                 nil,
		"   ":               nil,
		"h1:9092, h2:9092 ": {"h1:9092", "h2:9092"},
	}
	for value, want := range tests {
		env := config.New(config.Map(map[string]string{"LIST": value}))
		if got := env.List("LIST"); !slices.Equal(got, want) {
			t.Errorf("List(%q) = %q, want %q", value, got, want)
		}
	}
	if got := config.New(config.Map(nil)).List("LIST"); len(got) != 0 {
		t.Errorf("List(unset) = %q", got)
	}
}

func TestSecret(t *testing.T) {
	t.Run("file", func(t *testing.T) {
		dir := t.TempDir()
		MustWriteFile(t, filepath.Join(dir, "payments-db-url"), "postgres://a@b/c\n")
		env := config.New(config.Map(map[string]string{"OPENFAAS_SECRETS_DIR": dir}))
		if got := env.Secret("payments-db-url"); got != "postgres://a@b/c" {
			t.Fatalf("Secret = %q", got)
		}
		if err := env.Err(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("knative folder with one key", func(t *testing.T) {
		dir := t.TempDir()
		MustKnativeSecret(t, dir, "payments-db-url", map[string]string{"url": "postgres://k@n/ative\n"})
		env := config.New(config.Map(map[string]string{"OPENFAAS_SECRETS_DIR": dir}))
		if got := env.Secret("payments-db-url"); got != "postgres://k@n/ative" {
			t.Fatalf("Secret = %q", got)
		}
		if err := env.Err(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("plain folder with one key", func(t *testing.T) {
		dir := t.TempDir()
		MustWriteFile(t, filepath.Join(dir, "payments-db-url", "value"), "postgres://plain")
		env := config.New(config.Map(map[string]string{"OPENFAAS_SECRETS_DIR": dir}))
		if got := env.Secret("payments-db-url"); got != "postgres://plain" {
			t.Fatalf("Secret = %q", got)
		}
	})
	t.Run("folder with two keys is an error", func(t *testing.T) {
		dir := t.TempDir()
		MustKnativeSecret(t, dir, "payments-db-url", map[string]string{"url": "a", "password": "b"})
		env := config.New(config.Map(map[string]string{"OPENFAAS_SECRETS_DIR": dir}))
		if got := env.Secret("payments-db-url"); got != "" {
			t.Errorf("Secret = %q, want empty", got)
		}
		if err := env.Err(); err == nil || !strings.Contains(err.Error(), "2 keys") || !strings.Contains(err.Error(), "payments-db-url") {
			t.Fatalf("Err() = %v, want an error naming the secret and its 2 keys", err)
		}
	})
	t.Run("empty folder is an error", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Mkdir(filepath.Join(dir, "payments-db-url"), 0o755); err != nil {
			t.Fatal(err)
		}
		env := config.New(config.Map(map[string]string{"OPENFAAS_SECRETS_DIR": dir}))
		env.Secret("payments-db-url")
		if err := env.Err(); err == nil || !strings.Contains(err.Error(), "0 keys") {
			t.Fatalf("Err() = %v, want 0 keys", err)
		}
	})
	t.Run("missing secret is empty and no error", func(t *testing.T) {
		env := config.New(config.Map(map[string]string{"OPENFAAS_SECRETS_DIR": t.TempDir()}))
		if got := env.Secret("payments-db-url"); got != "" {
			t.Fatalf("Secret = %q", got)
		}
		if err := env.Err(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestDatabaseURL(t *testing.T) {
	dir := t.TempDir()
	MustWriteFile(t, filepath.Join(dir, "payments-db-url"), "postgres://from-secret\n")
	empty := t.TempDir()
	tests := []struct {
		name    string
		vars    map[string]string
		want    string
		wantErr bool
	}{
		{name: "environment wins over the secret", vars: map[string]string{"DATABASE_URL": "postgres://from-env", "OPENFAAS_SECRETS_DIR": dir}, want: "postgres://from-env"},
		{name: "secret when the variable is unset", vars: map[string]string{"OPENFAAS_SECRETS_DIR": dir}, want: "postgres://from-secret"},
		{name: "secret when the variable is blank", vars: map[string]string{"DATABASE_URL": " ", "OPENFAAS_SECRETS_DIR": dir}, want: "postgres://from-secret"},
		{name: "neither is an error", vars: map[string]string{"OPENFAAS_SECRETS_DIR": empty}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := config.New(config.Map(tt.vars))
			if got := env.DatabaseURL(); got != tt.want {
				t.Errorf("DatabaseURL = %q, want %q", got, tt.want)
			}
			err := env.Err()
			if tt.wantErr != (err != nil) {
				t.Fatalf("Err() = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "DATABASE_URL") {
				t.Errorf("Err() = %v does not say what is missing", err)
			}
		})
	}
}

func TestBrokers(t *testing.T) {
	env := config.New(config.Map(map[string]string{"KAFKA_BROKERS": "k0:9092,k1:9092"}))
	if got := env.Brokers(); !slices.Equal(got, []string{"k0:9092", "k1:9092"}) || env.Err() != nil {
		t.Fatalf("Brokers = %q, %v", got, env.Err())
	}
	missing := config.New(config.Map(nil))
	if got := missing.Brokers(); len(got) != 0 || missing.Err() == nil || !strings.Contains(missing.Err().Error(), "KAFKA_BROKERS") {
		t.Fatalf("Brokers without KAFKA_BROKERS = %q, %v", got, missing.Err())
	}
}

func TestFromOSReadsSecretsDir(t *testing.T) {
	dir := t.TempDir()
	MustWriteFile(t, filepath.Join(dir, "token"), "s3cret")
	t.Setenv("OPENFAAS_SECRETS_DIR", dir)
	if got := config.FromOS().Secret("token"); got != "s3cret" {
		t.Fatalf("Secret = %q", got)
	}
}

func TestKeyLists(t *testing.T) {
	dir := t.TempDir()
	MustWriteFile(t, filepath.Join(dir, "payments-api-key"), "old-key\n new-key ,\n\n")
	MustKnativeSecret(t, dir, "payments-event-key", map[string]string{"payments-event-key": "first\nsecond,third\n"})
	env := config.New(config.Map(map[string]string{"OPENFAAS_SECRETS_DIR": dir}))
	if got := env.APIKeys(); !slices.Equal(got, []string{"old-key", "new-key"}) {
		t.Errorf("APIKeys = %q", got)
	}
	if got := env.EventKeys(); !slices.Equal(got, []string{"first", "second", "third"}) {
		t.Errorf("EventKeys = %q", got)
	}
	if err := env.Err(); err != nil {
		t.Fatal(err)
	}
	none := config.New(config.Map(map[string]string{"OPENFAAS_SECRETS_DIR": t.TempDir()}))
	if got := none.EventKeys(); len(got) != 0 || none.Err() != nil {
		t.Fatalf("EventKeys without the secret = %q, %v", got, none.Err())
	}
}

func TestDatabase(t *testing.T) {
	tests := []struct {
		name    string
		vars    map[string]string
		want    time.Duration
		wantErr string
	}{
		{name: "default", want: config.DefaultDBTimeout},
		{name: "set", vars: map[string]string{"DB_TIMEOUT": "1500ms"}, want: 1500 * time.Millisecond},
		{name: "seconds as the watchdog writes them", vars: map[string]string{"DB_TIMEOUT": "2"}, want: 2 * time.Second},
		{name: "within stack.yml's timeouts", vars: map[string]string{"DB_TIMEOUT": "12s", "exec_timeout": "15s", "write_timeout": "15s"}, want: 12 * time.Second},
		{name: "not below the template's default", vars: map[string]string{"DB_TIMEOUT": "10s"}, want: 10 * time.Second, wantErr: "shorter than the function's timeout 10s"},
		{name: "the shorter of exec and write timeout", vars: map[string]string{"DB_TIMEOUT": "5s", "exec_timeout": "30s", "write_timeout": "4s"}, want: 5 * time.Second, wantErr: "timeout 4s"},
		{name: "0 sets no bound", vars: map[string]string{"DB_TIMEOUT": "1m", "exec_timeout": "0", "write_timeout": "0"}, want: time.Minute},
		{name: "too short for statement_timeout", vars: map[string]string{"DB_TIMEOUT": "10ms"}, want: 10 * time.Millisecond, wantErr: "at least 100ms"},
		{name: "not a duration", vars: map[string]string{"DB_TIMEOUT": "soon"}, want: config.DefaultDBTimeout, wantErr: "DB_TIMEOUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars := map[string]string{"DATABASE_URL": "postgres://db"}
			for k, v := range tt.vars {
				vars[k] = v
			}
			env := config.New(config.Map(vars))
			got := env.Database()
			if got.URL != "postgres://db" || got.Timeout != tt.want {
				t.Errorf("Database() = %+v, want timeout %s", got, tt.want)
			}
			err := env.Err()
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Err() = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
