package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"handler/function/functions/pkg/events"
	"handler/function/functions/pkg/eventsig"
	"handler/function/functions/pkg/kafka"
	"handler/function/functions/pkg/payment"
	"handler/function/local/bench/load"
	"handler/function/local/connector"
)

// PGBench is a pgbench run of single-row INSERT transactions.
type PGBench struct {
	Clients          int     `json:"clients"`
	Seconds          float64 `json:"seconds"`
	TPS              float64 `json:"tps"`
	LatencyAverageMs float64 `json:"latencyAverageMs"`
}

// limitsDatabase keeps pgbench's table away from the payments database, so
// that its rows and its statistics do not mix with the stack's.
const limitsDatabase = "bench_limits"

// paymentsLike has the payments table's columns, constraints and indexes,
// without the NOTIFY trigger (which fires on updates only anyway).
const paymentsLike = `
CREATE TABLE payments_like (
    payment_id          uuid PRIMARY KEY,
    user_id             uuid NOT NULL,
    account_number      text NOT NULL CHECK (char_length(account_number) BETWEEN 1 AND 64),
    amount              numeric(14, 2) NOT NULL CHECK (amount > 0),
    description         text NOT NULL CHECK (char_length(description) <= 500),
    state               text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'completed', 'rejected')),
    created             timestamptz NOT NULL,
    processed           timestamptz,
    ext_payment_details text,
    idempotency_key     text CHECK (char_length(idempotency_key) BETWEEN 1 AND 255),
    request_hash        text NOT NULL,
    UNIQUE (user_id, idempotency_key),
    CHECK ((state = 'pending') = (processed IS NULL))
);
CREATE INDEX ON payments_like (user_id, created DESC, payment_id DESC);`

// insertScript is one pgbench transaction: one payment, as create-payment
// writes it.
const insertScript = `INSERT INTO payments_like (payment_id, user_id, account_number, amount, description, state, created, request_hash)
VALUES (gen_random_uuid(), gen_random_uuid(), '40817810099910004312', 125.50, 'Rent', 'pending', now(), 'a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2');
`

var (
	tpsLine     = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)
	latencyLine = regexp.MustCompile(`latency average = ([0-9.]+) ms`)
)

// measurePGBench runs pgbench against the stack's own Postgres server with
// as many clients as the throughput run has.
func (b *bench) measurePGBench(ctx context.Context) error {
	adminURL, err := databaseURL(b.stack.DatabaseURL, "postgres")
	if err != nil {
		return err
	}
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer admin.Close(context.WithoutCancel(ctx))
	for _, sql := range []string{"DROP DATABASE IF EXISTS " + limitsDatabase, "CREATE DATABASE " + limitsDatabase} {
		if _, err := admin.Exec(ctx, sql); err != nil {
			return fmt.Errorf("%s: %w", sql, err)
		}
	}
	url, err := databaseURL(b.stack.DatabaseURL, limitsDatabase)
	if err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	_, err = conn.Exec(ctx, paymentsLike)
	conn.Close(context.WithoutCancel(ctx))
	if err != nil {
		return fmt.Errorf("create payments_like: %w", err)
	}
	script := filepath.Join(b.stateDir, "pgbench-insert.sql")
	if err := os.WriteFile(script, []byte(insertScript), 0o644); err != nil {
		return err
	}
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return err
	}
	seconds := int(b.cfg.Duration.Seconds())
	cmd := exec.CommandContext(ctx, b.cfg.PGBench, "--no-vacuum", "--protocol=prepared",
		"--client", strconv.Itoa(b.cfg.Concurrency), "--jobs", "2", "--time", strconv.Itoa(seconds),
		"--file", script, "--host", cfg.Host, "--port", strconv.Itoa(int(cfg.Port)), "--username", cfg.User, limitsDatabase)
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	start := time.Now()
	stop := b.progress.Track(func() string {
		return fmt.Sprintf("limit: pgbench, %d clients: %4.0fs/%ds", b.cfg.Concurrency, time.Since(start).Seconds(), seconds)
	})
	err = cmd.Run()
	if err != nil {
		stop("limit: pgbench failed")
		return fmt.Errorf("pgbench: %w\n%s", err, output.String())
	}
	r := PGBench{Clients: b.cfg.Concurrency, Seconds: float64(seconds)}
	m := tpsLine.FindSubmatch(output.Bytes())
	if m == nil {
		stop("limit: pgbench output not understood")
		return fmt.Errorf("pgbench: no tps in its output:\n%s", output.String())
	}
	r.TPS, _ = strconv.ParseFloat(string(m[1]), 64)
	if m := latencyLine.FindSubmatch(output.Bytes()); m != nil {
		r.LatencyAverageMs, _ = strconv.ParseFloat(string(m[1]), 64)
	}
	stop(fmt.Sprintf("limit: pgbench, %d clients: %.0f single-row INSERT transactions/s (latency average %.1f ms)", r.Clients, r.TPS, r.LatencyAverageMs))
	b.results.Limits.PGBench = &r
	return nil
}

