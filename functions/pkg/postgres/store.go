// Package postgres stores payments and their outbox in PostgreSQL with pgx.
// Transactions stay inside this package: callers pass pure functions.
package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"handler/function/functions/pkg/metrics"
	"handler/function/functions/pkg/outbox"
	"handler/function/functions/pkg/payment"
)

// Config configures the pool.
type Config struct {
	URL string
	// MaxConns bounds the pool (0 keeps pgx's default of max(4, CPUs)).
	MaxConns int32
	// Timeout bounds every call of the store, from waiting for a pooled
	// connection (or connecting) to the commit; DefaultTimeout when zero. A
	// stalled or unreachable database then answers EUNAVAILABLE (503) within
	// Timeout. The server enforces it too (statement_timeout, see Open).
	Timeout time.Duration
	// Now stamps events as published, which retention reads (see Expire);
	// time.Now when nil.
	Now func() time.Time
}

// DefaultTimeout is Config.Timeout when none is given.
const DefaultTimeout = 3 * time.Second

// Store is the Postgres implementation of the payment store.
type Store struct {
	pool     *pgxpool.Pool
	unwatch  func() // removes the pool from the process's metrics
	listener *listener
	timeout  time.Duration
	now      func() time.Time
	// Concurrent reads of one payment and concurrent updates each share a
	// query and a transaction (see batcher): a thousand long-polls woken by
	// one commit, or apply-result under load, cost a few round trips, not a
	// thousand.
	creates *batcher[createRequest, bool]
	reads   *batcher[readRequest, payment.Payment]
	updates *batcher[updateRequest, payment.Payment]
	marks   *batcher[[]uuid.UUID, struct{}]
}

// maxBatch bounds the calls one query or transaction serves.
const maxBatch = 500

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
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	// A connection attempt (TCP, TLS, start-up) ends within Timeout: pgx goes
	// on connecting in the background after the caller gave up, and a stalled
	// server accepts TCP connections that it never answers.
	pc.ConnConfig.ConnectTimeout = cfg.Timeout
	// The server's own deadlines, sent in the start-up message (no extra round
	// trip): a statement stuck on the server (a lock, a slow plan) is cancelled
	// and its locks released even when the client that waits for it is gone;
	// a lock wait fails a little earlier, with its own error; and a session
	// left idle inside a transaction (its client frozen or cut off, holding
	// row locks) is ended. Every transaction here lasts at most Timeout, so
	// twice that is never a live one. (Behind PgBouncer, list these three in
	// its ignore_startup_parameters and set them on the database role instead.)
	pc.ConnConfig.RuntimeParams["statement_timeout"] = milliseconds(cfg.Timeout)
	pc.ConnConfig.RuntimeParams["lock_timeout"] = milliseconds(cfg.Timeout / 2)
	pc.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"] = milliseconds(2 * cfg.Timeout)
	// Every statement is planned for its own arguments. After five runs of a
	// prepared statement Postgres may switch to a generic plan and keep it
	// until the table is analysed again; one chosen while the table was small
	// (a fresh database) looks up "payment_id = ANY($1)" by scanning the whole
	// table, and kept doing so as it grew: under make bench that scan was most
	// of Postgres's CPU (docs/benchmarks.md). Planning these statements costs
	// far less than one such scan.
	pc.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	pc.AfterConnect = func(_ context.Context, conn *pgx.Conn) error {
		registerUUID(conn.TypeMap())
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("create pool: %w", err)
	}
	s := &Store{pool: pool, unwatch: metrics.WatchPool(pool), timeout: cfg.Timeout, now: cfg.Now}
	s.listener = newListener(pc.ConnConfig.Copy(), cfg.Timeout)
	s.creates = &batcher[createRequest, bool]{op: "create payment", max: maxBatch, run: s.createBatch, inDoubt: maybeStored}
	s.reads = &batcher[readRequest, payment.Payment]{op: "get payment", max: maxBatch, run: s.readBatch}
	s.updates = &batcher[updateRequest, payment.Payment]{op: "update payment", max: maxBatch, run: s.updateBatch}
	s.marks = &batcher[[]uuid.UUID, struct{}]{op: "mark published", max: maxBatch, run: s.markBatch}
	return s, nil
}

