#!/usr/bin/env bash
# Follow one payment through every hop of the local stack (`make run` must be running).
# The README's "Follow one payment" section shows these same commands; a test runs this script.
set -euo pipefail
cd "$(dirname "$0")/.."
# --- walkthrough ---
# 0. Where the running stack is: make run keeps its addresses in .local/stack.env (GATEWAY_URL, DATABASE_URL,
#    KAFKA_BROKERS, LOCAL_STATE_DIR), so these lines follow GATEWAY_ADDR, the ports and KAFKA_BROKERS.
. "${LOCAL_STATE_DIR:-.local}/stack.env"

# 1. Create a payment through the gateway (create-payment answers 201, state pending).
KEY=$(cat "$LOCAL_STATE_DIR/secrets/payments-api-key")
USER_ID=$(cat /proc/sys/kernel/random/uuid)
curl -sS "$GATEWAY_URL/function/create-payment" \
  -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
  -d '{"userId":"'"$USER_ID"'","accountNumber":"40817810099910004312","amount":"42.00","description":"Follow me"}' \
  | tee /tmp/payment.json; echo
PAYMENT_ID=$(sed -E 's/.*"paymentId":"([^"]+)".*/\1/' /tmp/payment.json)

# 2. The row, and the event written in the same transaction to the outbox.
psql "$DATABASE_URL" -c "SELECT payment_id, state, amount, created FROM payments WHERE payment_id = '$PAYMENT_ID'"
psql "$DATABASE_URL" -c "SELECT event_id, topic, message_key, published IS NOT NULL AS published FROM outbox WHERE message_key = '$PAYMENT_ID'"

# 3. The record on the payments topic: partition, offset, key (the payment id), and the structured CloudEvent.
kcat -b "$KAFKA_BROKERS" -C -t payments -o beginning -e -q -f 'partition %p offset %o key %k\n%s\n' | grep -A1 "key $PAYMENT_ID"

# 4. Wait for the result: get-payment long-polls (answers as soon as apply-result commits, at most 30 s).
curl -sS -H "Authorization: Bearer $KEY" "$GATEWAY_URL/function/get-payment?id=$PAYMENT_ID&userId=$USER_ID&wait=30"; echo

# 5. The provider's decision, in process-payment's log.
grep "$PAYMENT_ID" "$LOCAL_STATE_DIR/logs/process-payment.log" | grep 'payment processed'

# 6. The result on the paymentsResults topic, keyed by the same payment id.
kcat -b "$KAFKA_BROKERS" -C -t paymentsResults -o beginning -e -q -f 'partition %p offset %o key %k\n%s\n' | grep -A1 "key $PAYMENT_ID"

# 7. The final row, as apply-result left it.
psql "$DATABASE_URL" -c "SELECT state, processed, ext_payment_details FROM payments WHERE payment_id = '$PAYMENT_ID'"
