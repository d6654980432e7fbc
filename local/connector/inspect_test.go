package connector

import (
	"context"
	"net/http"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"handler/function/local/testenv"
)

func TestInspectorReadsTopicsAndGroups(t *testing.T) {
	brokers := MustCluster(t, 3, "payments")
	gw := MustGateway(t, func(context.Context, call) int { return http.StatusOK })
	cl := MustClient(t, brokers, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for p := range int32(3) {
		for range int(p) + 1 { // 1, 2 and 3 records in partitions 0, 1, 2
			MustProduce(t, cl, &kgo.Record{Topic: "payments", Partition: p, Value: []byte("v")})
		}
	}
	in, err := NewInspector(brokers)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	ctx := context.Background()
	groups := map[string][]string{"process-payment": {"payments"}}

	topics, err := in.Topics(ctx, []string{"payments"})
	if err != nil {
		t.Fatal(err)
	}
	if len(topics) != 1 || len(topics[0].Partitions) != 3 {
		t.Fatalf("topics = %+v, want payments with 3 partitions", topics)
	}
	for _, p := range topics[0].Partitions {
		if p.End != int64(p.Partition)+1 || p.Start != 0 || p.Leader < 0 {
			t.Errorf("partition %+v, want start 0, end %d and a leader", p, p.Partition+1)
		}
	}
	before, err := in.Groups(ctx, groups, topics)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range before[0].Partitions {
		if p.Committed != -1 || p.Lag != p.End {
			t.Errorf("before the group consumed: %+v, want nothing committed and lag = end", p)
		}
	}

	MustStart(t, testConfig(t, brokers, gw.URL, fn("process-payment", "payments")))
	testenv.MustEventually(t, "the group to commit everything", func() bool {
		gs, err := in.Groups(ctx, groups, topics)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range gs[0].Partitions {
			if p.Lag != 0 || p.Committed != p.End {
				return false
			}
		}
		return true
	})
}
