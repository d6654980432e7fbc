package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

var recordTime = time.Date(2026, 11, 25, 15, 4, 5, 123_000_000, time.FixedZone("CET", 3600))

func TestEventFromRecordStructured(t *testing.T) {
	value := `{"specversion":"1.0","id":"ev-1","type":"dev.paymentpet.payment.created.v1",
		"source":"/functions/create-payment","subject":"pay-1","time":"2026-11-25T14:04:05Z",
		"datacontenttype":"application/json","data":{"paymentId":"pay-1"}}`
	ev := EventFromRecord("payments", 1, 42, []byte("pay-1"), []byte(value),
		map[string]string{"content-type": "application/cloudevents+json; charset=UTF-8"}, recordTime)

	got, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"topic":"payments","partition":1,"offset":42,"key":"pay-1","timestamp":"2026-11-25T14:04:05.123Z",` +
		`"cloudEvent":{"id":"ev-1","type":"dev.paymentpet.payment.created.v1","source":"/functions/create-payment",` +
		`"subject":"pay-1","time":"2026-11-25T14:04:05Z"}}`
	if string(got) != want {
		t.Errorf("JSON =\n%s\nwant\n%s", got, want)
	}
}

func TestEventFromRecordBinary(t *testing.T) {
	headers := map[string]string{
		"ce_specversion": "1.0",
		"ce_id":          "ev-2",
		"ce_type":        "dev.paymentpet.payment.processed.v1",
		"ce_source":      "/functions/process-payment",
		"CE_Subject":     "pay-2", // case differs: still found
		"content-type":   "application/json",
	}
	ev := EventFromRecord("paymentsResults", 0, 7, []byte("pay-2"), []byte(`{"success":true}`), headers, recordTime)
	want := CloudEvent{ID: "ev-2", Type: "dev.paymentpet.payment.processed.v1", Source: "/functions/process-payment", Subject: "pay-2"}
	if ev.CloudEvent == nil || *ev.CloudEvent != want {
		t.Errorf("cloudEvent = %+v, want %+v", ev.CloudEvent, want)
	}
}

func TestEventFromRecordNotACloudEvent(t *testing.T) {
	cases := []struct {
		name    string
		value   string
		headers map[string]string
	}{
		{"plain JSON", `{"specversion":"1.0","id":"x","type":"t","source":"s"}`, nil},
		{"text", "hello", map[string]string{"content-type": "text/plain"}},
		{"structured but broken", `{"specversion":`, map[string]string{"content-type": "application/cloudevents+json"}},
		{"structured without id", `{"specversion":"1.0","type":"t","source":"s"}`, map[string]string{"content-type": "application/cloudevents+json"}},
		{"batch", `[{"specversion":"1.0","id":"x","type":"t","source":"s"}]`, map[string]string{"content-type": "application/cloudevents-batch+json"}},
		{"binary without type", "{}", map[string]string{"ce_specversion": "1.0", "ce_id": "x", "ce_source": "s"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev := EventFromRecord("payments.dlq", 2, 3, nil, []byte(tc.value), tc.headers, recordTime)
			if ev.CloudEvent != nil {
				t.Errorf("cloudEvent = %+v, want nil", ev.CloudEvent)
			}
			got, _ := json.Marshal(ev)
			if !strings.HasSuffix(string(got), `"cloudEvent":null}`) || !strings.Contains(string(got), `"key":""`) {
				t.Errorf("JSON = %s, want empty key and cloudEvent null", got)
			}
		})
	}
}

func TestEventFromRecordBinaryKey(t *testing.T) {
	ev := EventFromRecord("payments", 0, 0, []byte{0xff, 0x00, 0x01}, nil, nil, recordTime)
	if ev.Key != "/wAB" {
		t.Errorf("key = %q, want base64 /wAB", ev.Key)
	}
}

func testEvent(offset int64) Event {
	return Event{Topic: "payments", Partition: 0, Offset: offset, Key: "k", Timestamp: recordTime}
}

func TestSlowSubscriberDoesNotBlockPublish(t *testing.T) {
	hub := NewEvents(10, discardLogger())
	_, slow := hub.subscribe("", "") // never read

	published := make(chan struct{})
	go func() {
		defer close(published)
		for i := range subscriberBuffer * 3 {
			hub.Publish(testEvent(int64(i)))
		}
	}()
	MustReceive(t, published, "end of publishing")

	// The slow subscriber got what fitted, then was disconnected.
	n := 0
	for range slow.ch {
		n++
	}
	if n != subscriberBuffer {
		t.Errorf("slow subscriber received %d events before being cut off, want %d", n, subscriberBuffer)
	}
	hub.unsubscribe(slow) // harmless after the hub's own disconnect

	replay, sub := hub.subscribe("", "")
	defer hub.unsubscribe(sub)
	if len(replay) != 10 {
		t.Fatalf("replay has %d events, want the last 10", len(replay))
	}
	var last Event
	if err := json.Unmarshal(replay[9].data, &last); err != nil || last.Offset != subscriberBuffer*3-1 {
		t.Errorf("newest replayed event = %+v (%v), want offset %d", last, err, subscriberBuffer*3-1)
	}
}

func TestSubscribeAfterLastEventID(t *testing.T) {
	hub := NewEvents(100, discardLogger())
	for i := range 5 {
		hub.Publish(testEvent(int64(i)))
	}
	all, sub := hub.subscribe("", "")
	hub.unsubscribe(sub)

	after, sub := hub.subscribe(all[2].id, "")
	hub.unsubscribe(sub)
	if len(after) != 2 || after[0].id != all[3].id {
		t.Errorf("after %s: %d events, want the last 2", all[2].id, len(after))
	}
	other, sub := hub.subscribe("someotherepoch-3", "")
	hub.unsubscribe(sub)
	if len(other) != 5 {
		t.Errorf("id from another gateway run: %d events, want all 5", len(other))
	}
}

// sseEvent is one parsed Server-Sent Event.
type sseEvent struct {
	id, event string
	data      Event
}

// sseReader reads events (and counts comments) from a /system/events stream
// in a goroutine, so a test can wait on a channel.
type sseReader struct {
	events   chan sseEvent
	comments chan string
	resp     *http.Response
	done     sync.WaitGroup
}

func MustOpenEvents(tb testing.TB, url, lastEventID string) *sseReader {
	tb.Helper()
	req := asAdmin(MustRequest(tb, http.MethodGet, url, nil))
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req) // no client timeout: the stream is long-lived
	if err != nil {
		tb.Fatalf("open event stream: %v", err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		tb.Fatalf("event stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	r := &sseReader{events: make(chan sseEvent, 100), comments: make(chan string, 100), resp: resp}
	r.done.Go(func() {
		defer close(r.events)
		lines := bufio.NewScanner(resp.Body)
		var cur sseEvent
		for lines.Scan() {
			line := lines.Text()
			switch {
			case line == "":
				if cur.event != "" {
					r.events <- cur
				}
				cur = sseEvent{}
			case strings.HasPrefix(line, ":"):
				select {
				case r.comments <- line:
				default:
				}
			case strings.HasPrefix(line, "id: "):
				cur.id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "event: "):
				cur.event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &cur.data); err != nil {
					cur.event = "undecodable: " + err.Error()
				}
			}
		}
	})
	tb.Cleanup(r.close)
	return r
}

func (r *sseReader) close() {
	r.resp.Body.Close()
	r.done.Wait()
}

func (r *sseReader) next(tb testing.TB) sseEvent {
	tb.Helper()
	var ev sseEvent
	var ok bool
	select {
	case ev, ok = <-r.events:
	case <-time.After(wait):
		tb.Fatalf("no event within %s", wait)
	}
	if !ok {
		tb.Fatal("event stream ended")
	}
	if ev.event != "record" {
		tb.Fatalf("event type %q, want record", ev.event)
	}
	return ev
}

func TestEventStreamReplaysThenStreamsLive(t *testing.T) {
	tg := MustStartGateway(t, Config{SSEHeartbeat: 20 * time.Millisecond})
	for i := range 3 {
		tg.Events().Publish(testEvent(int64(i)))
	}

	stream := MustOpenEvents(t, tg.URL+"/system/events", "")
	var ids []string
	for i := range 3 {
		ev := stream.next(t)
		if ev.data.Offset != int64(i) || ev.data.Topic != "payments" || !ev.data.Timestamp.Equal(recordTime) {
			t.Errorf("replayed event %d = %+v", i, ev.data)
		}
		ids = append(ids, ev.id)
	}
	tg.Events().Publish(testEvent(3))
	if ev := stream.next(t); ev.data.Offset != 3 {
		t.Errorf("live event offset = %d, want 3", ev.data.Offset)
	}
	MustReceive(t, stream.comments, "comment line")
	// Heartbeats keep coming while nothing is published.
	for {
		if c := MustReceive(t, stream.comments, "heartbeat"); c == ": ping" {
			break
		}
	}

	// A reconnect with Last-Event-ID resumes after that event.
	resumed := MustOpenEvents(t, tg.URL+"/system/events", ids[1])
	for _, want := range []int64{2, 3} {
		if ev := resumed.next(t); ev.data.Offset != want {
			t.Errorf("resumed event offset = %d, want %d", ev.data.Offset, want)
		}
	}
}

func TestEventSourceFeedsStream(t *testing.T) {
	source := func(ctx context.Context, publish func(Event)) error {
		publish(EventFromRecord("payments", 0, 9, []byte("k"), nil, nil, recordTime))
		<-ctx.Done()
		return ctx.Err()
	}
	tg := MustStartGateway(t, Config{EventSource: source})
	stream := MustOpenEvents(t, tg.URL+"/system/events", "")
	if ev := stream.next(t); ev.data.Offset != 9 || ev.data.CloudEvent != nil {
		t.Errorf("event = %+v, want offset 9 and no cloudEvent", ev.data)
	}
}

func TestEventFromRecordFindsTheUser(t *testing.T) {
	user := "5D1F7A58-3C1E-4E0C-8A57-0F6F2F1F3B11"
	structured := `{"specversion":"1.0","id":"e","type":"t","source":"s","data":{"paymentId":"p","userId":"` + user + `"}}`
	ev := EventFromRecord("payments", 0, 1, []byte("p"), []byte(structured), map[string]string{"content-type": "application/cloudevents+json"}, recordTime)
	if ev.UserID != strings.ToLower(user) {
		t.Errorf("structured: userId %q, want %q", ev.UserID, strings.ToLower(user))
	}
	binary := map[string]string{"ce_specversion": "1.0", "ce_id": "e", "ce_type": "t", "ce_source": "s"}
	ev = EventFromRecord("payments", 0, 2, []byte("p"), []byte(`{"userId":"`+user+`"}`), binary, recordTime)
	if ev.UserID != strings.ToLower(user) {
		t.Errorf("binary: userId %q, want %q", ev.UserID, strings.ToLower(user))
	}
	// A data that is no object, or a userId that is no string, names nobody
	// but leaves the event as it is.
	for _, data := range []string{`"text"`, `{"userId":7}`, `[{"userId":"x"}]`} {
		value := `{"specversion":"1.0","id":"e","type":"t","source":"s","data":` + data + `,"subject":"p"}`
		ev = EventFromRecord("payments", 0, 1, []byte("p"), []byte(value), map[string]string{"content-type": "application/cloudevents+json"}, recordTime)
		if ev.UserID != "" || ev.CloudEvent == nil || ev.CloudEvent.Subject != "p" {
			t.Errorf("data %s: userId %q, cloudEvent %+v; want none and subject p", data, ev.UserID, ev.CloudEvent)
		}
	}
	// Not a CloudEvent: whatever its body says, it belongs to nobody.
	ev = EventFromRecord("payments", 0, 3, []byte("p"), []byte(`{"userId":"`+user+`"}`), nil, recordTime)
	if ev.UserID != "" {
		t.Errorf("plain record: userId %q, want none", ev.UserID)
	}
}

func TestEventStreamForOneUser(t *testing.T) {
	tg := MustStartGateway(t, Config{})
	const alice, bob = "a11ce000-0000-4000-8000-000000000001", "b0b00000-0000-4000-8000-000000000002"
	publish := func(offset int64, key, user string) {
		tg.Events().Publish(Event{Topic: "payments", Offset: offset, Key: key, Timestamp: recordTime, UserID: user})
	}
	publish(1, "alice-pay", alice) // created: the data names the user
	publish(2, "bob-pay", bob)
	publish(3, "alice-pay", "") // a result: known by its key
	stream := MustOpenEvents(t, tg.URL+"/system/events?userId="+strings.ToUpper(alice), "")
	publish(4, "bob-pay", "")
	publish(5, "nobody-knows", "") // a poison record: nobody's
	publish(6, "alice-pay", "")
	for _, want := range []int64{1, 3, 6} {
		if ev := stream.next(t); ev.data.Offset != want || ev.data.UserID != alice {
			t.Fatalf("alice's stream: offset %d of %s, want %d of alice", ev.data.Offset, ev.data.UserID, want)
		}
	}
	// Without a user (the admin's view), everything.
	all := MustOpenEvents(t, tg.URL+"/system/events", "")
	for want := int64(1); want <= 6; want++ {
		if ev := all.next(t); ev.data.Offset != want {
			t.Fatalf("whole stream: offset %d, want %d", ev.data.Offset, want)
		}
	}
}
