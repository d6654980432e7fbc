-- Payments, their outbox, and the notification that wakes long-polls.

CREATE TABLE payments (
    payment_id          uuid PRIMARY KEY,
    user_id             uuid NOT NULL,
    account_number      text NOT NULL CHECK (char_length(account_number) BETWEEN 1 AND 64),
    -- Money is NUMERIC, never a float: up to 999,999,999,999.99.
    amount              numeric(14, 2) NOT NULL CHECK (amount > 0),
    description         text NOT NULL CHECK (char_length(description) <= 500),
    state               text NOT NULL DEFAULT 'pending'
                        CHECK (state IN ('pending', 'completed', 'rejected')),
    created             timestamptz NOT NULL,
    processed           timestamptz,
    ext_payment_details text,
    -- Optional Idempotency-Key of the create request, unique per user (NULLs never clash),
    -- and a fingerprint of the request body to tell a replay from a reuse.
    idempotency_key     text CHECK (char_length(idempotency_key) BETWEEN 1 AND 255),
    request_hash        text NOT NULL,
    CONSTRAINT payments_user_idempotency_key UNIQUE (user_id, idempotency_key),
    -- A payment is processed exactly when it has left pending.
    CONSTRAINT payments_processed_when_final CHECK ((state = 'pending') = (processed IS NULL))
);

-- The user's list, newest first.
CREATE INDEX payments_user_created ON payments (user_id, created DESC, payment_id DESC);

-- Transactional outbox: an event is written in the same transaction as the change
-- it announces, and relayed to Kafka afterwards.
CREATE TABLE outbox (
    event_id    uuid PRIMARY KEY,
    topic       text NOT NULL,
    message_key text NOT NULL,
    -- The whole CloudEvent in structured JSON, exactly as it goes to Kafka.
    event       jsonb NOT NULL,
    created     timestamptz NOT NULL DEFAULT now(),
    published   timestamptz
);

CREATE INDEX outbox_unpublished ON outbox (created) WHERE published IS NULL;

-- Long-polling get-payment instances LISTEN on this channel instead of polling.
CREATE FUNCTION notify_payment_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('payment_changed', NEW.payment_id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER payments_notify_changed
    AFTER UPDATE OF state ON payments
    FOR EACH ROW
    WHEN (OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION notify_payment_changed();
