// Package storetest is the contract every payment store must meet. The
// Postgres store runs it against a real database, the memory store in plain
// unit tests; both must pass the same cases.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"handler/function/functions/pkg/events"
	"handler/function/functions/pkg/functest"
	"handler/function/functions/pkg/outbox"
	"handler/function/functions/pkg/payment"
)

// Store is the whole store interface; each function uses a part of it.
type Store interface {
	CreatePayment(ctx context.Context, p payment.Payment, idempotencyKey, fingerprint string, msg outbox.Message) (payment.Payment, bool, error)
	GetPayment(ctx context.Context, id, userID uuid.UUID) (payment.Payment, error)
	ListPayments(ctx context.Context, userID uuid.UUID, limit int) ([]payment.Payment, error)
	UpdatePayment(ctx context.Context, id uuid.UUID, fn func(*payment.Payment) error) (payment.Payment, error)
	Subscribe(ctx context.Context, id uuid.UUID) (<-chan struct{}, func(), error)
	outbox.Store
	Expire(ctx context.Context, before time.Time, limit int) (events, keys int, err error)
}

// MustPayment returns a valid new payment for user created at now.
func MustPayment(tb testing.TB, user uuid.UUID, amount string, now time.Time) payment.Payment {
	tb.Helper()
	r := payment.Request{UserID: user, AccountNumber: "40817810099910004312", Amount: payment.MustParseAmount(amount), Description: "rent"}
	if err := r.Validate(payment.MustParseAmount("1000000")); err != nil {
		tb.Fatal(err)
	}
	return payment.New(uuid.New(), r, now)
}

// MustCreate stores p with its created event, signed as create-payment signs
// it, and returns the event id.
func MustCreate(tb testing.TB, s Store, p payment.Payment) string {
	tb.Helper()
	msg := outbox.Message{Topic: events.PaymentsTopic, Key: p.ID.String(), Event: functest.Signed(events.Created(p))}
	if _, _, err := s.CreatePayment(context.Background(), p, "", "fp-"+p.ID.String(), msg); err != nil {
		tb.Fatal(err)
	}
	return msg.Event.ID()
}

func wantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := payment.ErrorCode(err); got != code {
		tb.Fatalf("error %v has code %q, want %q", err, got, code)
	}
}

