#!/usr/bin/env bash
# Signed webhooks into the conversions service at RATE per second (default
# 3000) for DURATION, against the local stack's PostgreSQL with durable
# settings (fsync and synchronous_commit on). Reports rate and latency,
# then checks that every accepted event reached conversions.v1.
#
#   bash deploy/bench/webhooks.sh        (make bench-webhooks)
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN_DIR:-$PWD/bin}
RATE=${RATE:-3000}
DURATION=${DURATION:-20s}
work=$(mktemp -d /tmp/linkcredit-webhooks-XXXXXX)
chmod 711 "$work"
cleanup() {
  [ -n "${stack_pid:-}" ] && kill -INT "$stack_pid" 2>/dev/null && wait "$stack_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
export DATA_DIR=$work KAFKA_ADDR=127.0.0.1:$(port) PG_PORT=$(port) ADMIN_TOKEN=bench LOG_LEVEL=warn
export REDIRECT_ADDR=127.0.0.1:$(port) CONVERSIONS_ADDR=127.0.0.1:$(port) REPORTING_ADDR=127.0.0.1:$(port)
export DATABASE_URL= KAFKA_BROKERS=
BIN_DIR=$BIN "$BIN/localstack" > "$work/stack.out" 2>&1 &
stack_pid=$!
for _ in $(seq 1 120); do grep -q "linkcredit is up" "$work/stack.out" && break; sleep 0.5; done
secret="whsec_$(head -c 32 /dev/urandom | base64)"
curl -sf -X PUT "http://$CONVERSIONS_ADDR/v1/partners/coursera" -H "Authorization: Bearer bench" \
  -d "{\"name\":\"Coursera\",\"webhook_secrets\":[\"$secret\"],\"currency\":\"USD\"}" >/dev/null
psql "postgres://postgres@127.0.0.1:$PG_PORT/linkcredit" -Atc "SHOW synchronous_commit" | sed 's/^/synchronous_commit: /'
"$BIN/webhookload" -url "http://$CONVERSIONS_ADDR/v1/webhooks/coursera" -secret "$secret" -rate "$RATE" -duration "$DURATION" | tee "$work/load.txt"
accepted=$(grep -o '202:[0-9]*' "$work/load.txt" | cut -d: -f2)
for _ in $(seq 1 60); do
  have=$(kcat -C -b "$KAFKA_ADDR" -t conversions.v1 -e -q -f '.\n' 2>/dev/null | wc -l)
  [ "$have" -ge "${accepted:-0}" ] && break
  sleep 1
done
echo "conversions.v1: $have events for $accepted accepted webhooks"
[ "$have" -ge "${accepted:-0}" ]