func milliseconds(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

// bound gives one call of the store its deadline: the caller's, or Timeout
// from now if that comes first. Waiting for a connection, connecting, every
// statement and the commit all fall within it.
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// Close stops the listener and closes the pool.
func (s *Store) Close() {
	s.unwatch()
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
// statement. With an idempotency key that this user has used before, it stores
// nothing and returns the earlier payment (replayed = true) when the request is
// the same (same fingerprint), or an EIDEMPOTENCY error when it is not.
//
// Concurrent creates share one statement and one commit (see createBatch):
// under load one disk flush serves many payments, as Postgres's own group
// commit would if every create had a connection of its own.
func (s *Store) CreatePayment(ctx context.Context, p payment.Payment, idempotencyKey, fingerprint string, msg outbox.Message) (stored payment.Payment, replayed bool, err error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	event, err := msg.Encoded()
	if err != nil {
		return payment.Payment{}, false, err
	}
	req := createRequest{p: p, fingerprint: fingerprint, msg: msg, event: event}
	if idempotencyKey != "" {
		req.key = &idempotencyKey
	}
	inserted, err := s.creates.do(ctx, req)
	if err != nil {
		return payment.Payment{}, false, err
	}
	if inserted {
		return p, false, nil
	}
	stored, replayed, err = existing(ctx, s.pool, p.UserID, idempotencyKey, fingerprint)
	if err != nil {
		return payment.Payment{}, false, classify("create payment", err)
	}
	return stored, replayed, nil
}

type createRequest struct {
	p           payment.Payment
	key         *string // nil: no Idempotency-Key
	fingerprint string
	msg         outbox.Message
	event       []byte // msg.Event as stored
}

// createBatch inserts the payments of a batch of CreatePayment calls and the
// events of those inserted, in one statement (one round trip, one implicit
// transaction, one commit). A call's result is whether its payment was
// inserted; one that was not met an earlier payment with its user's
// Idempotency-Key (in the table, or earlier in the same batch).
//
// Requests are validated before they get here, so a batch fails only when the
// database does; should one row break a constraint anyway, the batch is run
// again one call at a time, so that only that call fails.
func (s *Store) createBatch(ctx context.Context, calls []*call[createRequest, bool]) {
	err := s.insertPayments(ctx, calls)
	if err != nil && len(calls) > 1 && !unavailable(err) {
		for _, c := range calls {
			s.createBatch(ctx, []*call[createRequest, bool]{c})
		}
		return
	}
	for _, c := range calls {
		if err != nil {
			c.err = maybeStored(classify("create payment", withCallerContext(c.ctx, fmt.Errorf("insert payment and event: %w", err))))
		}
	}
}

func (s *Store) insertPayments(ctx context.Context, calls []*call[createRequest, bool]) error {
	n := len(calls)
	var (
		ids, users, eventIDs                 = make([]uuid.UUID, n), make([]uuid.UUID, n), make([]string, n)
		accounts, amounts, descriptions      = make([]string, n), make([]string, n), make([]string, n)
		states, hashes, topics, keys, events = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		created                              = make([]time.Time, n)
		idempotencyKeys                      = make([]*string, n)
	)
	for i, c := range calls {
		r := c.req
		ids[i], users[i], accounts[i], amounts[i], descriptions[i] = r.p.ID, r.p.UserID, r.p.AccountNumber, r.p.Amount.String(), r.p.Description
		states[i], created[i], idempotencyKeys[i], hashes[i] = string(r.p.State), r.p.Created, r.key, r.fingerprint
		eventIDs[i], topics[i], keys[i], events[i] = r.msg.Event.ID(), r.msg.Topic, r.msg.Key, string(r.event)
	}
	// The events CTE runs although nothing reads it (every data-modifying
	// CTE does); it stores the event of each payment actually inserted.
	rows, err := s.pool.Query(ctx, `
		WITH input AS (
			SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[],
				$7::timestamptz[], $8::text[], $9::text[], $10::uuid[], $11::text[], $12::text[], $13::text[])
				AS t(payment_id, user_id, account_number, amount, description, state,
				created, idempotency_key, request_hash, event_id, topic, message_key, event)
		), inserted AS (
			INSERT INTO payments (payment_id, user_id, account_number, amount, description, state, created, idempotency_key, request_hash)
			SELECT payment_id, user_id, account_number, amount::numeric, description, state, created, idempotency_key, request_hash
			FROM input
			ON CONFLICT (user_id, idempotency_key) DO NOTHING
			RETURNING payment_id
		), events AS (
			INSERT INTO outbox (event_id, topic, message_key, event)
			SELECT event_id, topic, message_key, event::jsonb FROM input JOIN inserted USING (payment_id)
		)
		SELECT payment_id FROM inserted`,
		ids, users, accounts, amounts, descriptions, states, created, idempotencyKeys, hashes, eventIDs, topics, keys, events)
	if err != nil {
		return err
	}
	inserted, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return err
	}
	done := make(map[uuid.UUID]bool, len(inserted))
	for _, id := range inserted {
		done[id] = true
	}
	for _, c := range calls {
		c.res = done[c.req.p.ID]
	}
	return nil
}

// maybeStored says what a client must know when the insert failed for want of
// the database: if the statement may have reached the server (a deadline
// while waiting for its answer, a connection lost after sending it), the
// payment may be stored, and only a retry with the same Idempotency-Key can
// tell without risking a second payment.
func maybeStored(err error) error {
	var e *payment.Error
	var connectErr *pgconn.ConnectError // no connection: the statement was never sent
	if !errors.As(err, &e) || e.Code != payment.EUNAVAILABLE || pgconn.SafeToRetry(err) || errors.As(err, &connectErr) {
		return err
	}
	return &payment.Error{Code: payment.EUNAVAILABLE, Err: e.Err,
		Message: "the database did not answer in time and the payment may have been stored: " +
			"retry with the same Idempotency-Key, which returns the payment if it was"}
}

// rowQuerier is a pool or a transaction.
type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func existing(ctx context.Context, db rowQuerier, userID uuid.UUID, key, fingerprint string) (payment.Payment, bool, error) {
	var hash string
	p, err := scanPayment(db.QueryRow(ctx, `SELECT `+paymentColumns+`, request_hash FROM payments
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
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return s.reads.do(ctx, readRequest{id: id, userID: userID})
}

type readRequest struct{ id, userID uuid.UUID }

// readBatch reads the payments of a batch of GetPayment calls in one query.
func (s *Store) readBatch(ctx context.Context, calls []*call[readRequest, payment.Payment]) {
	ids := make([]uuid.UUID, len(calls))
	for i, c := range calls {
		ids[i] = c.req.id
	}
	found := make(map[uuid.UUID]payment.Payment, len(calls))
	rows, err := s.pool.Query(ctx, `SELECT `+paymentColumns+` FROM payments WHERE payment_id = ANY($1)`, ids)
	if err == nil {
		var list []payment.Payment
		list, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (payment.Payment, error) { return scanPayment(row) })
		for _, p := range list {
			found[p.ID] = p
		}
	}
	for _, c := range calls {
		p, ok := found[c.req.id]
		switch {
		case err != nil:
			c.err = classify("get payment", withCallerContext(c.ctx, err))
		case !ok || p.UserID != c.req.userID:
			c.err = payment.Errorf(payment.ENOTFOUND, "payment %s not found", c.req.id)
		default:
			c.res = p
		}
	}
}

// withCallerContext adds the caller's context error to a batch's failure:
// the batch's context ends only when every caller's has, and a caller whose
// deadline passed must see a deadline (503), as it would without batching.
func withCallerContext(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		return fmt.Errorf("%w: %w", ctxErr, err)
	}
	return err
}

// ListPayments returns the user's newest payments first.
func (s *Store) ListPayments(ctx context.Context, userID uuid.UUID, limit int) ([]payment.Payment, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
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
//
// When ctx (or Timeout) ends while the transaction runs, UpdatePayment returns
// EUNAVAILABLE at once and the transaction may still commit: fn must be a pure
// function of the payment, and the change one that a retry finds already made
// (apply-result's results are: a second one is ErrAlreadyApplied).
func (s *Store) UpdatePayment(ctx context.Context, id uuid.UUID, fn func(*payment.Payment) error) (payment.Payment, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return s.updates.do(ctx, updateRequest{id: id, fn: fn})
}

type updateRequest struct {
	id uuid.UUID
	fn func(*payment.Payment) error
}

// updateBatch runs a batch of UpdatePayment calls in one transaction: it
// locks their payments in id order (so that the batches of several instances
// cannot deadlock), applies each call's fn in arrival order (a second result
// for the same payment sees the first), and stores the changed payments with
// one statement. A call whose fn fails changes nothing and gets its error;
// if the transaction fails, every call gets that error and nothing changed.
func (s *Store) updateBatch(ctx context.Context, calls []*call[updateRequest, payment.Payment]) {
	ids := make([]uuid.UUID, len(calls))
	for i, c := range calls {
		ids[i] = c.req.id
	}
	own := make([]error, len(calls)) // each call's own outcome: not found, or fn's error
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+paymentColumns+` FROM payments WHERE payment_id = ANY($1) ORDER BY payment_id FOR UPDATE`, ids)
		if err != nil {
			return fmt.Errorf("lock payments: %w", err)
		}
		locked, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (payment.Payment, error) { return scanPayment(row) })
		if err != nil {
			return fmt.Errorf("lock payments: %w", err)
		}
		current := make(map[uuid.UUID]payment.Payment, len(locked))
		for _, p := range locked {
			current[p.ID] = p
		}
		var changed []uuid.UUID // in first-change order, each once
		isChanged := make(map[uuid.UUID]bool, len(calls))
		for i, c := range calls {
			p, ok := current[c.req.id]
			if !ok {
				own[i] = payment.Errorf(payment.ENOTFOUND, "payment %s not found", c.req.id)
				continue
			}
			next := p
			if err := c.req.fn(&next); err != nil {
				c.res, own[i] = next, err
				continue
			}
			if !isChanged[c.req.id] {
				isChanged[c.req.id] = true
				changed = append(changed, c.req.id)
			}
			current[c.req.id], c.res = next, next
		}
		if len(changed) == 0 {
			return nil
		}
		states := make([]string, len(changed))
		processed := make([]*time.Time, len(changed))
		details := make([]*string, len(changed))
		for i, id := range changed {
			p := current[id]
			states[i], processed[i], details[i] = string(p.State), p.Processed, p.ExtPaymentDetails
		}
		_, err = tx.Exec(ctx, `UPDATE payments AS p SET state = u.state, processed = u.processed, ext_payment_details = u.details
			FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::text[]) AS u(payment_id, state, processed, details)
			WHERE p.payment_id = u.payment_id`, changed, states, processed, details)
		if err != nil {
			return fmt.Errorf("update payments: %w", err)
		}
		return nil
	})
	for i, c := range calls {
		switch {
		case own[i] != nil:
			c.err = classify("update payment", own[i])
		case err != nil:
			c.err = classify("update payment", withCallerContext(c.ctx, err))
		}
	}
}

// PublishOutbox locks up to limit unpublished events, oldest first, skipping
// events another relay holds; calls publish; and marks as published the events
// it reports sent. It returns how many it marked and the joined errors of the
// rest. This is the relay's sweep.
//
// The whole call, publish included, lasts at most Timeout: a transaction
// holds its events' row locks and a connection, and must not hold them
// for as long as Kafka is slow. An event that Kafka took but that could not
// be marked in time is published again later (at-least-once delivery).
func (s *Store) PublishOutbox(ctx context.Context, limit int, publish func(context.Context, []outbox.Message) []error) (int, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return s.drainOutbox(ctx, limit, publish)
}

// MarkPublished marks events as published that the caller sent itself
// (create-payment sends its new event from memory right after the commit, with
// no transaction open while Kafka acknowledges). Concurrent calls share one
// statement. An event the relay holds locked is skipped, not waited for: the
// relay marks it itself. Unknown or already marked ids are ignored.
func (s *Store) MarkPublished(ctx context.Context, eventIDs []string) error {
	ids := make([]uuid.UUID, len(eventIDs))
	for i, raw := range eventIDs {
		id, err := uuid.Parse(raw)
		if err != nil {
			return fmt.Errorf("mark published: event id %q: %w", raw, err)
		}
		ids[i] = id
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	_, err := s.marks.do(ctx, ids)
	return err
}

// markBatch marks the events of a batch of MarkPublished calls in one round
// trip: one pipelined transaction whose commit does not wait for the disk
// (see markPublished for why that is safe).
func (s *Store) markBatch(ctx context.Context, calls []*call[[]uuid.UUID, struct{}]) {
	var all []uuid.UUID
	for _, c := range calls {
		all = append(all, c.req...)
	}
	batch := &pgx.Batch{}
	batch.Queue(`BEGIN`)
	batch.Queue(`SET LOCAL synchronous_commit = off`)
	batch.Queue(`UPDATE outbox SET published = $2 WHERE event_id = ANY(ARRAY(
		SELECT event_id FROM outbox WHERE event_id = ANY($1) AND published IS NULL FOR UPDATE SKIP LOCKED))`, all, s.now())
	batch.Queue(`COMMIT`)
	err := s.pool.SendBatch(ctx, batch).Close()
	for _, c := range calls {
		if err != nil {
			c.err = classify("mark published", withCallerContext(c.ctx, fmt.Errorf("mark published: %w", err)))
		}
	}
}

// lockedEvent is an outbox row locked for publishing.
type lockedEvent struct {
	id  uuid.UUID
	msg outbox.Message
}

// scanEvents reads locked outbox rows.
func scanEvents(rows pgx.Rows) ([]lockedEvent, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (lockedEvent, error) {
		var e lockedEvent
		var raw []byte
		if err := row.Scan(&e.id, &e.msg.Topic, &e.msg.Key, &raw); err != nil {
			return e, err
		}
		e.msg.JSON = raw // sent as stored
		e.msg.Event = cloudevents.NewEvent()
		return e, json.Unmarshal(raw, &e.msg.Event)
	})
}

// markPublished marks the events sent, in one round trip with the setting
// that lets the commit skip the disk flush. The mark need not wait for the
// WAL to reach disk: if a crash loses it, the event is published again,
// which at-least-once delivery allows and consumers are built for (a crash
// between the send and the commit has the same effect).
func markPublished(ctx context.Context, tx pgx.Tx, ids []uuid.UUID, now time.Time) error {
	batch := &pgx.Batch{}
	batch.Queue(`UPDATE outbox SET published = $2 WHERE event_id = ANY($1)`, ids, now)
	batch.Queue(`SET LOCAL synchronous_commit = off`)
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("mark published: %w", err)
	}
	return nil
}

// drainOutbox is PublishOutbox's transaction.
func (s *Store) drainOutbox(ctx context.Context, limit int, publish func(context.Context, []outbox.Message) []error) (int, error) {
	var sent int
	var failures error
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT event_id, topic, message_key, event FROM outbox
			WHERE published IS NULL ORDER BY created LIMIT $1 FOR UPDATE SKIP LOCKED`, limit)
		if err != nil {
			return fmt.Errorf("lock outbox: %w", err)
		}
		events, err := scanEvents(rows)
		if err != nil || len(events) == 0 {
			return err
		}
		batch := make([]outbox.Message, len(events))
		for i, e := range events {
			batch[i] = e.msg
		}
		var published []uuid.UUID
		var errs []error
		for i, err := range publish(ctx, batch) {
			if err != nil {
				errs = append(errs, err)
				continue
			}
			published = append(published, events[i].id)
		}
		failures = errors.Join(errs...)
		if len(published) == 0 {
			return errNothingSent
		}
		if err := markPublished(ctx, tx, published, s.now()); err != nil {
			return err
		}
		sent = len(published)
		return nil
	})
	if errors.Is(err, errNothingSent) {
		err = nil
	}
	if err != nil {
		return 0, classify("publish outbox", err)
	}
	return sent, failures
}

