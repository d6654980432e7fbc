package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"handler/function/local/bench/load"
)

// LongPoll is what the waiting run measured.
type LongPoll struct {
	Waiters int `json:"waiters"`
	// Transactions per second on the payments database (pg_stat_database
	// xact_commit + xact_rollback; one per statement outside a transaction),
	// with nobody waiting and while the long-polls wait. The measuring
	// connection uses another database, so it does not count itself.
	BaselinePerSecond float64 `json:"baselineTransactionsPerSecond"`
	WaitingPerSecond  float64 `json:"waitingTransactionsPerSecond"`
	// AnsweredEarly counts long-polls answered before their payment changed;
	// Failed those answered with an error or the wrong payment.
	AnsweredEarly int64 `json:"answeredEarly"`
	// StartTransactions counts the transactions from sending the long-polls
	// until the window opened: what starting to wait cost (one read each,
	// or fewer when reads share a query).
	StartTransactions int64  `json:"startTransactions"`
	Failed            int64  `json:"failed"`
	LastError         string `json:"lastError,omitempty"`
	// Answer runs from the end of the COMMIT of the change (when Postgres
	// reported it durable) to each answer; Commit is how long the COMMIT
	// itself took, mostly the disk flush.
	Answer load.Latency `json:"answer"`
	Commit float64      `json:"commitMs"`
	// Paced is the same wait with results that arrive as apply-result commits
	// them under load, one commit after another at PacedRate per second;
	// each answer is timed from the end of its own payment's commit.
	Paced     load.Latency `json:"paced"`
	PacedRate float64      `json:"pacedRate"`
	// Reads are the same payments read again afterwards, all at once and
	// without waiting, timed from sending: what answering so many costs on
	// the HTTP path alone, without the wake-up.
	Reads load.Latency `json:"readsAtOnce"`
}

