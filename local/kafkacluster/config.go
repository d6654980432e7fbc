package kafkacluster

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"
)

// Host is the only address the brokers listen on: the cluster is for this
// machine alone.
const Host = "127.0.0.1"

// Defaults. The ports sit below Linux's ephemeral range (32768 and up), where
// a client's outgoing connection or another program's "any free port" could
// take them, and away from Kafka's usual 9092 and the embedded cluster's
// 19092-19094, so that all three can run side by side.
const (
	DefaultPort           = 19192
	DefaultControllerPort = 19292
	DefaultPartitions     = 3
	// DefaultHeap is each broker's -Xmx. A local broker with a few topics
	// needs little, and the machine is shared.
	DefaultHeap         = "256m"
	DefaultStartTimeout = 3 * time.Minute
	DefaultStopTimeout  = 30 * time.Second
)

// Config says where the cluster lives and how big it is. Zero fields take the
// defaults above (WithDefaults); Validate reports what is still wrong.
type Config struct {
	// Dir holds the cluster: cluster.json, log4j2.properties and one folder
	// per broker (broker-<id>/) with its server.properties, data/,
	// broker.log and broker.pid. Data survives Stop.
	Dir string
	// DistDir caches the jars Maven fetched, one folder per Kafka version,
	// shared by every cluster.
	DistDir string
	// Brokers is 1 or 3. Each broker is also a KRaft controller.
	Brokers int
	// Ports are the brokers' client ports on Host (node i+1 gets Ports[i]);
	// default DefaultPort and up.
	Ports []int
	// ControllerPorts are the KRaft controller ports; default
	// DefaultControllerPort and up.
	ControllerPorts []int
	// Partitions is num.partitions, the partitions of a topic created
	// without a count.
	Partitions int
	// Heap is the -Xmx of each broker's JVM, in java's syntax ("256m").
	Heap string
	// Java and Maven are the commands to run; "java" and "mvn" by default.
	Java  string
	Maven string
	// Detach starts the brokers in their own session, so that they outlive
	// the program that started them (the kafka-cluster command). Otherwise
	// they die with it, even when it is killed.
	Detach bool
	// StartTimeout bounds the wait for the brokers to join the cluster.
	StartTimeout time.Duration
	// StopTimeout is how long a broker may take to shut down cleanly after
	// SIGTERM before it is killed.
	StopTimeout time.Duration
	// Logger receives progress; slog.Default() when nil.
	Logger *slog.Logger
}

// WithDefaults returns a copy of c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.Brokers == 0 {
		c.Brokers = max(len(c.Ports), 1)
	}
	if c.Ports == nil {
		c.Ports = portRange(DefaultPort, c.Brokers)
	}
	if c.ControllerPorts == nil {
		c.ControllerPorts = portRange(DefaultControllerPort, c.Brokers)
	}
	if c.Partitions == 0 {
		c.Partitions = DefaultPartitions
	}
	if c.Heap == "" {
		c.Heap = DefaultHeap
	}
	if c.Java == "" {
		c.Java = "java"
	}
	if c.Maven == "" {
		c.Maven = "mvn"
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = DefaultStartTimeout
	}
	if c.StopTimeout == 0 {
		c.StopTimeout = DefaultStopTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

var heapSize = regexp.MustCompile(`^[1-9][0-9]*[kKmMgG]?$`)

// Validate reports every setting that is wrong once the defaults are applied.
func (c Config) Validate() error {
	c = c.WithDefaults()
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("no cluster folder"))
	}
	if c.DistDir == "" {
		errs = append(errs, errors.New("no folder for the Kafka jars"))
	}
	if c.Brokers != 1 && c.Brokers != 3 {
		// 3 is the smallest cluster that keeps min.insync.replicas=2 with a
		// broker down, and the smallest KRaft quorum that survives one loss.
		errs = append(errs, fmt.Errorf("brokers %d: want 1 or 3", c.Brokers))
	}
	if len(c.Ports) != c.Brokers || len(c.ControllerPorts) != c.Brokers {
		errs = append(errs, fmt.Errorf("want %d client and %d controller ports, have %v and %v", c.Brokers, c.Brokers, c.Ports, c.ControllerPorts))
	}
	seen := map[int]bool{}
	for _, p := range append(append([]int{}, c.Ports...), c.ControllerPorts...) {
		if p <= 0 || p > 65535 {
			errs = append(errs, fmt.Errorf("port %d: out of range", p))
		}
		if seen[p] {
			errs = append(errs, fmt.Errorf("port %d: used twice", p))
		}
		seen[p] = true
	}
	if c.Partitions < 1 {
		errs = append(errs, fmt.Errorf("partitions %d: must be at least 1", c.Partitions))
	}
	if !heapSize.MatchString(c.Heap) {
		errs = append(errs, fmt.Errorf("heap %q: want a java size such as 256m", c.Heap))
	}
	if c.StartTimeout <= 0 || c.StopTimeout <= 0 {
		errs = append(errs, errors.New("start and stop timeouts must be positive"))
	}
	return errors.Join(errs...)
}

// ReplicationFactor is the replication of every topic: 3 on three brokers, 1
// on one.
func (c Config) ReplicationFactor() int16 { return int16(min(3, c.WithDefaults().Brokers)) }

// MinInsyncReplicas is the cluster's min.insync.replicas: with acks=all a
// write needs 2 of 3 replicas, so one broker may be down without losing a
// write or stopping them; a single broker can only ask for itself.
func (c Config) MinInsyncReplicas() int {
	if c.WithDefaults().Brokers >= 3 {
		return 2
	}
	return 1
}

func portRange(first, n int) []int {
	ports := make([]int, n)
	for i := range ports {
		ports[i] = first + i
	}
	return ports
}
