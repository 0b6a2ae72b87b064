#!/usr/bin/env bash
# Loopback load test of the redirect hot path, side by side with a bare
# net/http server that answers 302 from a map, with the same load tool in
# the same run. Then checks that every 302 of the run is on clicks.v1.
#
#   bash deploy/bench/redirect.sh            (make bench-redirect)
#   DURATION=30s CONNECTIONS=64 bash deploy/bench/redirect.sh
#
# Needs wrk and kcat (apt-get install wrk kcat) and the binaries (make build).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN_DIR:-$PWD/bin}
DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
for tool in wrk kcat; do command -v $tool >/dev/null || { echo "bench: $tool is missing (apt-get install $tool)"; exit 1; }; done

. "$(dirname "$0")/lib.sh"
export PPROF_ADDR=${PPROF_ADDR:-} RATE_LIMIT_PER_MINUTE=1000000 RATE_LIMIT_PER_IP_PER_MINUTE=100000000
start_stack

bare_addr=127.0.0.1:$(port)
ADDR=$bare_addr "$BIN/bare302" & extra_pids=$!
for i in $(seq 0 999); do echo "{\"code\":\"c$i\",\"partner\":\"coursera\",\"course_id\":\"course-$i\",\"destination\":\"https://www.coursera.org/learn/course-$i?clickid={click_id}\"}"; done > "$work/links.ndjson"
curl -sf -H "Authorization: Bearer $ADMIN_TOKEN" -H "Content-Type: application/x-ndjson" --data-binary @"$work/links.ndjson" "http://$REDIRECT_ADDR/v1/links:import" >/dev/null
sleep 0.5

# wrk picks one of 1000 codes per request, like real catalog traffic.
cat > "$work/codes.lua" <<'LUA'
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/c/c" .. (n % 1000) .. "?utm_source=bench&placement=hero")
end
LUA
ua="Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
run() { wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$work/codes.lua" -H "User-Agent: $ua" "http://$1" ; }

echo "== bare net/http 302 from a map"
run "$bare_addr" | tee "$work/bare.txt"
echo "== linkcredit redirect (cache, click log, shipper, bot verdict, click id)"
before=$(kcat -C -b "$KAFKA_ADDR" -t clicks.v1 -e -q -f '.\n' 2>/dev/null | wc -l)
run "$REDIRECT_ADDR" | tee "$work/redirect.txt"

rps() { awk '/Requests\/sec/ {print $2}' "$1"; }
p99() { awk '$1=="99%" {print $2}' "$1"; }
total() { awk '/requests in/ {print $1}' "$1"; }
errors() { awk '/Non-2xx or 3xx/ {print $5}' "$1"; }
echo
echo "bare:     $(rps "$work/bare.txt") req/s, p99 $(p99 "$work/bare.txt")"
echo "redirect: $(rps "$work/redirect.txt") req/s, p99 $(p99 "$work/redirect.txt"), non-3xx: $(errors "$work/redirect.txt" || true)"
awk -v a="$(rps "$work/redirect.txt")" -v b="$(rps "$work/bare.txt")" 'BEGIN {printf "ratio:    %.2fx of the bare server (target >= 0.6x)\n", a/b}'

# Every 302 must be on clicks.v1: wait for the shipper, then count.
want=$(( before + $(total "$work/redirect.txt") ))
for _ in $(seq 1 60); do
  have=$(kcat -C -b "$KAFKA_ADDR" -t clicks.v1 -e -q -f '.\n' 2>/dev/null | wc -l)
  [ "$have" -ge "$want" ] && break
  sleep 1
done
echo "clicks.v1: $have messages for $want redirects answered"
[ "$have" -ge "$want" ] || { echo "bench: clicks are missing from clicks.v1"; exit 1; }
pid=$(pgrep -f "^$BIN/redirect" | head -1)
echo "redirect RSS after the run: $(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status)"
