package gateway

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/uuid"

	"handler/function/functions/pkg/events"
	"handler/function/functions/pkg/eventsig"
	"handler/function/functions/pkg/payment"
)

// tapRecord is a Kafka record as the connector's tap hands it over.
type tapRecord struct {
	topic   string
	key     []byte
	value   []byte
	headers []header
}

type header struct {
	key   string
	value []byte
}

// publishTapRecord does what the runner's tap does with each record.
func publishTapRecord(hub *Events, r tapRecord, offset int64, ts time.Time) {
	headers := make(map[string]string, len(r.headers))
	for _, h := range r.headers {
		headers[h.key] = string(h.value)
	}
	hub.Publish(EventFromRecord(r.topic, 0, offset, r.key, r.value, headers, ts))
}

// tapRecords returns n records as the stack writes them: for each payment a
// signed "created" event on payments and a signed "processed" event on
// paymentsResults, in structured mode.
func tapRecords(tb testing.TB, n int) []tapRecord {
	tb.Helper()
	keys := eventsig.MustNew("bench-key-0123456789abcdef0123456789abcdef")
	amount, err := payment.ParseAmount("1234.56")
	if err != nil {
		tb.Fatal(err)
	}
	structured := []header{{"content-type", []byte("application/cloudevents+json")}}
	var recs []tapRecord
	for len(recs) < n {
		now := time.Now().UTC()
		p := payment.Payment{ID: uuid.New(), UserID: uuid.New(), AccountNumber: "40817810099910004312",
			Amount: amount, Description: "rent for November", State: payment.Pending, Created: now}
		created, processed := events.Created(p), events.Processed(payment.Result{
			PaymentID: p.ID, Success: true, Details: "accepted by provider", Processed: now.Add(14 * time.Second)})
		for _, ev := range []struct {
			topic string
			e     *cloudevents.Event
		}{{"payments", &created}, {"paymentsResults", &processed}} {
			topic, e := ev.topic, ev.e
			keys.Sign(e)
			value, err := json.Marshal(e)
			if err != nil {
				tb.Fatal(err)
			}
			recs = append(recs, tapRecord{topic: topic, key: []byte(p.ID.String()), value: value, headers: structured})
		}
	}
	return recs[:n]
}

// BenchmarkTap is the cost of one Kafka record in the event hub: what the
// connector's tap pays for every record of every topic.
func BenchmarkTap(b *testing.B) {
	recs := tapRecords(b, 1024)
	b.Logf("created event: %d bytes", len(recs[0].value))
	for _, bc := range []struct {
		name string
		user string // the subscriber's filter; "-" for no subscriber
	}{
		{"subscribers=0", "-"},
		{"subscribers=1/admin", ""},
		{"subscribers=1/other-user", "00000000-0000-4000-8000-000000000000"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			hub := NewEvents(DefaultEventHistory, discardLogger())
			var sub *subscription
			if bc.user != "-" {
				_, sub = hub.subscribe("", bc.user)
				defer hub.unsubscribe(sub)
			}
			ts := time.Now()
			var key []byte
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				// A new payment every two records, as at a steady rate of
				// creates: its id ends in the payment's number.
				r := recs[i%len(recs)]
				var n [8]byte
				binary.BigEndian.PutUint64(n[:], uint64(i/2))
				key = hex.AppendEncode(append(key[:0], r.key[:24]...), n[2:])
				r.key = key
				publishTapRecord(hub, r, int64(i), ts)
				if sub != nil {
					select {
					case <-sub.ch:
					default:
					}
				}
				i++
			}
		})
	}
}
