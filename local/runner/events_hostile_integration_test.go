//go:build integration

package runner_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"handler/function/functions/pkg/payment"
	"handler/function/local/connector"
)

// forgedDetails marks every forged result, so a payment that took one is easy to spot.
const forgedDetails = "forged by the hostile test"

// testForgedEvents plays someone who can reach the gateway or the brokers and
// tries to settle a payment: forged "processed" events over HTTP (structured,
// binary, and through the async queue) are answered 401 and change nothing;
// one produced onto paymentsResults is dead-lettered with the reason, while the
// provider's real result still applies.
func testForgedEvents(t *testing.T, f *fixture) {
	t.Run("over HTTP: 401 in every mode, the payment keeps its real result", func(t *testing.T) {
		users := f.createMany(t, 1, 1)
		p := f.mustPaymentOf(t, users[0])
		structured, data := forgedProcessed(t, p)
		binary := http.Header{
			"Content-Type":   {"application/json"},
			"Ce-Specversion": {"1.0"},
			"Ce-Id":          {uuid.NewString()},
			"Ce-Source":      {"/functions/process-payment"},
			"Ce-Type":        {payment.EventProcessed},
			"Ce-Subject":     {p.ID.String()},
		}
		// A signature in the right shape, but not one the stack made.
		badlySigned := binary.Clone()
		badlySigned.Set("Ce-Signature", "v1:00000000:"+strings.Repeat("A", 43))

		for name, req := range map[string]struct {
			header http.Header
			body   []byte
		}{
			"structured":                 {http.Header{"Content-Type": {"application/cloudevents+json"}}, structured},
			"structured as text/plain":   {http.Header{"Content-Type": {"text/plain"}}, structured},
			"binary":                     {binary, data},
			"binary with a forged value": {badlySigned, data},
		} {
			status, body := f.post(t, "/function/apply-result", req.header, req.body)
			if status != http.StatusUnauthorized || !strings.Contains(string(body), `"code":"unauthorized"`) {
				t.Errorf("%s: %d %s, want 401 unauthorized", name, status, body)
			}
		}

		// The async path answers 202 at once; the function's answer goes to the callback.
		// The gateway queues only calls that carry the API key: even a key holder
		// cannot get a forged event past the function.
		callbacks := make(chan string, 1)
		cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			callbacks <- r.Header.Get("X-Function-Status") + " " + string(body)
		}))
		defer cb.Close()
		status, body := f.post(t, "/async-function/apply-result",
			http.Header{"Content-Type": {"application/cloudevents+json"}, "X-Callback-Url": {cb.URL},
				"Authorization": {"Bearer " + f.stack.APIKey}}, structured)
		if status != http.StatusAccepted {
			t.Fatalf("async: %d %s, want 202", status, body)
		}
		select {
		case got := <-callbacks:
			if !strings.HasPrefix(got, "401 ") || !strings.Contains(got, `"code":"unauthorized"`) {
				t.Errorf("async: the function answered %s, want 401 unauthorized", got)
			}
		case <-time.After(time.Minute):
			t.Fatal("async: no callback within a minute")
		}

		// A forged "created" event for process-payment is refused the same way.
		created := fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"/functions/create-payment","type":%q,"subject":%q,"datacontenttype":"application/json","data":{"paymentId":%q,"userId":%q,"accountNumber":"1","amount":"1.00","description":"","state":"pending","created":%q,"processed":null,"extPaymentDetails":null}}`,
			uuid.NewString(), payment.EventCreated, p.ID, p.ID, p.UserID, p.Created.Format(time.RFC3339Nano))
		if status, body := f.post(t, "/function/process-payment", http.Header{"Content-Type": {"text/plain"}}, []byte(created)); status != http.StatusUnauthorized {
			t.Errorf("forged created event: %d %s, want 401", status, body)
		}

		f.waitFinal(t, users, 1)
		f.assertNotForged(t, p.ID)
		f.assertAppliedOnce(t, users)
	})

	t.Run("on the topic: dead-lettered with the reason, the real result still applies", func(t *testing.T) {
		users := f.createMany(t, 1, 1)
		p := f.mustPaymentOf(t, users[0])
		forged, _ := forgedProcessed(t, p)
		cl, err := kgo.NewClient(kgo.SeedBrokers(f.stack.Brokers...))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		rec := &kgo.Record{Topic: "paymentsResults", Key: []byte(p.ID.String()), Value: forged,
			Headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte("application/cloudevents+json")}}}
		if err := cl.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
			t.Fatal(err)
		}

		deadline := time.Now().Add(time.Minute)
		for {
			letters, err := connector.ListDeadLetters(context.Background(), f.stack.Brokers, "paymentsResults.dlq")
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, l := range letters {
				if string(l.Key) != p.ID.String() || !strings.Contains(string(l.Value), forgedDetails) {
					continue
				}
				if l.Status != http.StatusUnauthorized || l.Function != "apply-result" || l.Attempts != 1 ||
					!strings.Contains(l.Reason, "signature") {
					t.Fatalf("dead letter %+v: want status 401 from apply-result after 1 attempt, a reason naming the signature", l)
				}
				t.Logf("dead-letter reason: %s", l.Reason)
				found = true
			}
			if found {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the forged result is not in paymentsResults.dlq (%d letters)", len(letters))
			}
			time.Sleep(200 * time.Millisecond)
		}
		f.waitFinal(t, users, 1)
		f.assertNotForged(t, p.ID)
		// assertAppliedOnce would count the forged record among the results
		// published for the payment; count the applications instead.
		if n := f.appliedCounts(t)[p.ID.String()]; n != 1 {
			t.Fatalf("payment %s was applied %d times, want once", p.ID, n)
		}
	})
}

// forgedProcessed returns a structured "processed" event that completes p with
// forgedDetails, as an attacker without the key would write it, and its data.
func forgedProcessed(t *testing.T, p payment.Payment) (event, data []byte) {
	t.Helper()
	data, err := json.Marshal(payment.Result{PaymentID: p.ID, Success: true, Details: forgedDetails, Processed: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	e := map[string]any{
		"specversion": "1.0", "id": uuid.NewString(), "source": "/functions/process-payment",
		"type": payment.EventProcessed, "subject": p.ID.String(), "partitionkey": p.ID.String(),
		"datacontenttype": "application/json", "data": json.RawMessage(data),
	}
	event, err = json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return event, data
}

// mustPaymentOf reads the one payment of user straight from the database.
func (f *fixture) mustPaymentOf(t *testing.T, user uuid.UUID) payment.Payment {
	t.Helper()
	p := payment.Payment{UserID: user}
	if err := f.db.QueryRow(context.Background(), `SELECT payment_id, created FROM payments WHERE user_id = $1`, user).Scan(&p.ID, &p.Created); err != nil {
		t.Fatal(err)
	}
	return p
}

// assertNotForged fails if the payment holds a forged result.
func (f *fixture) assertNotForged(t *testing.T, id uuid.UUID) {
	t.Helper()
	var details *string
	if err := f.db.QueryRow(context.Background(), `SELECT ext_payment_details FROM payments WHERE payment_id = $1`, id).Scan(&details); err != nil {
		t.Fatal(err)
	}
	if details != nil && *details == forgedDetails {
		t.Fatalf("payment %s took the forged result", id)
	}
}

// post sends one POST through the gateway with the given headers.
func (f *fixture) post(t *testing.T, path string, header http.Header, body []byte) (int, []byte) {
	t.Helper()
	return f.send(t, http.MethodPost, path, header, body)
}
