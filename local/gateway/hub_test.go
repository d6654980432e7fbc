package gateway

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
)

// hubRecords are records of every kind the feed reads, in an order that
// exercises ownership: a created event names its user, the later events of
// its payment (a result, a dead letter, a plain record) get it by key.
func hubRecords(t *testing.T) []Record {
	t.Helper()
	structured := []RecordHeader{{"content-type", []byte("application/cloudevents+json")}}
	var recs []Record
	for _, r := range tapRecords(t, 4) {
		recs = append(recs, Record{Topic: r.topic, Key: r.key, Value: r.value, Headers: structured})
	}
	user := func(u string) []byte {
		return fmt.Appendf(nil, `{"specversion":"1.0","id":"e-%s","type":"t","source":"s","data":{"userId":%q}}`, u, u)
	}
	recs = append(recs,
		// Left to encoding/json: the key differs in case.
		Record{Topic: "payments", Key: []byte("pay-x"), Value: []byte(`{"specversion":"1.0","ID":"e","type":"t","source":"s","data":{"userId":"Upper-X"}}`), Headers: structured},
		Record{Topic: "payments.dlq", Key: []byte("pay-x"), Value: []byte("poison"), Headers: []RecordHeader{{"dlq-reason", []byte("gave up")}}},
		Record{Topic: "paymentsResults", Key: []byte("pay-x"), Value: []byte(`{"success":true}`), Headers: []RecordHeader{
			{"ce_specversion", []byte("1.0")}, {"CE_ID", []byte("r")}, {"ce_type", []byte("t")}, {"ce_source", []byte("s")}}},
		Record{Topic: "payments", Key: []byte("pay-y"), Value: user("Y-1"), Headers: []RecordHeader{{"Content-Type", []byte("application/cloudevents+json; charset=utf-8")}}},
		Record{Topic: "payments", Key: []byte("pay-y"), Value: user("y-2"), Headers: structured}, // a new owner
		Record{Topic: "payments", Key: []byte("pay-y"), Value: user("Y-2"), Headers: structured}, // the same one
		Record{Topic: "paymentsResults", Key: []byte("pay-y"), Value: []byte(`{"specversion":"1.0"}`), Headers: structured},
		Record{Topic: "payments", Key: nil, Value: user("nokey"), Headers: structured},
		Record{Topic: "payments", Key: []byte{0xff, 0x00}, Value: user("binary-key"), Headers: structured},
		Record{Topic: "paymentsResults", Key: []byte{0xff, 0x00}, Value: []byte("plain")},
		Record{Topic: "payments", Key: []byte("pay-z"), Value: []byte(`{"specversion":"1.0","id":"e","type":"t","source":"s","data":{"userId":"z"}} trailing`), Headers: structured},
	)
	for i := range recs {
		recs[i].Offset = int64(i)
		recs[i].Partition = int32(i % 3)
		recs[i].Timestamp = recordTime
	}
	return recs
}

// replayOf is every message a new subscriber for user gets from hub.
func replayOf(hub *Events, user string) []message {
	replay, sub := hub.subscribe("", user)
	hub.unsubscribe(sub)
	return replay
}

