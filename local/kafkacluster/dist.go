package kafkacluster

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Version is the Apache Kafka release the cluster runs. It is pinned in
// pom.xml too (kafka.version); a test keeps the two equal.
const Version = "4.4.0"

// brokerJar names the jar that holds kafka.Kafka; its presence tells a
// complete fetch from a broken one.
const brokerJar = "kafka_2.13-" + Version + ".jar"

//go:embed pom.xml
var pom []byte

// ErrNoMaven says Maven is missing, with the fix.
var ErrNoMaven = errors.New("maven (mvn) not found: install it with `apt-get install maven` or set MVN")

// Dist is a fetched Kafka distribution: the broker's jars in one folder.
type Dist struct {
	// Dir is the version's cache folder; its libs/ holds the jars.
	Dir string
}

// Classpath is the java -cp value that puts every jar of the distribution on
// the classpath.
func (d Dist) Classpath() string {
	return filepath.Join(d.Dir, "libs") + string(filepath.Separator) + "*"
}

// FetchDist returns the distribution cached under cacheDir/<Version>,
// fetching the jars from Maven Central with mvn first if they are not there.
// The fetch happens once per cache folder: later calls only check a marker.
// Concurrent callers (a test and `make kafka-cluster`, say) take a file lock,
// so one fetches and the others wait for it.
func FetchDist(ctx context.Context, cacheDir, mvn string, log *slog.Logger) (Dist, error) {
	d := Dist{Dir: filepath.Join(cacheDir, Version)}
	libs := filepath.Join(d.Dir, "libs")
	complete := filepath.Join(libs, ".complete")
	if _, err := os.Stat(complete); err == nil {
		return d, nil
	}
	if err := os.MkdirAll(d.Dir, 0o755); err != nil {
		return d, fmt.Errorf("kafka dist: %w", err)
	}
	unlock, err := lockFile(filepath.Join(d.Dir, ".lock"))
	if err != nil {
		return d, fmt.Errorf("kafka dist: %w", err)
	}
	defer unlock()
	if _, err := os.Stat(complete); err == nil {
		return d, nil // another process fetched it while we waited for the lock
	}

	if mvn == "" {
		mvn = "mvn"
	}
	mvnPath, err := exec.LookPath(mvn)
	if err != nil {
		return d, ErrNoMaven
	}
	pomFile := filepath.Join(d.Dir, "pom.xml")
	if err := os.WriteFile(pomFile, pom, 0o644); err != nil {
		return d, fmt.Errorf("kafka dist: %w", err)
	}
	// Fetch into a fresh folder and rename it into place, so that an
	// interrupted fetch never looks complete.
	tmp := libs + ".partial"
	if err := os.RemoveAll(tmp); err != nil {
		return d, fmt.Errorf("kafka dist: %w", err)
	}
	start := time.Now()
	log.Info("fetching Apache Kafka with Maven (once)", "version", Version, "into", libs)
	cmd := exec.CommandContext(ctx, mvnPath, "-B", "-q", "-Dstyle.color=never", "-f", pomFile,
		"dependency:copy-dependencies", "-DincludeScope=runtime", "-DoutputDirectory="+tmp)
	if out, err := cmd.CombinedOutput(); err != nil {
		return d, fmt.Errorf("fetch Apache Kafka %s with Maven (%s): %w\n%s", Version, pomFile, err, bytes.TrimSpace(out))
	}
	if _, err := os.Stat(filepath.Join(tmp, brokerJar)); err != nil {
		return d, fmt.Errorf("fetch Apache Kafka %s: Maven finished but %s is missing: %w", Version, brokerJar, err)
	}
	if err := os.WriteFile(filepath.Join(tmp, ".complete"), []byte(Version+"\n"), 0o644); err != nil {
		return d, fmt.Errorf("kafka dist: %w", err)
	}
	if err := os.RemoveAll(libs); err != nil {
		return d, fmt.Errorf("kafka dist: %w", err)
	}
	if err := os.Rename(tmp, libs); err != nil {
		return d, fmt.Errorf("kafka dist: %w", err)
	}
	log.Info("fetched Apache Kafka", "version", Version, "took_ms", time.Since(start).Milliseconds())
	return d, nil
}

// lockFile takes an exclusive lock on path, waiting for it, and returns the
// function that releases it.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
