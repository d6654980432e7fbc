package runner

import (
	"runtime/debug"
)

// TuneGC trades memory for CPU in the process that hosts the local stack.
// The gateway, the connector and the embedded Kafka allocate for every call
// and record; with Go's default (GOGC=100) garbage collection took about
// 15 % of this process's CPU under load (docs/benchmarks.md). A soft memory
// limit keeps the larger heap target from growing without bound as the
// embedded Kafka's retained records grow. Settings the user made through
// GOGC or GOMEMLIMIT are left alone. Call it once, from main.
func TuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(2 << 30)
	}
}
