// Package postgres stores payments and their outbox in PostgreSQL with pgx.
// Transactions stay inside this package: callers pass pure functions.
package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"handler/function/functions/pkg/outbox"
	"handler/function/functions/pkg/payment"
)

// Config configures the pool.
type Config struct {
	URL string
	// MaxConns bounds the pool (0 keeps pgx's default of max(4, CPUs)).
	MaxConns int32
	// ConnectTimeout bounds each connection attempt, so an outage answers 503
	// quickly instead of hanging the invocation.
	ConnectTimeout time.Duration
}

// Store is the Postgres implementation of the payment store.
type Store struct {
	pool     *pgxpool.Pool
	listener *listener
}

// Open builds the pool. It does not connect: the first query does, so a
// function starts even while the database is down and answers 503 until it is back.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	if cfg.MaxConns > 0 {
		pc.MaxConns = cfg.MaxConns
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 3 * time.Second
	}
	pc.ConnConfig.ConnectTimeout = cfg.ConnectTimeout
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("create pool: %w", err)
	}
	s := &Store{pool: pool}
	s.listener = newListener(pc.ConnConfig.Copy())
	return s, nil
}

// Close stops the listener and closes the pool.
func (s *Store) Close() {
	s.listener.close()
	s.pool.Close()
}

const paymentColumns = `payment_id, user_id, account_number, amount::text, description, state, created, processed, ext_payment_details`

// scanPayment reads paymentColumns, then any extra columns into extra.
func scanPayment(row pgx.Row, extra ...any) (payment.Payment, error) {
	var p payment.Payment
	var amount, state string
	dest := append([]any{&p.ID, &p.UserID, &p.AccountNumber, &amount, &p.Description, &state, &p.Created, &p.Processed, &p.ExtPaymentDetails}, extra...)
	if err := row.Scan(dest...); err != nil {
		return payment.Payment{}, err
	}
	var err error
	if p.Amount, err = payment.ParseAmount(amount); err != nil {
		return payment.Payment{}, fmt.Errorf("stored amount %q: %w", amount, err)
	}
	p.State = payment.State(state)
	p.Created = p.Created.UTC()
	if p.Processed != nil {
		utc := p.Processed.UTC()
		p.Processed = &utc
	}
	return p, nil
}

// CreatePayment stores a new pending payment and its outgoing event in one
// transaction. With an idempotency key that this user has used before, it stores
// nothing and returns the earlier payment (replayed = true) when the request is
// the same (same fingerprint), or an EIDEMPOTENCY error when it is not.
func (s *Store) CreatePayment(ctx context.Context, p payment.Payment, idempotencyKey, fingerprint string, msg outbox.Message) (stored payment.Payment, replayed bool, err error) {
	event, err := json.Marshal(msg.Event)
	if err != nil {
		return payment.Payment{}, false, fmt.Errorf("encode event: %w", err)
	}
	var key *string
	if idempotencyKey != "" {
		key = &idempotencyKey
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			INSERT INTO payments (payment_id, user_id, account_number, amount, description, state, created, idempotency_key, request_hash)
			VALUES ($1, $2, $3, $4::numeric, $5, $6, $7, $8, $9)
			ON CONFLICT (user_id, idempotency_key) DO NOTHING`,
			p.ID, p.UserID, p.AccountNumber, p.Amount.String(), p.Description, string(p.State), p.Created, key, fingerprint)
		if err != nil {
			return fmt.Errorf("insert payment: %w", err)
		}
		if tag.RowsAffected() == 0 {
			stored, replayed, err = existing(ctx, tx, p.UserID, idempotencyKey, fingerprint)
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO outbox (event_id, topic, message_key, event) VALUES ($1, $2, $3, $4)`,
			msg.Event.ID(), msg.Topic, msg.Key, event)
		if err != nil {
			return fmt.Errorf("insert outbox event: %w", err)
		}
		stored = p
		return nil
	})
	if err != nil {
		return payment.Payment{}, false, classify("create payment", err)
	}
	return stored, replayed, nil
}

func existing(ctx context.Context, tx pgx.Tx, userID uuid.UUID, key, fingerprint string) (payment.Payment, bool, error) {
	var hash string
	p, err := scanPayment(tx.QueryRow(ctx, `SELECT `+paymentColumns+`, request_hash FROM payments
		WHERE user_id = $1 AND idempotency_key = $2`, userID, key), &hash)
	if err != nil {
		return payment.Payment{}, false, fmt.Errorf("read payment by idempotency key: %w", err)
	}
	if hash != fingerprint {
		return payment.Payment{}, false, payment.Errorf(payment.EIDEMPOTENCY,
			"Idempotency-Key %q was already used for a different request", key)
	}
	return p, true, nil
}