// measureLongPoll holds payments pending by writing them straight into
// Postgres without an outbox event (so nothing processes them), opens a
// long-poll on each through the gateway, counts the database's transactions
// while they wait, then completes them all in one transaction and times each
// answer from the end of the COMMIT: the same trigger and NOTIFY that apply-result's
// commit fires.
func (b *bench) measureLongPoll(ctx context.Context) error {
	if err := b.settle(ctx); err != nil {
		return err
	}
	n := b.cfg.Waiters
	pending, err := b.insertPending(ctx, n)
	if err != nil {
		return err
	}

	// pg_stat_database counts autovacuum's transactions too: vacuum and
	// analyze now, so that the rows the earlier phases wrote (and these) do
	// not set it off inside a window.
	if _, err := b.db.Exec(ctx, `VACUUM (ANALYZE) payments, outbox`); err != nil {
		return fmt.Errorf("vacuum: %w", err)
	}
	stats, err := b.statsReader(ctx)
	if err != nil {
		return err
	}
	defer stats.Close(context.WithoutCancel(ctx))
	lp := LongPoll{Waiters: n}
	// Retries and redeliveries of earlier work must not count as waiting.
	b.progress.Line("long-poll: waiting for the database to go quiet")
	if _, err := stats.waitQuiet(ctx, 0, time.Minute); err != nil {
		return err
	}
	b.progress.Line("long-poll: counting transactions for %s with nobody waiting", b.cfg.WaitWindow)
	if lp.BaselinePerSecond, err = stats.rate(ctx, b.cfg.WaitWindow); err != nil {
		return err
	}

	beforeSending, err := stats.transactions(ctx)
	if err != nil {
		return err
	}
	var (
		wg       sync.WaitGroup
		changed  atomic.Bool
		mu       sync.Mutex
		answers  []time.Time
		answered atomic.Int64
	)
	record := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		lp.Failed++
		lp.LastError = err.Error()
	}
	for _, p := range pending {
		wg.Go(func() {
			state, err := b.readPayment(ctx, p.id, p.user, 30)
			at := time.Now()
			answered.Add(1)
			switch {
			case err != nil:
				record(err)
			case !changed.Load():
				mu.Lock()
				lp.AnsweredEarly++
				mu.Unlock()
			case state != "completed":
				record(fmt.Errorf("answered with state %q", state))
			default:
				mu.Lock()
				answers = append(answers, at)
				mu.Unlock()
			}
		})
	}
	// Each long-poll reads its payment once when it starts waiting, and an
	// idle Postgres 15 backend reports its counts only after 10 s: the window
	// opens 11 s after the last long-poll was sent, so that it counts what
	// waiting costs, not what starting to wait cost. That cost is reported
	// apart.
	b.progress.Line("long-poll: %d sent; waiting 11 s for their first reads to be counted", n)
	select {
	case <-ctx.Done():
		wg.Wait()
		return ctx.Err()
	case <-time.After(11 * time.Second):
	}
	started, err := stats.transactions(ctx)
	if err != nil {
		wg.Wait()
		return err
	}
	lp.StartTransactions = started - beforeSending
	b.progress.Line("long-poll: %d waiting; counting transactions for %s", n, b.cfg.WaitWindow)
	lp.WaitingPerSecond, err = stats.rate(ctx, b.cfg.WaitWindow)
	if err != nil {
		wg.Wait()
		return err
	}

	ids := make([]uuid.UUID, len(pending))
	for i, p := range pending {
		ids[i] = p.id
	}
	tx, err := b.db.Begin(ctx)
	if err != nil {
		wg.Wait()
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE payments SET state = 'completed', processed = now(), ext_payment_details = 'bench'
		WHERE payment_id = ANY($1)`, ids); err != nil {
		tx.Rollback(ctx)
		wg.Wait()
		return fmt.Errorf("complete the payments: %w", err)
	}
	changed.Store(true)
	commitSent := time.Now()
	if err := tx.Commit(ctx); err != nil {
		wg.Wait()
		return fmt.Errorf("commit: %w", err)
	}
	committed := time.Now()
	lp.Commit = float64(committed.Sub(commitSent)) / float64(time.Millisecond)
	stop := b.progress.Track(func() string {
		return fmt.Sprintf("long-poll: %d of %d answered", answered.Load(), n)
	})
	wg.Wait()
	latencies := make([]time.Duration, len(answers))
	for i, at := range answers {
		latencies[i] = at.Sub(committed)
	}
	lp.Answer = load.Distribution(latencies)
	if lp.Reads, err = b.readAtOnce(ctx, pending); err != nil {
		return err
	}
	if err := b.profileReads(ctx, pending); err != nil {
		return err
	}
	stop(fmt.Sprintf("long-poll: %d waiters, %d transactions to start waiting, %.1f/s while waiting (%.1f with none); answered first %.1f, p50 %.1f ms, p99 %.1f ms, max %.1f ms after the commit returned (it took %.1f ms); %d early, %d failed; the same read at once without waiting: p50 %.1f ms, max %.1f ms",
		n, lp.StartTransactions, lp.WaitingPerSecond, lp.BaselinePerSecond, lp.Answer.Min, lp.Answer.P50, lp.Answer.P99, lp.Answer.Max, lp.Commit, lp.AnsweredEarly, lp.Failed, lp.Reads.P50, lp.Reads.Max))
	b.results.LongPoll = &lp
	if lp.Failed > 0 || lp.AnsweredEarly > 0 {
		return fmt.Errorf("%d long-polls failed and %d were answered early (last error: %s)", lp.Failed, lp.AnsweredEarly, lp.LastError)
	}
	b.progress.Line("long-poll: %d more waiting, their results committed one by one at %d/s", n, pacedRate)
	lp.PacedRate = pacedRate
	if lp.Paced, err = b.measurePaced(ctx, n); err != nil {
		return err
	}
	b.progress.Line("long-poll: results at %d/s answered p50 %.1f ms, p99 %.1f ms, max %.1f ms after their commits",
		pacedRate, lp.Paced.P50, lp.Paced.P99, lp.Paced.Max)
	return nil
}

// insertPending writes n pending payments straight into Postgres, without
// an outbox event, so that nothing processes them.
func (b *bench) insertPending(ctx context.Context, n int) ([]paymentRef, error) {
	rows, err := b.db.Query(ctx, `INSERT INTO payments (payment_id, user_id, account_number, amount, description, state, created, request_hash)
		SELECT gen_random_uuid(), gen_random_uuid(), '40817810099910004312', 125.50, 'bench long-poll', 'pending', now(), 'bench'
		FROM generate_series(1, $1) RETURNING payment_id, user_id`, n)
	if err != nil {
		return nil, fmt.Errorf("insert pending payments: %w", err)
	}
	pending, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (paymentRef, error) {
		var p paymentRef
		return p, r.Scan(&p.id, &p.user)
	})
	if err != nil {
		return nil, fmt.Errorf("insert pending payments: %w", err)
	}
	return pending, nil
}

// pacedRate is about the rate at which apply-result commits results in the
// end-to-end phase.
const pacedRate = 200

// measurePaced holds n more payments pending with a long-poll on each, then
// completes them one transaction at a time at pacedRate, and times each
// answer from the end of its own payment's commit.
func (b *bench) measurePaced(ctx context.Context, n int) (load.Latency, error) {
	payments, err := b.insertPending(ctx, n)
	if err != nil {
		return load.Latency{}, err
	}
	answered := make([]time.Time, n)
	committed := make([]time.Time, n)
	errs := make([]error, 2*n)
	var wg sync.WaitGroup
	for i, p := range payments {
		wg.Go(func() {
			var state string
			state, errs[i] = b.readPayment(ctx, p.id, p.user, 30)
			answered[i] = time.Now()
			if errs[i] == nil && state != "completed" {
				errs[i] = fmt.Errorf("answered with state %q", state)
			}
		})
	}
	// Time for every long-poll to reach get-payment and start waiting.
	select {
	case <-ctx.Done():
		wg.Wait()
		return load.Latency{}, ctx.Err()
	case <-time.After(5 * time.Second):
	}
	// Each commit on its own goroutine at its time, so that a slow disk
	// flush does not delay the next result.
	interval := time.Duration(float64(time.Second) / pacedRate)
	start := time.Now()
	var commits sync.WaitGroup
	for i, p := range payments {
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		commits.Go(func() {
			_, errs[n+i] = b.db.Exec(ctx, `UPDATE payments SET state = 'completed', processed = now(), ext_payment_details = 'bench'
				WHERE payment_id = $1`, p.id)
			committed[i] = time.Now()
		})
	}
	commits.Wait()
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return load.Latency{}, fmt.Errorf("paced long-polls: %w", err)
	}
	latencies := make([]time.Duration, n)
	for i := range latencies {
		latencies[i] = answered[i].Sub(committed[i])
	}
	return load.Distribution(latencies), nil
}

// paymentRef names a payment and its user, who alone may read it.
type paymentRef struct{ id, user uuid.UUID }

// readAtOnce reads every payment through the gateway at the same moment and
// times each answer from then.
func (b *bench) readAtOnce(ctx context.Context, payments []paymentRef) (load.Latency, error) {
	latencies := make([]time.Duration, len(payments))
	errs := make([]error, len(payments))
	var wg sync.WaitGroup
	start := time.Now()
	for i, p := range payments {
		wg.Go(func() {
			_, errs[i] = b.readPayment(ctx, p.id, p.user, 0)
			latencies[i] = time.Since(start)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return load.Latency{}, fmt.Errorf("read at once: %w", err)
	}
	return load.Distribution(latencies), nil
}

// profileReads, in -profile runs, profiles 10 s of reading every payment at
// once, again and again: one burst is too short for a CPU profile.
func (b *bench) profileReads(ctx context.Context, payments []paymentRef) error {
	const d = 10 * time.Second
	if b.cfg.ProfileDir == "" {
		return nil
	}
	stop, err := b.startProfiles(ctx, "reads", d)
	if err != nil {
		return err
	}
	for end := time.Now().Add(d); time.Now().Before(end); {
		if _, err := b.readAtOnce(ctx, payments); err != nil {
			stop()
			return err
		}
	}
	return stop()
}

// readPayment reads the payment through the gateway and returns its state,
// long-polling for up to wait seconds (0: a plain read).
func (b *bench) readPayment(ctx context.Context, id, user uuid.UUID, wait int) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	url := fmt.Sprintf("%s/function/get-payment?id=%s&userId=%s&wait=%d", b.stack.GatewayURL, id, user, wait)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+b.stack.APIKey)
	resp, err := b.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("get-payment: %d %s", resp.StatusCode, snippet(raw))
	}
	var p struct {
		ID    uuid.UUID `json:"paymentId"`
		State string    `json:"state"`
	}
	if err := json.Unmarshal(raw, &p); err != nil || p.ID != id {
		return "", fmt.Errorf("get-payment: not the payment asked for: %s", snippet(raw))
	}
	return p.State, nil
}

// statsReader reads the payments database's transaction counter over a
// connection to another database of the same server.
type statsReader struct {
	conn     *pgx.Conn
	database string
}

func (b *bench) statsReader(ctx context.Context) (*statsReader, error) {
	cfg, err := pgx.ParseConfig(b.stack.DatabaseURL)
	if err != nil {
		return nil, err
	}
	url, err := databaseURL(b.stack.DatabaseURL, "postgres")
	if err != nil {
		return nil, err
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("connect for statistics: %w", err)
	}
	return &statsReader{conn: conn, database: cfg.Database}, nil
}

func (s *statsReader) Close(ctx context.Context) error { return s.conn.Close(ctx) }

func (s *statsReader) transactions(ctx context.Context) (int64, error) {
	var n int64
	err := s.conn.QueryRow(ctx, `SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1`, s.database).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("read pg_stat_database: %w", err)
	}
	return n, nil
}

// waitQuiet waits until two consecutive seconds each saw at most a few
// transactions more than the baseline rate, or until limit, and returns how
// long it waited.
func (s *statsReader) waitQuiet(ctx context.Context, baseline float64, limit time.Duration) (float64, error) {
	start := time.Now()
	last, err := s.transactions(ctx)
	if err != nil {
		return 0, err
	}
	quiet := 0
	for quiet < 2 && time.Since(start) < limit {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(time.Second):
		}
		now, err := s.transactions(ctx)
		if err != nil {
			return 0, err
		}
		if float64(now-last) <= baseline+3 {
			quiet++
		} else {
			quiet = 0
		}
		last = now
	}
	return time.Since(start).Seconds(), nil
}

// rate counts the transactions over d. Backends report their counts at most
// once a second, so d should be several seconds.
func (s *statsReader) rate(ctx context.Context, d time.Duration) (float64, error) {
	before, err := s.transactions(ctx)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(d):
	}
	after, err := s.transactions(ctx)
	if err != nil {
		return 0, err
	}
	return float64(after-before) / time.Since(start).Seconds(), nil
}
