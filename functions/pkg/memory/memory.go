// Package memory is an in-memory payment store with the same behaviour as the
// Postgres one (the shared contract tests in storetest prove it). Unit tests of
// the functions use it; nothing in production does.
package memory

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"handler/function/functions/pkg/outbox"
	"handler/function/functions/pkg/payment"
)

type record struct {
	payment     payment.Payment
	key         string
	fingerprint string
}

type entry struct {
	msg       outbox.Message
	published *time.Time
	locked    bool
}

// Store keeps payments and outbox messages in maps.
type Store struct {
	mu       sync.Mutex
	payments map[uuid.UUID]*record
	outbox   []*entry
	subs     map[uuid.UUID]map[chan struct{}]struct{}
	// Fail, when set, is returned by every call: a database outage.
	Fail error
	// Now stamps events as published (see Expire); time.Now when nil.
	Now func() time.Time
}

// New returns an empty store.
func New() *Store {
	return &Store{payments: map[uuid.UUID]*record{}, subs: map[uuid.UUID]map[chan struct{}]struct{}{}}
}

// CreatePayment stores p and msg together, honouring the idempotency key.
func (s *Store) CreatePayment(_ context.Context, p payment.Payment, key, fingerprint string, msg outbox.Message) (payment.Payment, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Fail != nil {
		return payment.Payment{}, false, s.Fail
	}
	if key != "" {
		for _, r := range s.payments {
			if r.payment.UserID == p.UserID && r.key == key {
				if r.fingerprint != fingerprint {
					return payment.Payment{}, false, payment.Errorf(payment.EIDEMPOTENCY,
						"Idempotency-Key %q was already used for a different request", key)
				}
				return r.payment, true, nil
			}
		}
	}
	s.payments[p.ID] = &record{payment: p, key: key, fingerprint: fingerprint}
	s.outbox = append(s.outbox, &entry{msg: msg})
	return p, false, nil
}

// GetPayment returns the user's payment.
func (s *Store) GetPayment(_ context.Context, id, userID uuid.UUID) (payment.Payment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Fail != nil {
		return payment.Payment{}, s.Fail
	}
	r, ok := s.payments[id]
	if !ok || r.payment.UserID != userID {
		return payment.Payment{}, payment.Errorf(payment.ENOTFOUND, "payment %s not found", id)
	}
	return r.payment, nil
}

// ListPayments returns the user's newest payments first.
func (s *Store) ListPayments(_ context.Context, userID uuid.UUID, limit int) ([]payment.Payment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Fail != nil {
		return nil, s.Fail
	}
	list := []payment.Payment{}
	for _, r := range s.payments {
		if r.payment.UserID == userID {
			list = append(list, r.payment)
		}
	}
	slices.SortFunc(list, func(a, b payment.Payment) int {
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return slices.Compare(b.ID[:], a.ID[:])
	})
	return list[:min(limit, len(list))], nil
}

// UpdatePayment applies fn to the payment under the store's lock.
func (s *Store) UpdatePayment(_ context.Context, id uuid.UUID, fn func(*payment.Payment) error) (payment.Payment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Fail != nil {
		return payment.Payment{}, s.Fail
	}
	r, ok := s.payments[id]
	if !ok {
		return payment.Payment{}, payment.Errorf(payment.ENOTFOUND, "payment %s not found", id)
	}
	p := r.payment
	if err := fn(&p); err != nil {
		return r.payment, err
	}
	changed := p.State != r.payment.State
	r.payment = p
	if changed {
		for ch := range s.subs[id] {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
	return p, nil
}

// Subscribe signals the channel when the payment's state changes.
func (s *Store) Subscribe(_ context.Context, id uuid.UUID) (<-chan struct{}, func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Fail != nil {
		return nil, nil, s.Fail
	}
	ch := make(chan struct{}, 1)
	if s.subs[id] == nil {
		s.subs[id] = map[chan struct{}]struct{}{}
	}
	s.subs[id][ch] = struct{}{}
	return ch, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.subs[id], ch)
	}, nil
}

// MarkPublished marks the given unpublished messages published, skipping any
// a relay holds (as Postgres's SKIP LOCKED does).
func (s *Store) MarkPublished(_ context.Context, eventIDs []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Fail != nil {
		return s.Fail
	}
	now := s.clock()
	for _, e := range s.outbox {
		if e.published == nil && !e.locked && slices.Contains(eventIDs, e.msg.Event.ID()) {
			e.published = &now
		}
	}
	return nil
}

func (s *Store) clock() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// PublishOutbox hands unpublished, unlocked messages to publish and marks the
// ones it sent. The lock is released while publish runs, as Postgres lets
// other transactions go on, and the taken messages are marked locked meanwhile.
func (s *Store) PublishOutbox(ctx context.Context, limit int, publish func(context.Context, []outbox.Message) []error) (int, error) {
	s.mu.Lock()
	if s.Fail != nil {
		s.mu.Unlock()
		return 0, s.Fail
	}
	var taken []*entry
	for _, e := range s.outbox {
		if len(taken) == limit {
			break
		}
		if e.published != nil || e.locked {
			continue
		}
		e.locked = true
		taken = append(taken, e)
	}
	s.mu.Unlock()
	if len(taken) == 0 {
		return 0, nil
	}
	batch := make([]outbox.Message, len(taken))
	for i, e := range taken {
		batch[i] = e.msg
	}
	errs := publish(ctx, batch)

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	sent := 0
	var failed []error
	for i, e := range taken {
		e.locked = false
		if errs[i] != nil {
			failed = append(failed, errs[i])
			continue
		}
		e.published = &now
		sent++
	}
	return sent, errors.Join(failed...)
}

// Expire deletes up to limit events published before before and clears up to
// limit idempotency keys of payments created before before.
func (s *Store) Expire(_ context.Context, before time.Time, limit int) (events, keys int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Fail != nil {
		return 0, 0, s.Fail
	}
	s.outbox = slices.DeleteFunc(s.outbox, func(e *entry) bool {
		expired := events < limit && e.published != nil && e.published.Before(before)
		if expired {
			events++
		}
		return expired
	})
	for _, r := range s.payments {
		if keys < limit && r.key != "" && r.payment.Created.Before(before) {
			r.key = ""
			keys++
		}
	}
	return events, keys, nil
}
