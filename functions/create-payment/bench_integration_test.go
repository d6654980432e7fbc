//go:build integration

package function

import (
	"net/http"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"handler/function/functions/pkg/functest"
	"handler/function/local/testenv"
)

// BenchmarkCreate creates payments through the handler with a real Postgres
// and an embedded Kafka (in this process), publishing each at once, and reports
// the CPU per create of this process and of Postgres. Compare builds with
//
//	go test -tags integration -run '^$' -bench Create -count 5 ./functions/create-payment/
func BenchmarkCreate(b *testing.B) {
	dbURL := testenv.MustDatabase(b)
	_, brokers := testenv.MustKafka(b, "payments")
	b.Setenv("DATABASE_URL", dbURL)
	b.Setenv("KAFKA_BROKERS", brokers[0])
	b.Setenv("OPENFAAS_SECRETS_DIR", functest.MustSecretsDir(b))
	b.Setenv("RATE_LIMIT_PER_USER", "0")
	s, err := newService()
	if err != nil {
		b.Fatal(err)
	}
	if resp := s.handle(b.Context(), createRequest(uuid.New())); resp.StatusCode != http.StatusCreated {
		b.Fatalf("warm-up create: %d %s", resp.StatusCode, resp.Body)
	}
	var failed atomic.Int64
	pgBefore, selfBefore := testenv.MustPostgresCPU(b), processCPU(b)
	b.ResetTimer()
	b.SetParallelism(16) // 16 × GOMAXPROCS concurrent creates, as a loaded instance has
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if resp := s.handle(b.Context(), createRequest(uuid.New())); resp.StatusCode != http.StatusCreated {
				failed.Add(1)
			}
		}
	})
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d creates failed", n)
	}
	perOp := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) / float64(b.N) }
	b.ReportMetric(perOp(processCPU(b)-selfBefore), "cpu-ms/op")
	b.ReportMetric(perOp(testenv.MustPostgresCPU(b)-pgBefore), "pg-cpu-ms/op")
}

// processCPU is this process's user and system CPU time so far.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