// Run runs the contract against stores made by newStore: a fresh, empty store
// per call, which stamps the events it marks published with now.
func Run(t *testing.T, newStore func(t *testing.T, now func() time.Time) Store) {
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 12, 0, 0, 123456000, time.UTC)

	t.Run("create then get returns what was stored", func(t *testing.T) {
		s := newStore(t, time.Now)
		p := MustPayment(t, uuid.New(), "125.50", now)
		MustCreate(t, s, p)
		got, err := s.GetPayment(ctx, p.ID, p.UserID)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(p) || !got.Created.Equal(p.Created) {
			t.Fatalf("got %+v, want %+v", got, p)
		}
	})

	t.Run("text is stored verbatim", func(t *testing.T) {
		s := newStore(t, time.Now)
		p := MustPayment(t, uuid.New(), "1", now)
		p.AccountNumber = `'); DROP TABLE payments; --`
		p.Description = `Robert'); DELETE FROM outbox WHERE ('1'='1 — платёж ✓`
		MustCreate(t, s, p)
		got, err := s.GetPayment(ctx, p.ID, p.UserID)
		if err != nil {
			t.Fatal(err)
		}
		if got.AccountNumber != p.AccountNumber || got.Description != p.Description {
			t.Fatalf("got %q %q", got.AccountNumber, got.Description)
		}
	})

	t.Run("another user's payment is not found", func(t *testing.T) {
		s := newStore(t, time.Now)
		p := MustPayment(t, uuid.New(), "10", now)
		MustCreate(t, s, p)
		_, err := s.GetPayment(ctx, p.ID, uuid.New())
		wantCode(t, err, payment.ENOTFOUND)
		_, err = s.GetPayment(ctx, uuid.New(), p.UserID)
		wantCode(t, err, payment.ENOTFOUND)
	})

	t.Run("idempotency key replays the same request and rejects a different one", func(t *testing.T) {
		s := newStore(t, time.Now)
		user := uuid.New()
		first := MustPayment(t, user, "10", now)
		msg := outbox.Message{Topic: events.PaymentsTopic, Key: first.ID.String(), Event: events.Created(first)}
		stored, replayed, err := s.CreatePayment(ctx, first, "key-1", "same", msg)
		if err != nil || replayed {
			t.Fatalf("first create: replayed=%v err=%v", replayed, err)
		}
		second := MustPayment(t, user, "10", now.Add(time.Second))
		msg2 := outbox.Message{Topic: events.PaymentsTopic, Key: second.ID.String(), Event: events.Created(second)}
		again, replayed, err := s.CreatePayment(ctx, second, "key-1", "same", msg2)
		if err != nil || !replayed || again.ID != stored.ID {
			t.Fatalf("replay: got %s replayed=%v err=%v, want %s replayed", again.ID, replayed, err, stored.ID)
		}
		_, _, err = s.CreatePayment(ctx, second, "key-1", "different", msg2)
		wantCode(t, err, payment.EIDEMPOTENCY)
		if _, err := s.GetPayment(ctx, second.ID, user); payment.ErrorCode(err) != payment.ENOTFOUND {
			t.Fatalf("the replayed request stored a second payment (err %v)", err)
		}
		other := MustPayment(t, uuid.New(), "10", now)
		msg3 := outbox.Message{Topic: events.PaymentsTopic, Key: other.ID.String(), Event: events.Created(other)}
		if _, replayed, err := s.CreatePayment(ctx, other, "key-1", "same", msg3); err != nil || replayed {
			t.Fatalf("another user's key clashed: replayed=%v err=%v", replayed, err)
		}
		if n := MustDrain(t, s); n != 2 {
			t.Fatalf("outbox held %d events, want 2 (no event for the replay)", n)
		}
	})

	t.Run("list is newest first and limited", func(t *testing.T) {
		s := newStore(t, time.Now)
		user := uuid.New()
		var ids []uuid.UUID
		for i := range 5 {
			p := MustPayment(t, user, "1", now.Add(time.Duration(i)*time.Minute))
			MustCreate(t, s, p)
			ids = append(ids, p.ID)
		}
		MustCreate(t, s, MustPayment(t, uuid.New(), "1", now))
		list, err := s.ListPayments(ctx, user, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 3 || list[0].ID != ids[4] || list[1].ID != ids[3] || list[2].ID != ids[2] {
			t.Fatalf("list = %v, want the last three of %v newest first", list, ids)
		}
		empty, err := s.ListPayments(ctx, uuid.New(), 3)
		if err != nil || len(empty) != 0 {
			t.Fatalf("empty list = %v, %v", empty, err)
		}
	})

	t.Run("a result is applied exactly once", func(t *testing.T) {
		s := newStore(t, time.Now)
		p := MustPayment(t, uuid.New(), "10", now)
		MustCreate(t, s, p)
		result := payment.Result{PaymentID: p.ID, Success: true, Details: "ok", Processed: now.Add(5 * time.Second)}
		const n = 10
		errs := make(chan error, n)
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.UpdatePayment(ctx, p.ID, func(p *payment.Payment) error { return p.Apply(result) })
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		applied, duplicates := 0, 0
		for err := range errs {
			switch {
			case err == nil:
				applied++
			case errors.Is(err, payment.ErrAlreadyApplied):
				duplicates++
			default:
				t.Fatalf("unexpected error: %v", err)
			}
		}
		if applied != 1 || duplicates != n-1 {
			t.Fatalf("applied %d, duplicates %d; want 1 and %d", applied, duplicates, n-1)
		}
		got, err := s.GetPayment(ctx, p.ID, p.UserID)
		if err != nil || got.State != payment.Completed || got.Processed == nil || !got.Processed.Equal(result.Processed) || *got.ExtPaymentDetails != "ok" {
			t.Fatalf("after apply: %+v, %v", got, err)
		}
		contrary := result
		contrary.Success = false
		_, err = s.UpdatePayment(ctx, p.ID, func(p *payment.Payment) error { return p.Apply(contrary) })
		wantCode(t, err, payment.EINVALID)
		if got, _ := s.GetPayment(ctx, p.ID, p.UserID); got.State != payment.Completed {
			t.Fatalf("a refused transition changed the state to %s", got.State)
		}
		_, err = s.UpdatePayment(ctx, uuid.New(), func(p *payment.Payment) error { return nil })
		wantCode(t, err, payment.ENOTFOUND)
	})

	t.Run("subscribers hear about a change", func(t *testing.T) {
		s := newStore(t, time.Now)
		p := MustPayment(t, uuid.New(), "10", now)
		MustCreate(t, s, p)
		changed, stop, err := s.Subscribe(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
		drain(changed) // a (re)connecting listener may signal once at the start
		if _, err := s.UpdatePayment(ctx, p.ID, func(p *payment.Payment) error {
			return p.Apply(payment.Result{PaymentID: p.ID, Success: false, Details: "no", Processed: now})
		}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-changed:
		case <-time.After(30 * time.Second):
			t.Fatal("no notification after the change")
		}
	})

	t.Run("outbox publishes each event once and keeps failures", func(t *testing.T) {
		s := newStore(t, time.Now)
		var ids []string
		for range 4 {
			ids = append(ids, MustCreate(t, s, MustPayment(t, uuid.New(), "1", now)))
		}
		down := errors.New("kafka down")
		n, err := s.PublishOutbox(ctx, 10, func(_ context.Context, batch []outbox.Message) []error {
			errs := make([]error, len(batch))
			for i := range batch {
				errs[i] = down
			}
			return errs
		})
		if n != 0 || !errors.Is(err, down) {
			t.Fatalf("failed publish: n=%d err=%v", n, err)
		}
		// create-payment sends its event itself and marks it: the relay skips it.
		// Marking again, or an id the outbox does not hold, changes nothing.
		if err := s.MarkPublished(ctx, ids[:1]); err != nil {
			t.Fatalf("mark one: %v", err)
		}
		if err := s.MarkPublished(ctx, []string{ids[0], uuid.NewString()}); err != nil {
			t.Fatalf("mark again: %v", err)
		}
		n, err = s.PublishOutbox(ctx, 10, okPublish(t, ids[1:]))
		if n != 3 || err != nil {
			t.Fatalf("publish rest: n=%d err=%v", n, err)
		}
		if n := MustDrain(t, s); n != 0 {
			t.Fatalf("%d events published twice", n)
		}
	})

	t.Run("concurrent relays never publish an event twice", func(t *testing.T) {
		s := newStore(t, time.Now)
		const total = 40
		for range total {
			MustCreate(t, s, MustPayment(t, uuid.New(), "1", now))
		}
		var mu sync.Mutex
		seen := map[string]int{}
		publish := func(_ context.Context, batch []outbox.Message) []error {
			mu.Lock()
			defer mu.Unlock()
			for _, m := range batch {
				seen[m.Event.ID()]++
			}
			return make([]error, len(batch))
		}
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					n, err := s.PublishOutbox(ctx, 3, publish)
					if err != nil {
						t.Error(err)
						return
					}
					if n == 0 {
						return
					}
				}
			}()
		}
		wg.Wait()
		if n := MustDrain(t, s); n != 0 {
			t.Fatalf("%d events left after the relays stopped", n)
		}
		if len(seen) != total {
			t.Fatalf("published %d distinct events, want %d", len(seen), total)
		}
		for id, n := range seen {
			if n != 1 {
				t.Fatalf("event %s published %d times", id, n)
			}
		}
	})

	t.Run("retention removes old sent events and old keys, never unsent events", func(t *testing.T) {
		clock := now.Add(-48 * time.Hour)
		s := newStore(t, func() time.Time { return clock })
		user := uuid.New()
		create := func(at time.Time, key string) (payment.Payment, string) {
			t.Helper()
			p := MustPayment(t, user, "10", at)
			msg := outbox.Message{Topic: events.PaymentsTopic, Key: p.ID.String(), Event: functest.Signed(events.Created(p))}
			if _, replayed, err := s.CreatePayment(ctx, p, key, "fp-"+key, msg); err != nil || replayed {
				t.Fatalf("create %s: replayed=%v err=%v", key, replayed, err)
			}
			return p, msg.Event.ID()
		}
		publish := func(id string) {
			t.Helper()
			if err := s.MarkPublished(ctx, []string{id}); err != nil {
				t.Fatalf("mark %s published: %v", id, err)
			}
		}
		old := now.Add(-48 * time.Hour)
		oldSent, oldSentEvent := create(old, "old-sent")
		oldUnsent, _ := create(old, "old-unsent")
		publish(oldSentEvent) // published 48 h ago
		clock = now.Add(-time.Hour)
		recentSent, recentSentEvent := create(now.Add(-time.Hour), "recent-sent")
		publish(recentSentEvent) // published an hour ago

		removed, cleared, err := s.Expire(ctx, now.Add(-24*time.Hour), 100)
		if err != nil || removed != 1 || cleared != 2 {
			t.Fatalf("expire: %d events, %d keys, %v; want the old sent event and the two old keys", removed, cleared, err)
		}
		for _, p := range []payment.Payment{oldSent, oldUnsent, recentSent} {
			if _, err := s.GetPayment(ctx, p.ID, user); err != nil {
				t.Fatalf("payment %s is gone with its key: %v", p.ID, err)
			}
		}
		// An expired key is free again; a recent one still replays.
		again := MustPayment(t, user, "10", now)
		msg := outbox.Message{Topic: events.PaymentsTopic, Key: again.ID.String(), Event: functest.Signed(events.Created(again))}
		if stored, replayed, err := s.CreatePayment(ctx, again, "old-sent", "fp-old-sent", msg); err != nil || replayed || stored.ID != again.ID {
			t.Fatalf("an expired key still replays: %s replayed=%v err=%v", stored.ID, replayed, err)
		}
		if stored, replayed, err := s.CreatePayment(ctx, MustPayment(t, user, "10", now), "recent-sent", "fp-recent-sent", msg); err != nil || !replayed || stored.ID != recentSent.ID {
			t.Fatalf("a recent key does not replay: %s replayed=%v err=%v", stored.ID, replayed, err)
		}
		if removed, cleared, err := s.Expire(ctx, now.Add(-24*time.Hour), 100); err != nil || removed != 0 || cleared != 0 {
			t.Fatalf("second expire: %d events, %d keys, %v; want nothing left", removed, cleared, err)
		}
		// The recent sent event was kept: a later cutoff finds it.
		if removed, _, err := s.Expire(ctx, now, 100); err != nil || removed != 1 {
			t.Fatalf("expire up to now: %d events, %v; want the recent sent one", removed, err)
		}
		// The unsent events, the old one included, are all still to be published.
		if n := MustDrain(t, s); n != 2 {
			t.Fatalf("%d unsent events left, want 2 (the old unsent one and the new payment's)", n)
		}
	})

	t.Run("retention removes in bounded batches", func(t *testing.T) {
		s := newStore(t, func() time.Time { return now.Add(-48 * time.Hour) })
		for i := range 5 {
			p := MustPayment(t, uuid.New(), "1", now.Add(-48*time.Hour))
			msg := outbox.Message{Topic: events.PaymentsTopic, Key: p.ID.String(), Event: functest.Signed(events.Created(p))}
			if _, _, err := s.CreatePayment(ctx, p, fmt.Sprint("key-", i), "fp", msg); err != nil {
				t.Fatal(err)
			}
		}
		if n := MustDrain(t, s); n != 5 {
			t.Fatalf("published %d, want 5", n)
		}
		for _, want := range []int{2, 2, 1, 0} {
			removed, cleared, err := s.Expire(ctx, now, 2)
			if err != nil || removed != want || cleared != want {
				t.Fatalf("expire in batches of 2: %d events, %d keys, %v; want %d of each", removed, cleared, err, want)
			}
		}
	})
}

func okPublish(tb testing.TB, want []string) func(context.Context, []outbox.Message) []error {
	return func(_ context.Context, batch []outbox.Message) []error {
		if len(batch) != len(want) {
			tb.Errorf("batch of %d, want %d", len(batch), len(want))
		}
		for _, m := range batch {
			if m.Topic != events.PaymentsTopic || m.Key != m.Event.Subject() || m.Event.Type() != payment.EventCreated {
				tb.Errorf("message %+v is not a created event keyed by payment id", m)
			}
			// The store may re-encode the event (Postgres keeps it as jsonb); its signature must still hold.
			if err := functest.EventKeys.Verify(m.Event); err != nil {
				tb.Errorf("message %s from the outbox: %v", m.Event.ID(), err)
			}
		}
		return make([]error, len(batch))
	}
}

// MustDrain publishes everything left and returns how many there were.
func MustDrain(tb testing.TB, s Store) int {
	tb.Helper()
	n, err := s.PublishOutbox(context.Background(), 1000, func(_ context.Context, batch []outbox.Message) []error {
		return make([]error, len(batch))
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

func drain(ch <-chan struct{}) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}
