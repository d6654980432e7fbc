package outbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/uuid"

	"handler/function/functions/pkg/events"
	"handler/function/functions/pkg/functest"
	"handler/function/functions/pkg/memory"
	"handler/function/functions/pkg/outbox"
	"handler/function/functions/pkg/storetest"
)

var testNow = time.Date(2026, 11, 25, 15, 4, 5, 123456000, time.UTC)

// fakePublisher records the ids it published and fails for the ids in fail.
type fakePublisher struct {
	mu   sync.Mutex
	sent []string
	fail map[string]bool
}

func (f *fakePublisher) PublishJSON(_ context.Context, _, _ string, raw []byte) error {
	e := cloudevents.NewEvent()
	if err := json.Unmarshal(raw, &e); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail[e.ID()] {
		return errors.New("broker said no")
	}
	f.sent = append(f.sent, e.ID())
	return nil
}

func (f *fakePublisher) published() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := slices.Clone(f.sent)
	slices.Sort(out)
	return out
}

func MustFill(tb testing.TB, st *memory.Store, n int) []string {
	tb.Helper()
	var ids []string
	for range n {
		ids = append(ids, storetest.MustCreate(tb, st, storetest.MustPayment(tb, uuid.New(), "1", testNow)))
	}
	return ids
}

// MustCreateMessages stores n payments and returns their "created" messages.
func MustCreateMessages(tb testing.TB, st *memory.Store, n int) []outbox.Message {
	tb.Helper()
	var msgs []outbox.Message
	for range n {
		p := storetest.MustPayment(tb, uuid.New(), "1", testNow)
		msg := outbox.Message{Topic: events.PaymentsTopic, Key: p.ID.String(), Event: functest.Signed(events.Created(p))}
		if _, _, err := st.CreatePayment(tb.Context(), p, "", "fp", msg); err != nil {
			tb.Fatal(err)
		}
		msgs = append(msgs, msg)
	}
	return msgs
}

func TestPublishNowSendsAndMarksOnlyTheGivenEvents(t *testing.T) {
	st := memory.New()
	msgs := MustCreateMessages(t, st, 3)
	pub := &fakePublisher{}
	r := &outbox.Relay{Store: st, Publisher: pub}
	n, err := r.PublishNow(t.Context(), msgs[1])
	if err != nil || n != 1 || !slices.Equal(pub.published(), []string{msgs[1].Event.ID()}) {
		t.Fatalf("PublishNow = %d, %v; published %v", n, err, pub.published())
	}
	// Marked: the relay sends only the other two.
	pub = &fakePublisher{}
	if n, err := (&outbox.Relay{Store: st, Publisher: pub}).Drain(t.Context()); err != nil || n != 2 || slices.Contains(pub.published(), msgs[1].Event.ID()) {
		t.Fatalf("Drain = %d, %v; published %v", n, err, pub.published())
	}
}

func TestPublishNowLeavesWhatFailedForTheRelay(t *testing.T) {
	st := memory.New()
	msgs := MustCreateMessages(t, st, 1)
	failing := &fakePublisher{fail: map[string]bool{msgs[0].Event.ID(): true}}
	if n, err := (&outbox.Relay{Store: st, Publisher: failing}).PublishNow(t.Context(), msgs...); err == nil || n != 0 {
		t.Fatalf("PublishNow with Kafka failing = %d, %v; want 0 and an error", n, err)
	}
	pub := &fakePublisher{}
	if n, err := (&outbox.Relay{Store: st, Publisher: pub}).Drain(t.Context()); err != nil || n != 1 {
		t.Fatalf("Drain = %d, %v; want the failed event", n, err)
	}
}

func TestPublishNowReportsAFailedMark(t *testing.T) {
	st := memory.New()
	msgs := MustCreateMessages(t, st, 1)
	st.Fail = errors.New("database down")
	n, err := (&outbox.Relay{Store: st, Publisher: &fakePublisher{}}).PublishNow(t.Context(), msgs...)
	if n != 1 || !errors.Is(err, st.Fail) {
		t.Fatalf("PublishNow = %d, %v; want 1 sent and the mark's error", n, err)
	}
}

func TestDrainPublishesEverythingInBatches(t *testing.T) {
	st := memory.New()
	ids := MustFill(t, st, 7)
	slices.Sort(ids)
	pub := &fakePublisher{}
	n, err := (&outbox.Relay{Store: st, Publisher: pub, BatchSize: 3}).Drain(t.Context())
	if err != nil || n != 7 || !slices.Equal(pub.published(), ids) {
		t.Fatalf("Drain = %d, %v; published %v, want %v", n, err, pub.published(), ids)
	}
}

func TestDrainStopsAtAFailureAndKeepsTheFailedEvent(t *testing.T) {
	st := memory.New()
	ids := MustFill(t, st, 4)
	pub := &fakePublisher{fail: map[string]bool{ids[2]: true}}
	r := &outbox.Relay{Store: st, Publisher: pub}
	n, err := r.Drain(t.Context())
	if err == nil || n != 3 {
		t.Fatalf("Drain = %d, %v; want 3 and an error", n, err)
	}
	pub.mu.Lock()
	pub.fail = nil
	pub.mu.Unlock()
	n, err = r.Drain(t.Context())
	if err != nil || n != 1 {
		t.Fatalf("second Drain = %d, %v; want the failed event", n, err)
	}
	all := slices.Clone(ids)
	slices.Sort(all)
	if !slices.Equal(pub.published(), all) {
		t.Fatalf("published %v, want each of %v once", pub.published(), all)
	}
}

func TestDrainEndsWithItsContext(t *testing.T) {
	st := memory.New()
	MustFill(t, st, 2)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	n, err := (&outbox.Relay{Store: st, Publisher: &fakePublisher{}}).Drain(ctx)
	if n != 0 || !errors.Is(err, context.Canceled) {
		t.Fatalf("Drain = %d, %v; want 0, context.Canceled", n, err)
	}
}

// NewMessage encodes the event once, compact, in structured mode: the bytes a
// consumer decodes back into the same event, data unchanged.
func TestNewMessageEncodesTheEventOnce(t *testing.T) {
	p := storetest.MustPayment(t, uuid.New(), "12.50", testNow)
	p.Description = `<b>rent</b> & "more" ✓`
	e := events.Created(p)
	e.SetExtension("signature", "v1:0000:mac")
	m, err := outbox.NewMessage(events.PaymentsTopic, p.ID.String(), e)
	if err != nil {
		t.Fatal(err)
	}
	if m.Topic != events.PaymentsTopic || m.Key != p.ID.String() {
		t.Errorf("topic %q, key %q", m.Topic, m.Key)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, m.JSON); err != nil || !bytes.Equal(compact.Bytes(), m.JSON) {
		t.Errorf("encoded %s: not compact JSON (%v)", m.JSON, err)
	}
	var back cloudevents.Event
	if err := json.Unmarshal(m.JSON, &back); err != nil {
		t.Fatal(err)
	}
	if back.ID() != e.ID() || back.Type() != e.Type() || back.Subject() != e.Subject() || !back.Time().Equal(e.Time()) ||
		back.Extensions()["signature"] != "v1:0000:mac" || !bytes.Equal(back.Data(), e.Data()) {
		t.Errorf("decoded %v, want %v", back, e)
	}
}
