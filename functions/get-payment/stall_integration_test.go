//go:build integration

package function

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	handler "github.com/openfaas/templates-sdk/go-http"

	"handler/function/functions/pkg/functest"
	"handler/function/functions/pkg/storetest"
	"handler/function/local/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

// A frozen Postgres (every process SIGSTOPped) gets a read, a long-poll and a
// list each a 503 with Retry-After within seconds, well inside the function's
// timeout, and the reads work again after the thaw.
func TestFrozenDatabaseAnswers503InSeconds(t *testing.T) {
	db := testenv.MustDatabaseEnv(t)
	t.Setenv("OPENFAAS_SECRETS_DIR", t.TempDir())
	s, err := newService()
	if err != nil {
		t.Fatal(err)
	}
	p := storetest.MustPayment(t, uuid.New(), "10", time.Now())
	storetest.MustCreate(t, db, p)
	get := func(query string) handler.Response {
		return s.handle(context.Background(), handler.Request{Method: http.MethodGet, QueryString: query, Header: http.Header{}})
	}
	one := url.Values{"id": {p.ID.String()}, "userId": {p.UserID.String()}}.Encode()
	queries := map[string]string{"get": one, "long-poll": one + "&wait=20", "list": "userId=" + p.UserID.String()}
	// Before the stall: a pooled connection, and the long-polls' LISTEN connection.
	for name, q := range map[string]string{"get": one, "long-poll": one + "&wait=1"} {
		if resp := get(q); resp.StatusCode != http.StatusOK {
			t.Fatalf("%s before the stall: %d %s", name, resp.StatusCode, resp.Body)
		}
	}

	thaw := testenv.MustFreezePostgres(t)
	var mu sync.Mutex
	took := map[string]time.Duration{}
	var wg sync.WaitGroup
	for name, q := range queries {
		wg.Go(func() {
			d := functest.WantUnavailableWithin(t, functest.StallBound, func() handler.Response { return get(q) })
			mu.Lock()
			took[name] = d
			mu.Unlock()
		})
	}
	wg.Wait()
	t.Logf("503 after %v", took)
	thaw()
	if t.Failed() {
		return
	}
	queries["long-poll"] = one + "&wait=1" // still pending: it answers when the wait is over
	for name, q := range queries {
		if resp := get(q); resp.StatusCode != http.StatusOK {
			t.Fatalf("%s after the thaw: %d %s", name, resp.StatusCode, resp.Body)
		}
	}
}
