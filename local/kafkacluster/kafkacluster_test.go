package kafkacluster

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestPomPinsVersion(t *testing.T) {
	var p struct {
		Properties struct {
			Kafka string `xml:"kafka.version"`
		} `xml:"properties"`
		Dependencies []struct {
			GroupID    string `xml:"groupId"`
			ArtifactID string `xml:"artifactId"`
			Version    string `xml:"version"`
		} `xml:"dependencies>dependency"`
	}
	if err := xml.Unmarshal(pom, &p); err != nil {
		t.Fatal(err)
	}
	if p.Properties.Kafka != Version {
		t.Fatalf("pom.xml pins kafka.version %q, the package says %q", p.Properties.Kafka, Version)
	}
	var broker bool
	for _, d := range p.Dependencies {
		broker = broker || (d.GroupID == "org.apache.kafka" && d.ArtifactID == "kafka_2.13" && d.Version == "${kafka.version}")
	}
	if !broker {
		t.Fatalf("pom.xml does not depend on org.apache.kafka:kafka_2.13:${kafka.version}: %+v", p.Dependencies)
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{Dir: "d", DistDir: "dist", Brokers: 3}.WithDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Ports, []int{DefaultPort, DefaultPort + 1, DefaultPort + 2}) ||
		!slices.Equal(c.ControllerPorts, []int{DefaultControllerPort, DefaultControllerPort + 1, DefaultControllerPort + 2}) {
		t.Fatalf("ports %v, controller ports %v", c.Ports, c.ControllerPorts)
	}
	if c.ReplicationFactor() != 3 || c.MinInsyncReplicas() != 2 {
		t.Fatalf("3 brokers: replication %d, min ISR %d; want 3 and 2", c.ReplicationFactor(), c.MinInsyncReplicas())
	}
	one := Config{Dir: "d", DistDir: "dist", Ports: []int{1000}, ControllerPorts: []int{1001}}
	if err := one.Validate(); err != nil {
		t.Fatal(err)
	}
	if one.WithDefaults().Brokers != 1 || one.ReplicationFactor() != 1 || one.MinInsyncReplicas() != 1 {
		t.Fatalf("1 broker: %d brokers, replication %d, min ISR %d; want 1, 1, 1",
			one.WithDefaults().Brokers, one.ReplicationFactor(), one.MinInsyncReplicas())
	}
}

