package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
)

// hubRecord is a Kafka record as the runner's tap hands it to the hub.
type hubRecord struct {
	topic   string
	key     []byte
	value   []byte
	headers map[string]string
}

func (r hubRecord) event(offset int64) Event {
	return EventFromRecord(r.topic, int32(offset%3), offset, r.key, r.value, r.headers, recordTime)
}

// hubRecords are records of every kind the feed reads, in an order that
// exercises ownership: a created event names its user, the later events of
// its payment (a result, a dead letter, a plain record) get it by key. users
// is the user each record is filed under, "A" and "B" standing for the two
// users of the stack's own events.
func hubRecords(t *testing.T) (recs []hubRecord, users []string) {
	t.Helper()
	structured := map[string]string{"content-type": "application/cloudevents+json"}
	for _, r := range tapRecords(t, 4) {
		recs = append(recs, hubRecord{topic: r.topic, key: r.key, value: r.value, headers: structured})
	}
	user := func(u string) []byte {
		return fmt.Appendf(nil, `{"specversion":"1.0","id":"e-%s","type":"t","source":"s","data":{"userId":%q}}`, u, u)
	}
	recs = append(recs,
		hubRecord{"payments", []byte("pay-x"), []byte(`{"specversion":"1.0","ID":"e","type":"t","source":"s","data":{"userId":"Upper-X"}}`), structured},
		hubRecord{"payments.dlq", []byte("pay-x"), []byte("poison"), map[string]string{"dlq-reason": "gave up"}},
		hubRecord{"paymentsResults", []byte("pay-x"), []byte(`{"success":true}`), map[string]string{
			"ce_specversion": "1.0", "CE_ID": "r", "ce_type": "t", "ce_source": "s"}},
		hubRecord{"payments", []byte("pay-y"), user("Y-1"), map[string]string{"Content-Type": "application/cloudevents+json; charset=utf-8"}},
		hubRecord{"payments", []byte("pay-y"), user("y-2"), structured}, // a new owner
		hubRecord{"payments", []byte("pay-y"), user("Y-2"), structured}, // the same one
		hubRecord{"paymentsResults", []byte("pay-y"), []byte(`{"specversion":"1.0"}`), structured},
		hubRecord{"payments", nil, user("nokey"), structured},
		hubRecord{"payments", []byte{0xff, 0x00}, user("binary-key"), structured},
		hubRecord{"paymentsResults", []byte{0xff, 0x00}, []byte("plain"), nil},
		hubRecord{"payments", []byte("pay-z"), []byte(`{"specversion":"1.0","id":"e","type":"t","source":"s","data":{"userId":"z"}} trailing`), structured},
	)
	users = []string{"A", "A", "B", "B", "upper-x", "upper-x", "upper-x", "y-1", "y-2", "y-2", "y-2", "nokey", "binary-key", "binary-key", ""}
	return recs, users
}

// replayOf is every message a new subscriber for user gets from hub.
func replayOf(hub *Events, user string) []message {
	replay, sub := hub.subscribe("", user)
	hub.unsubscribe(sub)
	return replay
}

// TestHubSendsEventsAsEncodingJSONWritesThem checks the feed's wire format
// (an Event as json.Marshal writes it, with the user the hub filed it under)
// and the filing: by the data's userId, or by key for events without one.
func TestHubSendsEventsAsEncodingJSONWritesThem(t *testing.T) {
	recs, users := hubRecords(t)
	hub := NewEvents(100, discardLogger())
	for i, r := range recs {
		hub.Publish(r.event(int64(i)))
	}
	got := replayOf(hub, "")
	if len(got) != len(recs) {
		t.Fatalf("replayed %d events, want %d", len(got), len(recs))
	}
	stack := map[string]string{"A": got[0].user, "B": got[2].user}
	if stack["A"] == "" || stack["B"] == "" || stack["A"] == stack["B"] {
		t.Fatalf("the stack's events are filed under %q and %q, want two users", stack["A"], stack["B"])
	}
	for i, msg := range got {
		want := users[i]
		if u, ok := stack[want]; ok {
			want = u
		}
		ev := recs[i].event(int64(i))
		ev.UserID = want
		wire, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		if msg.user != want || !bytes.Equal(msg.data, wire) {
			t.Errorf("record %d:\n%s (user %q)\nwant\n%s (user %q)", i, msg.data, msg.user, wire, want)
		}
	}
	// Each user's replay is exactly their events, in order.
	for _, u := range append(users[4:], stack["A"], stack["B"]) {
		if u == "" {
			continue
		}
		var want []message
		for _, msg := range got {
			if msg.user == u {
				want = append(want, msg)
			}
		}
		mine := replayOf(hub, u)
		if len(mine) != len(want) {
			t.Errorf("user %q: %d events, want %d", u, len(mine), len(want))
			continue
		}
		for i := range mine {
			if mine[i].id != want[i].id || !bytes.Equal(mine[i].data, want[i].data) {
				t.Errorf("user %q, event %d: %s, want %s", u, i, mine[i].data, want[i].data)
			}
		}
	}
}

