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
. "$(dirname "$0")/lib.sh"
start_stack
secret="whsec_$(head -c 32 /dev/urandom | base64)"
curl -sf -X PUT "http://$CONVERSIONS_ADDR/v1/partners/coursera" -H "Authorization: Bearer $ADMIN_TOKEN" \
  -d "{\"name\":\"Coursera\",\"webhook_secrets\":[\"$secret\"],\"currency\":\"USD\"}" >/dev/null
psql "postgres://postgres@127.0.0.1:$PG_PORT/linkcredit" -Atc "SHOW synchronous_commit" | sed 's/^/synchronous_commit: /'
"$BIN/loadgen" webhooks -url "http://$CONVERSIONS_ADDR/v1/webhooks/coursera" -secret "$secret" -rate "$RATE" -c 256 -duration "$DURATION" | tee "$work/load.txt"
accepted=$(grep -o '202:[0-9]*' "$work/load.txt" | cut -d: -f2)
for _ in $(seq 1 60); do
  have=$(kcat -C -b "$KAFKA_ADDR" -t conversions.v1 -e -q -f '.\n' 2>/dev/null | wc -l)
  [ "$have" -ge "${accepted:-0}" ] && break
  sleep 1
done
echo "conversions.v1: $have events for $accepted accepted webhooks"
[ "$have" -ge "${accepted:-0}" ]