// GetPayment returns the user's payment. Another user's payment is not found:
// a payment id alone reveals nothing.
func (s *Store) GetPayment(ctx context.Context, id, userID uuid.UUID) (payment.Payment, error) {
	p, err := scanPayment(s.pool.QueryRow(ctx, `SELECT `+paymentColumns+` FROM payments WHERE payment_id = $1 AND user_id = $2`, id, userID))
	if errors.Is(err, pgx.ErrNoRows) {
		return payment.Payment{}, payment.Errorf(payment.ENOTFOUND, "payment %s not found", id)
	}
	if err != nil {
		return payment.Payment{}, classify("get payment", err)
	}
	return p, nil
}

// ListPayments returns the user's newest payments first.
func (s *Store) ListPayments(ctx context.Context, userID uuid.UUID, limit int) ([]payment.Payment, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+paymentColumns+` FROM payments WHERE user_id = $1
		ORDER BY created DESC, payment_id DESC LIMIT $2`, userID, limit)
	if err != nil {
		return nil, classify("list payments", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (payment.Payment, error) { return scanPayment(row) })
	if err != nil {
		return nil, classify("list payments", err)
	}
	return list, nil
}

// UpdatePayment locks the payment, applies fn to it and stores the result, all
// in one transaction. If fn returns an error nothing changes and the error is
// returned as it is (ErrAlreadyApplied included).
func (s *Store) UpdatePayment(ctx context.Context, id uuid.UUID, fn func(*payment.Payment) error) (payment.Payment, error) {
	var updated payment.Payment
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		p, err := scanPayment(tx.QueryRow(ctx, `SELECT `+paymentColumns+` FROM payments WHERE payment_id = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return payment.Errorf(payment.ENOTFOUND, "payment %s not found", id)
		}
		if err != nil {
			return fmt.Errorf("lock payment: %w", err)
		}
		if err := fn(&p); err != nil {
			updated = p
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE payments SET state = $2, processed = $3, ext_payment_details = $4 WHERE payment_id = $1`,
			id, string(p.State), p.Processed, p.ExtPaymentDetails)
		if err != nil {
			return fmt.Errorf("update payment: %w", err)
		}
		updated = p
		return nil
	})
	if err != nil {
		return updated, classify("update payment", err)
	}
	return updated, nil
}

// PublishOutbox locks up to limit unpublished events (only those in ids, when
// given), oldest first, skipping events another relay holds; calls publish; and
// marks as published the events it reports sent. It returns how many it marked
// and the joined errors of the rest.
func (s *Store) PublishOutbox(ctx context.Context, ids []string, limit int, publish func(context.Context, []outbox.Message) []error) (int, error) {
	var sent int
	var failures error
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT event_id, topic, message_key, event FROM outbox
			WHERE published IS NULL AND ($1::uuid[] IS NULL OR event_id = ANY($1))
			ORDER BY created LIMIT $2 FOR UPDATE SKIP LOCKED`, ids, limit)
		if err != nil {
			return fmt.Errorf("lock outbox: %w", err)
		}
		var eventIDs []uuid.UUID
		batch, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (outbox.Message, error) {
			var m outbox.Message
			var id uuid.UUID
			var raw []byte
			if err := row.Scan(&id, &m.Topic, &m.Key, &raw); err != nil {
				return m, err
			}
			eventIDs = append(eventIDs, id)
			m.Event = cloudevents.NewEvent()
			return m, json.Unmarshal(raw, &m.Event)
		})
		if err != nil || len(batch) == 0 {
			return err
		}
		var published []uuid.UUID
		var errs []error
		for i, err := range publish(ctx, batch) {
			if err != nil {
				errs = append(errs, err)
				continue
			}
			published = append(published, eventIDs[i])
		}
		failures = errors.Join(errs...)
		if len(published) == 0 {
			return nil
		}
		_, err = tx.Exec(ctx, `UPDATE outbox SET published = now() WHERE event_id = ANY($1)`, published)
		if err != nil {
			return fmt.Errorf("mark published: %w", err)
		}
		sent = len(published)
		return nil
	})
	if err != nil {
		return 0, classify("publish outbox", err)
	}
	return sent, failures
}

// classify wraps err with its operation and marks connection failures as
// EUNAVAILABLE, so that the caller answers 503 and the event is retried.
func classify(op string, err error) error {
	var perr *payment.Error
	if errors.As(err, &perr) {
		return err // already classified, or a domain decision such as ENOTFOUND
	}
	if unavailable(err) {
		return payment.Unavailable("database", fmt.Errorf("%s: %w", op, err))
	}
	return fmt.Errorf("%s: %w", op, err)
}

func unavailable(err error) bool {
	var netErr net.Error
	var connectErr *pgconn.ConnectError
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &connectErr), errors.As(err, &netErr),
		errors.Is(err, context.DeadlineExceeded), pgconn.SafeToRetry(err):
		return true
	case errors.As(err, &pgErr):
		// Class 08: connection exception; 57P0x: the server is shutting down or starting.
		return pgErr.Code[:2] == "08" || pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03"
	}
	return false
}
