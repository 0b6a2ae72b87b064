#!/usr/bin/env bash
# Catalog-scale check of the redirect: import LINKS links (default 1,000,000)
# in 100,000-row feeds, timing each import; restart the redirect and time its
# start-up (links loaded from Postgres into memory); report its RSS.
#
#   bash deploy/bench/links.sh          (make bench-links)
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN_DIR:-$PWD/bin}
LINKS=${LINKS:-1000000}
CHUNK=100000

. "$(dirname "$0")/lib.sh"
LOG_LEVEL=info start_stack

python3 - "$work" "$LINKS" "$CHUNK" <<'PY'
import sys
work, n, chunk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
partners = ["coursera", "edx", "udemy", "pluralsight", "udacity"]
for c in range(0, n, chunk):
    with open(f"{work}/feed-{c // chunk:03d}.ndjson", "w") as f:
        for i in range(c, min(n, c + chunk)):
            p = partners[i % 5]
            f.write(f'{{"code":"c{i:07d}","partner":"{p}","course_id":"course-{i:07d}","title":"Course {i}",'
                    f'"destination":"https://www.{p}.example/learn/course-{i:07d}?clickid={{click_id}}&utm_source=catalog"}}\n')
PY
echo "== import $LINKS links in feeds of $CHUNK"
for f in "$work"/feed-*.ndjson; do
  start=$(date +%s.%N)
  out=$(curl -sf -H "Authorization: Bearer $ADMIN_TOKEN" -H "Content-Type: application/x-ndjson" --data-binary @"$f" "http://$REDIRECT_ADDR/v1/links:import")
  end=$(date +%s.%N)
  printf '%s: %.2fs %s\n' "$(basename "$f")" "$(echo "$end - $start" | bc)" "$(echo "$out" | head -c 80)"
done

echo "== start a fresh redirect on the same database"
pg_url="postgres://postgres@127.0.0.1:$PG_PORT/linkcredit?sslmode=disable"
r_addr=127.0.0.1:$(port)
start=$(date +%s.%N)
DATABASE_URL=$pg_url KAFKA_BROKERS=$KAFKA_ADDR CLICK_ID_KEYS=$(cat "$work/click-id-key") REDIRECT_ADDR=$r_addr \
  CLICKLOG_DIR=$work/cl2 "$BIN/redirect" > "$work/r2.log" 2>&1 &
r_pid=$!
extra_pids=$r_pid
until curl -sf "http://$r_addr/healthz" >/dev/null; do sleep 0.05; done
end=$(date +%s.%N)
printf 'start-up to serving: %.2fs\n' "$(echo "$end - $start" | bc)"
grep '"links loaded"' "$work/r2.log" | head -1
curl -s -o /dev/null -w "GET /c/c0999999 -> %{http_code}\n" "http://$r_addr/c/c0999999"
for _ in 1 2 3; do curl -s -o /dev/null "http://$r_addr/c/c0000001"; done
sleep 1
echo "RSS with $LINKS links: $(awk '/VmRSS/ {print $2, $3}' /proc/$r_pid/status)"
