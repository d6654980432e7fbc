//go:build integration

package function

import (
	"context"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	handler "github.com/openfaas/templates-sdk/go-http"

	"handler/function/functions/pkg/events"
	"handler/function/functions/pkg/functest"
	"handler/function/functions/pkg/payment"
	"handler/function/functions/pkg/storetest"
	"handler/function/local/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

// A frozen Postgres (every process SIGSTOPped) gets a result a 503 with
// Retry-After within seconds, which the connector retries. The stalled
// attempt may or may not have committed; either way the redelivery after
// the thaw leaves the payment with this result, applied once.
func TestFrozenDatabaseAnswers503InSeconds(t *testing.T) {
	db := testenv.MustDatabaseEnv(t)
	t.Setenv("OPENFAAS_SECRETS_DIR", functest.MustSecretsDir(t))
	s, err := newService()
	if err != nil {
		t.Fatal(err)
	}
	apply := func(p payment.Payment, processed time.Time) handler.Response {
		e := functest.Signed(events.Processed(payment.Result{PaymentID: p.ID, Success: true, Details: "ok", Processed: processed}))
		return s.handle(context.Background(), functest.MustStructuredRequest(t, e, "text/plain"))
	}
	before, stalled := storetest.MustPayment(t, uuid.New(), "10", time.Now()), storetest.MustPayment(t, uuid.New(), "10", time.Now())
	storetest.MustCreate(t, db, before)
	storetest.MustCreate(t, db, stalled)
	if resp := apply(before, time.Now()); resp.StatusCode != http.StatusOK { // the pool now holds a connection
		t.Fatalf("apply before the stall: %d %s", resp.StatusCode, resp.Body)
	}
	processed := time.Now().UTC().Truncate(time.Microsecond)

	thaw := testenv.MustFreezePostgres(t)
	took := functest.WantUnavailableWithin(t, functest.StallBound, func() handler.Response { return apply(stalled, processed) })
	t.Logf("503 after %s", took)
	thaw()
	if t.Failed() {
		return
	}
	for range 2 { // the connector's redelivery, then a duplicate
		if resp := apply(stalled, processed); resp.StatusCode != http.StatusOK {
			t.Fatalf("redelivery after the thaw: %d %s", resp.StatusCode, resp.Body)
		}
	}
	got, err := db.GetPayment(context.Background(), stalled.ID, stalled.UserID)
	if err != nil || got.State != payment.Completed || got.Processed == nil || !got.Processed.Equal(processed) {
		t.Fatalf("after the thaw: %+v, %v", got, err)
	}
}