// Expire forgets what is kept only for a while: it deletes up to limit events
// published before before, and clears up to limit idempotency keys of
// payments created before before (the payments stay; a request with such a key
// is then a new one). Unpublished events are never deleted. It returns how
// many of each it removed: fewer than limit means none are left. One round
// trip, within Timeout; rows that others hold locked are left for next time.
func (s *Store) Expire(ctx context.Context, before time.Time, limit int) (events, keys int, err error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	batch := &pgx.Batch{}
	// Each finds its rows on a partial index that holds only what may expire
	// (db/migrations), then reaches them by primary key: ARRAY(…) rather than
	// IN (…), which the planner may turn into a scan of the whole table.
	batch.Queue(`DELETE FROM outbox WHERE event_id = ANY(ARRAY(
		SELECT event_id FROM outbox WHERE published < $1 ORDER BY published LIMIT $2 FOR UPDATE SKIP LOCKED))`, before, limit)
	batch.Queue(`UPDATE payments SET idempotency_key = NULL WHERE payment_id = ANY(ARRAY(
		SELECT payment_id FROM payments WHERE idempotency_key IS NOT NULL AND created < $1
		ORDER BY created LIMIT $2 FOR UPDATE SKIP LOCKED))`, before, limit)
	results := s.pool.SendBatch(ctx, batch)
	deleted, err := results.Exec()
	if err == nil {
		var cleared pgconn.CommandTag
		cleared, err = results.Exec()
		events, keys = int(deleted.RowsAffected()), int(cleared.RowsAffected())
	}
	if closeErr := results.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return 0, 0, classify("expire", err)
	}
	return events, keys, nil
}

// errNothingSent rolls back a publishing transaction that has nothing to
// mark. Committing instead would fail when the publish used up the caller's
// deadline (Kafka down), and that failure would blame the database.
var errNothingSent = errors.New("nothing was sent")

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
	// A cancelled context is a caller that left (a client hung up), not a
	// bug: it is answered as an outage, which nobody hears.
	case errors.As(err, &connectErr), errors.As(err, &netErr),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled), pgconn.SafeToRetry(err):
		return true
	case errors.As(err, &pgErr):
		// 57014 query_canceled: statement_timeout, our deadline kept by the
		// server; 55P03: lock_timeout; 25P03: idle_in_transaction_session_timeout;
		// 57P0x: the server is shutting down or starting.
		switch pgErr.Code {
		case "57014", "55P03", "25P03", "57P01", "57P02", "57P03":
			return true
		}
		return pgErr.Code[:2] == "08" // connection exception
	}
	return false
}
