//go:build integration

package functions_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	handler "github.com/openfaas/templates-sdk/go-http"

	"handler/function/functions/pkg/events"
	"handler/function/functions/pkg/functest"
	"handler/function/functions/pkg/payment"
	"handler/function/functions/pkg/postgres"
	"handler/function/local/testenv"
)

// The real adapters must turn a dead Postgres or Kafka into 503 with
// Retry-After, so that the connector retries instead of dead-lettering.
func TestUnreachableDependenciesAnswer503(t *testing.T) {
	deadPort := testenv.MustFreePort(t)
	deadDB := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/payments?sslmode=disable", deadPort)
	ctx := context.Background()

	t.Run("postgres: get, list and update", func(t *testing.T) {
		s, err := postgres.Open(ctx, postgres.Config{URL: deadDB, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		_, err = s.GetPayment(ctx, uuid.New(), uuid.New())
		wantUnavailable(t, err)
		_, err = s.ListPayments(ctx, uuid.New(), 10)
		wantUnavailable(t, err)
		_, err = s.UpdatePayment(ctx, uuid.New(), func(*payment.Payment) error { return nil })
		wantUnavailable(t, err)
		waitCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, _, err = s.Subscribe(waitCtx, uuid.New())
		wantUnavailable(t, err)
	})

	t.Run("kafka: process-payment", func(t *testing.T) {
		// Only this subtest builds process-payment's dependencies in this process.
		t.Setenv("KAFKA_BROKERS", fmt.Sprintf("127.0.0.1:%d", deadPort))
		t.Setenv("PAYMENT_PROVIDER_MIN_DELAY", "0")
		t.Setenv("PAYMENT_PROVIDER_MAX_DELAY", "0")
		t.Setenv("OPENFAAS_SECRETS_DIR", functest.MustSecretsDir(t))
		p := payment.New(uuid.New(), payment.Request{UserID: uuid.New(), AccountNumber: "1", Amount: 100, Description: ""}, time.Now())
		body, err := functest.Signed(events.Created(p)).MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		reqCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		req := handler.Request{Method: http.MethodPost, Header: http.Header{"Content-Type": {"text/plain"}}, Body: body}
		req.WithContext(reqCtx)
		resp := processPayment(t, req)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("process-payment with Kafka down: %d %s", resp.StatusCode, resp.Body)
		}
		if !strings.Contains(string(resp.Body), `"unavailable"`) {
			t.Fatalf("body %s", resp.Body)
		}
	})
}

func wantUnavailable(t *testing.T, err error) {
	t.Helper()
	if code := payment.ErrorCode(err); code != payment.EUNAVAILABLE {
		t.Fatalf("error %v has code %q, want unavailable", err, code)
	}
}