func TestHubEncodesOnlyWhatIsWatched(t *testing.T) {
	recs, _ := hubRecords(t)
	recs = recs[:4] // two payments, two users
	hub := NewEvents(100, discardLogger())
	for i, r := range recs {
		hub.Publish(r.event(int64(i)))
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
	for i, r := range recs {
		hub.Publish(r.event(int64(i)))
	}
	if len(mine.ch) != 2 || encoded() != 2 {
		t.Errorf("subscriber got %d events, %d encoded; want 2 and 2", len(mine.ch), encoded())
	}
}

func TestPublishDropsAnUnencodableTimestamp(t *testing.T) {
	recs, _ := hubRecords(t)
	ev := recs[0].event(0)
	ev.Timestamp = recordTime.AddDate(10_000, 0, 0)
	hub := NewEvents(10, discardLogger())
	hub.Publish(ev)
	if n := len(replayOf(hub, "")); n != 0 {
		t.Errorf("%d events after a record from the year 12026, want none", n)
	}
}

// The tap reads partitions from several brokers at once, so a payment's result
// can reach the hub before its creation. The result is then filed under nobody
// until the creation names the user; from then on it is that user's: a
// subscriber of theirs gets it after the creation, and a replay holds both.
func TestHubFilesAResultThatCameBeforeItsCreation(t *testing.T) {
	structured := map[string]string{"content-type": "application/cloudevents+json"}
	created := hubRecord{"payments", []byte("pay-1"), []byte(`{"specversion":"1.0","id":"c","type":"created","source":"s","data":{"userId":"u-1"}}`), structured}
	result := hubRecord{"paymentsResults", []byte("pay-1"), []byte(`{"specversion":"1.0","id":"r","type":"processed","source":"s","data":{"success":true}}`), structured}
	other := hubRecord{"payments", []byte("pay-2"), []byte(`{"specversion":"1.0","id":"o","type":"created","source":"s","data":{"userId":"u-2"}}`), structured}
	hub := NewEvents(100, discardLogger())
	_, live := hub.subscribe("", "u-1")
	_, admin := hub.subscribe("", "")
	hub.Publish(result.event(0))
	hub.Publish(other.event(1))
	hub.Publish(created.event(2))

	types := func(msgs []message) (got []string) {
		for _, m := range msgs {
			var ev Event
			if err := json.Unmarshal(m.data, &ev); err != nil || ev.CloudEvent == nil {
				t.Fatalf("message %s: %v", m.data, err)
			}
			if ev.UserID != m.user {
				t.Errorf("message %s is filed under %q", m.data, m.user)
			}
			got = append(got, ev.CloudEvent.Type+"/"+m.user)
		}
		return got
	}
	var gotLive []message
	for len(live.ch) > 0 {
		gotLive = append(gotLive, <-live.ch)
	}
	if got := fmt.Sprint(types(gotLive)); got != "[created/u-1 processed/u-1]" {
		t.Fatalf("the user's live stream: %s", got)
	}
	if n := len(admin.ch); n != 3 {
		t.Fatalf("the admin's stream got %d events, want each once: 3", n)
	}
	if got := fmt.Sprint(types(replayOf(hub, "u-1"))); got != "[processed/u-1 created/u-1]" {
		t.Fatalf("the user's replay: %s", got)
	}
	if got := fmt.Sprint(types(replayOf(hub, "u-2"))); got != "[created/u-2]" {
		t.Fatalf("another user's replay: %s", got)
	}
}
