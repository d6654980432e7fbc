-- Retention: relay-outbox deletes events published more than RETENTION_PERIOD ago and clears the
-- idempotency keys of payments created before then, a bounded batch at a time. These partial
-- indexes hold only the rows that may expire, oldest first, so each batch reads what it removes
-- and never walks the unpublished events or the payments without a key.

CREATE INDEX outbox_published ON outbox (published) WHERE published IS NOT NULL;

CREATE INDEX payments_idempotency_key_created ON payments (created) WHERE idempotency_key IS NOT NULL;
