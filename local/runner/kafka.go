package runner

import (
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kfake"
)

// embeddedKafka is an in-process Kafka-protocol cluster (kfake) on fixed
// loopback ports, persisted to a folder so that a stop and a start (or a
// restart of the runner) keep topics, records and committed offsets.
type embeddedKafka struct {
	dir   string
	ports []int

	mu      sync.Mutex
	cluster *kfake.Cluster
}

func (k *embeddedKafka) Start() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cluster != nil {
		return nil
	}
	c, err := kfake.NewCluster(kfake.Ports(k.ports...), kfake.DataDir(k.dir), kfake.ClusterID("payment-pet-local"))
	if err != nil {
		return fmt.Errorf("start embedded kafka on ports %v: %w", k.ports, err)
	}
	k.cluster = c
	return nil
}

func (k *embeddedKafka) Stop() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cluster != nil {
		k.cluster.Close()
		k.cluster = nil
	}
}

func (k *embeddedKafka) Brokers() []string {
	brokers := make([]string, len(k.ports))
	for i, p := range k.ports {
		brokers[i] = fmt.Sprintf("127.0.0.1:%d", p)
	}
	return brokers
}