func TestPublishRecordSendsWhatEventFromRecordDescribes(t *testing.T) {
	recs := hubRecords(t)
	lazy, eager := NewEvents(100, discardLogger()), NewEvents(100, discardLogger())
	for _, r := range recs {
		lazy.PublishRecord(r)
		headers := map[string]string{}
		for _, h := range r.Headers {
			headers[h.Key] = string(h.Value)
		}
		eager.Publish(EventFromRecord(r.Topic, r.Partition, r.Offset, r.Key, r.Value, headers, r.Timestamp))
	}
	got, want := replayOf(lazy, ""), replayOf(eager, "")
	if len(got) != len(recs) || len(want) != len(recs) {
		t.Fatalf("replayed %d and %d events, want %d", len(got), len(want), len(recs))
	}
	users := map[string]bool{}
	for i := range got {
		if !bytes.Equal(got[i].data, want[i].data) || got[i].user != want[i].user {
			t.Errorf("record %d:\n%s (user %q)\nwant\n%s (user %q)", i, got[i].data, got[i].user, want[i].data, want[i].user)
		}
		users[got[i].user] = true
	}
	for _, u := range []string{"upper-x", "y-2", "nokey", "binary-key"} {
		if !users[u] {
			t.Errorf("no event of user %q in %v", u, users)
		}
	}
	// Each user's replay is their events, and the same from both hubs.
	for u := range users {
		if u == "" {
			continue
		}
		got, want := replayOf(lazy, u), replayOf(eager, u)
		if len(got) == 0 || len(got) != len(want) {
			t.Errorf("user %q: %d events, want %d", u, len(got), len(want))
		}
		for i := range min(len(got), len(want)) {
			if got[i].user != u || !bytes.Equal(got[i].data, want[i].data) {
				t.Errorf("user %q, event %d: %s of %q, want %s", u, i, got[i].data, got[i].user, want[i].data)
			}
		}
	}
}

func TestPublishRecordEncodesOnlyWhatIsWatched(t *testing.T) {
	recs := hubRecords(t)[:4] // two payments, two users
	hub := NewEvents(100, discardLogger())
	for _, r := range recs {
		hub.PublishRecord(r)
	}
	encoded := func() (n int) {
		for _, s := range hub.history[:hub.count] {
			if s.msg.data != nil {
				n++
			}
		}
		return n
	}
	if n := encoded(); n != 0 {
		t.Fatalf("%d events encoded with nobody watching, want 0", n)
	}
	user := replayOf(hub, "")[0].user
	if n := len(replayOf(hub, user)); n != 2 || encoded() != 4 {
		t.Fatalf("replay of one user: %d events, %d encoded", n, encoded())
	}

	// Live: an event goes out encoded once, to its user's subscriber only.
	hub = NewEvents(100, discardLogger())
	_, mine := hub.subscribe("", user)
	defer hub.unsubscribe(mine)
	for _, r := range recs {
		hub.PublishRecord(r)
	}
	if len(mine.ch) != 2 || encoded() != 2 {
		t.Errorf("subscriber got %d events, %d encoded; want 2 and 2", len(mine.ch), encoded())
	}
}

func TestPublishRecordKeepsACopy(t *testing.T) {
	r := hubRecords(t)[0]
	r.Key, r.Value = slices.Clone(r.Key), slices.Clone(r.Value)
	hub := NewEvents(10, discardLogger())
	hub.PublishRecord(r)
	want := replayOf(NewEventsWith(t, r), "")[0].data
	// The Kafka client reuses or frees its buffers after the call.
	clear(r.Key)
	clear(r.Value)
	if got := replayOf(hub, "")[0].data; !bytes.Equal(got, want) {
		t.Errorf("after the record's buffers changed:\n%s\nwant\n%s", got, want)
	}
}

// NewEventsWith is a hub holding records.
func NewEventsWith(tb testing.TB, recs ...Record) *Events {
	tb.Helper()
	hub := NewEvents(len(recs), discardLogger())
	for _, r := range recs {
		hub.PublishRecord(r)
	}
	return hub
}

func TestSlotBuffersStayBounded(t *testing.T) {
	buf := reuse(nil, make([]byte, 1<<20))
	if small := reuse(buf, []byte("small")); cap(small) >= 1<<20 || string(small) != "small" {
		t.Errorf("a megabyte buffer reused for 5 bytes: cap %d", cap(small))
	}
	buf = reuse(nil, make([]byte, 700))
	if again := reuse(buf, make([]byte, 650)); &again[0] != &buf[0] {
		t.Error("a 700-byte buffer was not reused for 650 bytes")
	}
}

func TestPublishRecordDropsAnUnencodableTimestamp(t *testing.T) {
	r := hubRecords(t)[0]
	r.Timestamp = recordTime.AddDate(10_000, 0, 0)
	hub := NewEventsWith(t, r)
	if n := len(replayOf(hub, "")); n != 0 {
		t.Errorf("%d events after a record from the year 12026, want none", n)
	}
}
