package kafkacluster

import (
	"fmt"
	"strings"
)

// serverProperties is the server.properties of node id (1-based): a
// combined broker and KRaft controller with a static quorum of every node.
func serverProperties(cfg Config, id int, dataDir string) string {
	cfg = cfg.WithDefaults()
	voters := make([]string, cfg.Brokers)
	for i, p := range cfg.ControllerPorts {
		voters[i] = fmt.Sprintf("%d@%s:%d", i+1, Host, p)
	}
	rf := cfg.ReplicationFactor()
	isr := cfg.MinInsyncReplicas()
	port, controllerPort := cfg.Ports[id-1], cfg.ControllerPorts[id-1]

	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("# Written by local/kafkacluster on every start; edits are overwritten.")
	line("# Apache Kafka %s, node %d of %d: broker and KRaft controller in one process.", Version, id, cfg.Brokers)
	line("process.roles=broker,controller")
	line("node.id=%d", id)
	// A static quorum: every node knows every voter from its configuration,
	// so formatting needs no --initial-controllers and a restarted node
	// simply rejoins.
	line("controller.quorum.voters=%s", strings.Join(voters, ","))
	line("listeners=PLAINTEXT://%s:%d,CONTROLLER://%s:%d", Host, port, Host, controllerPort)
	line("advertised.listeners=PLAINTEXT://%s:%d", Host, port)
	line("controller.listener.names=CONTROLLER")
	line("inter.broker.listener.name=PLAINTEXT")
	line("listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT")
	line("log.dirs=%s", dataDir)
	line("")
	line("# Durability: replication %d, and acks=all needs %d in-sync replicas.", rf, isr)
	line("num.partitions=%d", cfg.Partitions)
	line("default.replication.factor=%d", rf)
	line("min.insync.replicas=%d", isr)
	line("offsets.topic.replication.factor=%d", rf)
	line("transaction.state.log.replication.factor=%d", rf)
	line("transaction.state.log.min.isr=%d", isr)
	line("share.coordinator.state.topic.replication.factor=%d", rf)
	line("share.coordinator.state.topic.min.isr=%d", isr)
	line("unclean.leader.election.enable=false")
	line("# Topics are created on purpose (the runner's EnsureTopics); a typo must not create one.")
	line("auto.create.topics.enable=false")
	line("")
	line("# Small and quick: a shared 2-core machine, and tests that start groups often.")
	line("group.initial.rebalance.delay.ms=0")
	line("num.network.threads=2")
	line("num.io.threads=2")
	line("num.recovery.threads.per.data.dir=1")
	line("background.threads=4")
	line("log.cleaner.dedupe.buffer.size=8388608")
	return b.String()
}

// log4jProperties sends every log line to standard output, which the cluster
// points at broker.log. The level comes from -Dkafka.log.level (the storage
// tool runs with warn, to keep its configuration dump out of the log).
const log4jProperties = `# Written by local/kafkacluster.
status = warn
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = ${sys:kafka.log.level:-info}
rootLogger.appenderRef.stdout.ref = STDOUT
# Per-partition state changes and per-request lines drown everything else.
logger.statechange.name = state.change.logger
logger.statechange.level = warn
logger.request.name = kafka.request.logger
logger.request.level = warn
`