// limitTopic receives the raw produce loop; no function consumes it.
const limitTopic = "bench.limit"

// measureSarama sends events with the producer configuration every function
// uses (kafka.SaramaConfig) from as many goroutines as the throughput run has
// clients, each sending its next record as soon as the last is acknowledged,
// to a topic of its own with the payments topic's partitions and replicas.
func (b *bench) measureSarama(ctx context.Context) error {
	replication := int16(min(3, len(b.stack.Brokers)))
	if err := connector.EnsureTopics(ctx, b.stack.Brokers, []string{limitTopic}, 3, replication); err != nil {
		return err
	}
	producer, err := sarama.NewSyncProducer(b.stack.Brokers, kafka.SaramaConfig("bench-limit", 3*time.Second))
	if err != nil {
		return fmt.Errorf("producer: %w", err)
	}
	defer producer.Close()
	// A real "payment created" event, signed, so records are the size the functions send.
	p := payment.New(uuid.New(), payment.Request{UserID: uuid.New(), AccountNumber: "40817810099910004312",
		Amount: 12550, Description: "Rent"}, time.Now())
	created := events.Created(p)
	eventsig.MustNew(strings.Repeat("k", eventsig.MinKeyLen)).Sign(&created)
	value, err := json.Marshal(created)
	if err != nil {
		return err
	}
	rec := &load.Recorder{}
	stop := b.progress.Track(func() string { return trackLine("limit: sarama", rec.Snapshot(), b.cfg.Duration) })
	load.Closed(ctx, b.cfg.Concurrency, b.cfg.Duration, func(ctx context.Context) error {
		_, _, err := producer.SendMessage(&sarama.ProducerMessage{
			Topic: limitTopic, Key: sarama.StringEncoder(uuid.NewString()), Value: sarama.ByteEncoder(value),
		})
		return err
	}, rec)
	s := rec.Summary()
	stop(fmt.Sprintf("limit: sarama, %d producers: %.0f records/s of %d bytes acknowledged (p50 %.1f ms), %d failed",
		b.cfg.Concurrency, s.PerSecond, len(value), s.Latency.P50, s.Failed))
	b.results.Limits.Sarama = &s
	b.results.Limits.RecordBytes = len(value)
	return failures(s)
}

// measureGatewayRead reads one payment through the gateway (get-payment,
// no waiting) from as many clients as the throughput run has, each sending
// its next read as soon as the last is answered. It is the cheapest call the
// stack has: one HTTP hop through the gateway to a function that makes one
// indexed read. A create makes such a hop and more work, and each payment
// then makes two more (process-payment, apply-result) on the same cores, so
// this rate bounds what any function can do here.
func (b *bench) measureGatewayRead(ctx context.Context) error {
	var p paymentRef
	// Completed already, so that nothing processes it and no phase waits for it.
	err := b.db.QueryRow(ctx, `INSERT INTO payments (payment_id, user_id, account_number, amount, description, state, created, processed, ext_payment_details, request_hash)
		VALUES (gen_random_uuid(), gen_random_uuid(), '40817810099910004312', 125.50, 'bench read', 'completed', now(), now(), 'bench', 'bench')
		RETURNING payment_id, user_id`).Scan(&p.id, &p.user)
	if err != nil {
		return fmt.Errorf("insert a payment to read: %w", err)
	}
	rec := &load.Recorder{}
	stopProfiles, err := b.startProfiles(ctx, "gatewayread", b.cfg.Duration)
	if err != nil {
		return err
	}
	stop := b.progress.Track(func() string { return trackLine("limit: gateway read", rec.Snapshot(), b.cfg.Duration) })
	load.Closed(ctx, b.cfg.Concurrency, b.cfg.Duration, func(ctx context.Context) error {
		_, err := b.readPayment(ctx, p.id, p.user, 0)
		return err
	}, rec)
	if err := stopProfiles(); err != nil {
		return err
	}
	s := rec.Summary()
	stop(fmt.Sprintf("limit: gateway read, %d clients: %.0f reads/s (p50 %.1f ms), %d failed",
		b.cfg.Concurrency, s.PerSecond, s.Latency.P50, s.Failed))
	b.results.Limits.GatewayRead = &s
	return failures(s)
}
