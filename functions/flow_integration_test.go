//go:build integration

// The whole payment flow through the five functions' real entry points
// (Handle), with a real Postgres and a real Kafka-protocol broker in between,
// and the connector's part played by the test: read a record, POST its value.
package functions_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	handler "github.com/openfaas/templates-sdk/go-http"
	"github.com/twmb/franz-go/pkg/kgo"

	applyresult "handler/function/functions/apply-result"
	createpayment "handler/function/functions/create-payment"
	getpayment "handler/function/functions/get-payment"
	"handler/function/functions/pkg/functest"
	"handler/function/functions/pkg/payment"
	processpayment "handler/function/functions/process-payment"
	relayoutbox "handler/function/functions/relay-outbox"
	"handler/function/local/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

func call(t *testing.T, handle func(handler.Request) (handler.Response, error), method, query string, header http.Header, body []byte) handler.Response {
	t.Helper()
	if header == nil {
		header = http.Header{}
	}
	req := handler.Request{Method: method, QueryString: query, Header: header, Body: body}
	req.WithContext(context.Background())
	resp, err := handle(req)
	if err != nil {
		t.Fatalf("Handle returned an error: %v", err)
	}
	return resp
}

// mustRecords reads n records from topic, from the start, with a fresh group.
func mustRecords(t *testing.T, brokers []string, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records from %s", len(out), n, topic)
		}
		fetches.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

func TestPaymentFlowThroughAllFunctions(t *testing.T) {
	kafka, brokers := testenv.MustKafka(t, "payments", "paymentsResults")
	t.Setenv("DATABASE_URL", testenv.MustDatabase(t))
	t.Setenv("KAFKA_BROKERS", strings.Join(brokers, ","))
	t.Setenv("OPENFAAS_SECRETS_DIR", functest.MustSecretsDir(t))
	t.Setenv("PAYMENT_PROVIDER_MIN_DELAY", "0")
	t.Setenv("PAYMENT_PROVIDER_MAX_DELAY", "0")
	user := uuid.New()
	jsonHeader := http.Header{"Content-Type": {"application/json"}}

	// 1. Create: 201, pending, and its event on "payments" keyed by payment id.
	resp := call(t, createpayment.Handle, http.MethodPost, "", jsonHeader,
		[]byte(`{"userId":"`+user.String()+`","accountNumber":"40817810099910004312","amount":"125.5","description":"rent"}`))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, resp.Body)
	}
	var created payment.Payment
	if err := json.Unmarshal(resp.Body, &created); err != nil {
		t.Fatal(err)
	}
	if created.State != payment.Pending || created.Amount.String() != "125.50" {
		t.Fatalf("created %+v", created)
	}
	rec := mustRecords(t, brokers, "payments", 1)[0]
	if string(rec.Key) != created.ID.String() || header(rec, "content-type") != "application/cloudevents+json" {
		t.Fatalf("payments record key %q content-type %q", rec.Key, header(rec, "content-type"))
	}
	if !strings.Contains(string(rec.Value), `"signature":"v1:`+functest.EventKeys.SigningKeyID()+`:`) {
		t.Fatalf("payments record is not signed: %s", rec.Value)
	}

	// 2. Start a long-poll now; it must be answered by the result below.
	polled := make(chan handler.Response, 1)
	go func() {
		q := url.Values{"id": {created.ID.String()}, "userId": {user.String()}, "wait": {"30"}}
		polled <- call(t, getpayment.Handle, http.MethodGet, q.Encode(), nil, nil)
	}()

	// 3. The connector's job: the record value goes to process-payment as text/plain.
	resp = call(t, processpayment.Handle, http.MethodPost, "", http.Header{"Content-Type": {"text/plain"}, "X-Topic": {"payments"}}, rec.Value)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("process: %d %s", resp.StatusCode, resp.Body)
	}
	result := mustRecords(t, brokers, "paymentsResults", 1)[0]
	if string(result.Key) != created.ID.String() || !strings.Contains(string(result.Value), `"signature":"v1:`) {
		t.Fatalf("result key %q, value %s", result.Key, result.Value)
	}

	// 4. apply-result records it, once; a redelivery changes nothing.
	for range 2 {
		resp = call(t, applyresult.Handle, http.MethodPost, "", http.Header{"Content-Type": {"text/plain"}}, result.Value)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("apply: %d %s", resp.StatusCode, resp.Body)
		}
	}

	// 5. The long-poll answered with the final state.
	var final payment.Payment
	select {
	case resp = <-polled:
	case <-time.After(40 * time.Second):
		t.Fatal("long-poll not answered")
	}
	if err := json.Unmarshal(resp.Body, &final); err != nil || !final.State.Final() || final.Processed == nil || final.ExtPaymentDetails == nil {
		t.Fatalf("long-poll answer %s (%v)", resp.Body, err)
	}

	// 6. relay-outbox finds nothing left to publish.
	resp = call(t, relayoutbox.Handle, http.MethodPost, "", http.Header{"X-Connector": {"cron-connector"}}, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(resp.Body), `"published":0`) {
		t.Fatalf("relay: %d %s", resp.StatusCode, resp.Body)
	}
	_ = kafka
}

func processPayment(t *testing.T, req handler.Request) handler.Response {
	t.Helper()
	resp, err := processpayment.Handle(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if strings.EqualFold(h.Key, key) {
			return string(h.Value)
		}
	}
	return ""
}