func TestConfigValidate(t *testing.T) {
	valid := Config{Dir: "d", DistDir: "dist", Brokers: 3}
	for name, tc := range map[string]struct {
		mutate func(*Config)
		want   string
	}{
		"no folder":          {func(c *Config) { c.Dir = "" }, "no cluster folder"},
		"no jar cache":       {func(c *Config) { c.DistDir = "" }, "no folder for the Kafka jars"},
		"two brokers":        {func(c *Config) { c.Brokers = 2 }, "want 1 or 3"},
		"too few ports":      {func(c *Config) { c.Ports = []int{1, 2} }, "client and 3 controller ports"},
		"port used twice":    {func(c *Config) { c.Ports = []int{5000, 5001, 19292} }, "port 19292: used twice"},
		"port out of range":  {func(c *Config) { c.Ports = []int{5000, 5001, 70000} }, "port 70000: out of range"},
		"bad heap":           {func(c *Config) { c.Heap = "lots" }, `heap "lots"`},
		"no partitions":      {func(c *Config) { c.Partitions = -1 }, "partitions -1"},
		"negative stop time": {func(c *Config) { c.StopTimeout = -1 }, "timeouts must be positive"},
	} {
		t.Run(name, func(t *testing.T) {
			c := valid
			tc.mutate(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestServerProperties(t *testing.T) {
	three := mustParseProperties(t, serverProperties(Config{Brokers: 3, Ports: []int{1, 2, 3}, ControllerPorts: []int{11, 12, 13}}, 2, "/data/2"))
	for key, want := range map[string]string{
		"process.roles":                    "broker,controller",
		"node.id":                          "2",
		"controller.quorum.voters":         "1@127.0.0.1:11,2@127.0.0.1:12,3@127.0.0.1:13",
		"listeners":                        "PLAINTEXT://127.0.0.1:2,CONTROLLER://127.0.0.1:12",
		"advertised.listeners":             "PLAINTEXT://127.0.0.1:2",
		"log.dirs":                         "/data/2",
		"default.replication.factor":       "3",
		"min.insync.replicas":              "2",
		"offsets.topic.replication.factor": "3",
		"transaction.state.log.min.isr":    "2",
		"unclean.leader.election.enable":   "false",
		"auto.create.topics.enable":        "false",
		"num.partitions":                   "3",
	} {
		if three[key] != want {
			t.Errorf("3 brokers, node 2: %s=%q, want %q", key, three[key], want)
		}
	}
	one := mustParseProperties(t, serverProperties(Config{Ports: []int{5}, ControllerPorts: []int{6}}, 1, "/data/1"))
	for key, want := range map[string]string{
		"controller.quorum.voters":                 "1@127.0.0.1:6",
		"default.replication.factor":               "1",
		"min.insync.replicas":                      "1",
		"offsets.topic.replication.factor":         "1",
		"transaction.state.log.replication.factor": "1",
		"transaction.state.log.min.isr":            "1",
	} {
		if one[key] != want {
			t.Errorf("1 broker: %s=%q, want %q", key, one[key], want)
		}
	}
}

func mustParseProperties(tb testing.TB, text string) map[string]string {
	tb.Helper()
	props := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			tb.Fatalf("not a property: %q", line)
		}
		if _, dup := props[k]; dup {
			tb.Fatalf("%s set twice", k)
		}
		props[k] = v
	}
	return props
}

func TestNewClusterID(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		id, err := newClusterID()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := base64.RawURLEncoding.DecodeString(id)
		if err != nil || len(raw) != 16 || strings.HasPrefix(id, "-") {
			t.Fatalf("cluster id %q: want 16 bytes in URL-safe base64, not starting with '-' (%v)", id, err)
		}
		if seen[id] {
			t.Fatalf("cluster id %q made twice", id)
		}
		seen[id] = true
	}
}

func TestStateKeepsIDAndRefusesOtherTopology(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Dir: dir, DistDir: "dist", Brokers: 3}.WithDefaults()
	first, err := loadOrCreateState(cfg)
	if err != nil {
		t.Fatal(err)
	}
	again, err := loadOrCreateState(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if again.ClusterID != first.ClusterID || again.Version != Version {
		t.Fatalf("second load: %+v, want the first %+v", again, first)
	}
	one := Config{Dir: dir, DistDir: "dist", Brokers: 1}.WithDefaults()
	if _, err := loadOrCreateState(one); err == nil || !strings.Contains(err.Error(), "holds a 3-broker cluster") {
		t.Fatalf("a 1-broker start on a 3-broker folder: %v, want a refusal", err)
	}
}

func TestCheckJava(t *testing.T) {
	for name, tc := range map[string]struct {
		output string
		ok     bool
	}{
		"openjdk 17":  {`openjdk version "17.0.15" 2025-04-15`, true},
		"openjdk 21":  {`openjdk version "21" 2023-09-19`, true},
		"openjdk 11":  {`openjdk version "11.0.22" 2024-01-16`, false},
		"java 8":      {`java version "1.8.0_401"`, false},
		"no version":  {`something else entirely`, false},
		"not running": {"", false},
	} {
		t.Run(name, func(t *testing.T) {
			java := filepath.Join(t.TempDir(), "java")
			script := "#!/bin/sh\necho '" + tc.output + "' >&2\n"
			if tc.output == "" {
				script = "#!/bin/sh\nexit 1\n"
			}
			mustWriteExecutable(t, java, script)
			err := checkJava(context.Background(), java)
			if tc.ok != (err == nil) {
				t.Fatalf("checkJava = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrNoJava) {
				t.Fatalf("checkJava = %v, want ErrNoJava", err)
			}
		})
	}
	if err := checkJava(context.Background(), filepath.Join(t.TempDir(), "missing")); !errors.Is(err, ErrNoJava) {
		t.Fatalf("missing java: %v, want ErrNoJava", err)
	}
}

func TestFetchDist(t *testing.T) {
	log := slog.New(slog.DiscardHandler)

	t.Run("a complete cache needs no maven", func(t *testing.T) {
		cache := t.TempDir()
		libs := filepath.Join(cache, Version, "libs")
		mustWrite(t, filepath.Join(libs, ".complete"), Version)
		d, err := FetchDist(context.Background(), cache, filepath.Join(cache, "no-mvn"), log)
		if err != nil {
			t.Fatal(err)
		}
		if d.Classpath() != libs+"/*" {
			t.Fatalf("classpath %q, want %q", d.Classpath(), libs+"/*")
		}
	})

	t.Run("no maven", func(t *testing.T) {
		_, err := FetchDist(context.Background(), t.TempDir(), "no-such-mvn-here", log)
		if !errors.Is(err, ErrNoMaven) {
			t.Fatalf("FetchDist = %v, want ErrNoMaven", err)
		}
	})

	t.Run("maven copies the jars once", func(t *testing.T) {
		cache := t.TempDir()
		mvn := filepath.Join(t.TempDir(), "mvn")
		calls := filepath.Join(t.TempDir(), "calls")
		// A stand-in for mvn: records its call and writes the broker jar to
		// -DoutputDirectory, as copy-dependencies would.
		mustWriteExecutable(t, mvn, `#!/bin/sh
echo "$@" >> `+calls+`
for a in "$@"; do case "$a" in -DoutputDirectory=*) out="${a#-DoutputDirectory=}";; esac; done
mkdir -p "$out" && touch "$out/`+brokerJar+`" "$out/kafka-clients-`+Version+`.jar"
`)
		for range 2 {
			if _, err := FetchDist(context.Background(), cache, mvn, log); err != nil {
				t.Fatal(err)
			}
		}
		raw, err := os.ReadFile(calls)
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(raw), "\n"); n != 1 {
			t.Fatalf("mvn ran %d times, want once:\n%s", n, raw)
		}
		if !strings.Contains(string(raw), "dependency:copy-dependencies") || !strings.Contains(string(raw), "-DincludeScope=runtime") {
			t.Fatalf("mvn called with %q", raw)
		}
		for _, f := range []string{"pom.xml", "libs/" + brokerJar, "libs/.complete"} {
			if _, err := os.Stat(filepath.Join(cache, Version, f)); err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("a failed fetch reports maven's words and leaves no cache", func(t *testing.T) {
		cache := t.TempDir()
		mvn := filepath.Join(t.TempDir(), "mvn")
		mustWriteExecutable(t, mvn, "#!/bin/sh\necho 'Could not resolve dependencies: 403 Forbidden'\nexit 1\n")
		_, err := FetchDist(context.Background(), cache, mvn, log)
		if err == nil || !strings.Contains(err.Error(), "403 Forbidden") {
			t.Fatalf("FetchDist = %v, want maven's error", err)
		}
		if _, err := os.Stat(filepath.Join(cache, Version, "libs")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("libs/ after a failed fetch: %v, want none", err)
		}
	})
}

func mustWrite(tb testing.TB, path, content string) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
}

func mustWriteExecutable(tb testing.TB, path, script string) {
	tb.Helper()
	mustWrite(tb, path, script)
	if err := os.Chmod(path, 0o755); err != nil {
		tb.Fatal(err)
	}
}

func TestMetadataCounts(t *testing.T) {
	m := Metadata{
		Brokers: []BrokerInfo{{ID: 3}, {ID: 1}},
		Partitions: []PartitionInfo{
			{Topic: "a", Partition: 0, Leader: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 3}},
			{Topic: "a", Partition: 1, Leader: 3, Replicas: []int32{3, 2, 1}, ISR: []int32{1, 2, 3}},
			{Topic: "b", Partition: 0, Leader: 1, Replicas: []int32{1, 3}, ISR: []int32{1, 3}},
		},
	}
	if got := m.BrokerIDs(); !slices.Equal(got, []int32{1, 3}) {
		t.Fatalf("BrokerIDs() = %v, want [1 3]", got)
	}
	for id, want := range map[int32][2]int{1: {3, 3}, 2: {2, 1}, 3: {3, 3}, 4: {0, 0}} {
		if replicas, inSync := m.Replicas(id); replicas != want[0] || inSync != want[1] {
			t.Errorf("Replicas(%d) = %d, %d; want %d, %d", id, replicas, inSync, want[0], want[1])
		}
	}
	g := GroupInfo{Members: []MemberInfo{
		{Assigned: map[string][]int32{"payments": {0, 1}, "other": {2}}},
		{Assigned: map[string][]int32{"payments": {2}}},
		{Assigned: map[string][]int32{}},
	}}
	if got := g.Partitions("payments"); len(got) != 3 || !slices.Equal(got[0], []int32{0, 1}) || !slices.Equal(got[1], []int32{2}) || len(got[2]) != 0 {
		t.Fatalf("Partitions(payments) = %v, want [[0 1] [2] []]", got)
	}
}

func TestLogErrors(t *testing.T) {
	log := filepath.Join(t.TempDir(), "broker.log")
	mustWrite(t, log, `[t] INFO starting (kafka.Kafka)
[t] ERROR Unable to start acceptor for CONTROLLER (kafka.network.DataPlaneAcceptor)
	at kafka.network.Acceptor.openServerSocket(SocketServer.scala:615)
Caused by: java.net.BindException: Address already in use
[t] INFO shutting down (kafka.Kafka)
[t] INFO shut down completely (kafka.Kafka)
`)
	got := logErrors(log, 6)
	want := "[t] ERROR Unable to start acceptor for CONTROLLER (kafka.network.DataPlaneAcceptor)\nCaused by: java.net.BindException: Address already in use"
	if got != want {
		t.Fatalf("logErrors = %q, want %q", got, want)
	}
	mustWrite(t, log, "one\ntwo\nthree\n")
	if got := logErrors(log, 2); got != "two\nthree" {
		t.Fatalf("logErrors without errors = %q, want the last 2 lines", got)
	}
}
