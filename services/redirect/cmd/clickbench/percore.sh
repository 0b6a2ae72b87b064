#!/usr/bin/env bash
# Per-core redirect benchmark (issue 15): the redirect alone on core 1,
# the load tool and the rest of the stack (PostgreSQL, the broker,
# conversions, reporting) on core 0; then the bare 302 server on core 1
# under the same load. Prints clickbench's figures for each run: requests
# per busy core-second from /proc/<pid>/stat, latency percentiles.
#
#   bash services/redirect/cmd/clickbench/percore.sh
#   RUNS=3 DURATION=15s CONNS=64 PPROF=1 bash services/redirect/cmd/clickbench/percore.sh
#   RATE=3000 bash services/redirect/cmd/clickbench/percore.sh   (the same offered load for each)
#
# Needs the binaries in BIN_DIR (redirect, conversions, reporting,
# devbroker, localstack, bare302 and clickbench). BEFORE_BIN=path runs a
# second redirect binary (say, the last commit's) the same way, between. PPROF=1 also takes a CPU,
# block and mutex profile of the redirect during one extra run. HOLD=file
# keeps the stack up after setup and writes its addresses and pids there.
set -euo pipefail
cd "$(dirname "$0")/../../../.."
BIN=${BIN_DIR:-$PWD/bin}
RUNS=${RUNS:-3}
DURATION=${DURATION:-15s}
CONNS=${CONNS:-64}
LINKS=${LINKS:-10000}
RATE=${RATE:-} # requests/s offered to each server (open loop); empty: as fast as they answer
rate=(); [ -n "$RATE" ] && rate=(-rate "$RATE")
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

work=$(mktemp -d /tmp/clickbench-XXXXXX)
chmod 711 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

export ADMIN_TOKEN=bench-token-0123456789abcdefghijklmn CLICK_ID_KEYS=bench-click-key-0123456789abcdef LOG_LEVEL=warn
pg=$(port); kafka=127.0.0.1:$(port)
# The stack on core 0; its children (postgres, the broker, the services)
# inherit the affinity.
DATA_DIR=$work/stack PG_PORT=$pg KAFKA_ADDR=$kafka REDIRECT_ADDR=127.0.0.1:$(port) CONVERSIONS_ADDR=127.0.0.1:$(port) \
  REPORTING_ADDR=127.0.0.1:$(port) DATABASE_URL= KAFKA_BROKERS= BIN_DIR=$BIN \
  taskset -c 0 "$BIN/localstack" > "$work/stack.out" 2>&1 & pids+=($!)
for _ in $(seq 1 120); do grep -q "linkcredit is up" "$work/stack.out" && break; sleep 0.5; done
grep -q "linkcredit is up" "$work/stack.out" || { cat "$work/stack.out"; exit 1; }

# The redirect under test, alone on core 1, behind a "proxy" (the load
# tool sends X-Forwarded-For with each visitor's address).
raddr=127.0.0.1:$(port); maddr=127.0.0.1:$(port)
DATA_DIR=$work/redirect REDIRECT_ADDR=$raddr METRICS_ADDR=$maddr DATABASE_URL="postgres://postgres@127.0.0.1:$pg/linkcredit?sslmode=disable" \
  KAFKA_BROKERS=$kafka TRUSTED_PROXIES=127.0.0.1/32 RATE_LIMIT_PER_MINUTE=1000000 RATE_LIMIT_PER_IP_PER_MINUTE=100000000 \
  taskset -c 1 "$BIN/redirect" > "$work/redirect.log" 2>&1 & rpid=$!; pids+=($rpid)
if [ -n "${BEFORE_BIN:-}" ]; then
  # Another redirect binary (say, the last commit's) measured the same way
  # in the same run, between the bare server and this one.
  oaddr=127.0.0.1:$(port)
  DATA_DIR=$work/before REDIRECT_ADDR=$oaddr METRICS_ADDR=127.0.0.1:$(port) DATABASE_URL="postgres://postgres@127.0.0.1:$pg/linkcredit?sslmode=disable" \
    KAFKA_BROKERS=$kafka TRUSTED_PROXIES=127.0.0.1/32 RATE_LIMIT_PER_MINUTE=1000000 RATE_LIMIT_PER_IP_PER_MINUTE=100000000 \
    taskset -c 1 "$BEFORE_BIN" > "$work/before.log" 2>&1 & opid=$!; pids+=($opid)
fi
baddr=127.0.0.1:$(port)
ADDR=$baddr taskset -c 1 "$BIN/bare302" & bpid=$!; pids+=($bpid)
for _ in $(seq 1 100); do curl -sf "http://$raddr/readyz" >/dev/null && break; sleep 0.2; done
if [ -n "${BEFORE_BIN:-}" ]; then
  for _ in $(seq 1 100); do curl -sf "http://$oaddr/readyz" >/dev/null && break; sleep 0.2; done
fi
taskset -c 0 "$BIN/clickbench" -url "http://$raddr" -setup -links "$LINKS" -duration 1s -warmup 1s -conns 4 >/dev/null

if [ -n "${HOLD:-}" ]; then
  # Keep the stack up for manual runs: source $work/env, then run clickbench.
  printf 'raddr=%s\nmaddr=%s\nbaddr=%s\nrpid=%s\nbpid=%s\nwork=%s\n' "$raddr" "$maddr" "$baddr" "$rpid" "$bpid" "$work" > "$HOLD"
  echo "stack up; variables in $HOLD; Ctrl-C stops it"
  while kill -0 "$rpid" 2>/dev/null; do sleep 1; done
  exit 0
fi
echo "# $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# redirect pid $rpid on core 1 ($raddr), bare302 pid $bpid on core 1, clickbench and the stack on core 0; $CONNS connections, $DURATION per run"
for i in $(seq 1 "$RUNS"); do
  # bare302 knows c0..c999: the same traffic over its 1,000 links.
  taskset -c 0 "$BIN/clickbench" -label "bare[$i]" -url "http://$baddr" -links 1000 -pid "$bpid" -duration "$DURATION" -conns "$CONNS" "${rate[@]}"
  if [ -n "${BEFORE_BIN:-}" ]; then
    taskset -c 0 "$BIN/clickbench" -label "before[$i]" -url "http://$oaddr" -links "$LINKS" -pid "$opid" -duration "$DURATION" -conns "$CONNS" "${rate[@]}"
  fi
  taskset -c 0 "$BIN/clickbench" -label "redirect[$i]" -url "http://$raddr" -links "$LINKS" -pid "$rpid" -duration "$DURATION" -conns "$CONNS" "${rate[@]}"
done
if [ -n "${PPROF:-}" ]; then
  out=${PROFILE_DIR:-$work}
  curl -s "http://$maddr/debug/pprof/profile?seconds=10" -o "$out/cpu.pprof" &
  curl -s "http://$maddr/debug/pprof/block?seconds=10" -o "$out/block.pprof" &
  curl -s "http://$maddr/debug/pprof/mutex?seconds=10" -o "$out/mutex.pprof" &
  taskset -c 0 "$BIN/clickbench" -label "profiled" -url "http://$raddr" -links "$LINKS" -pid "$rpid" -duration 12s -warmup 0s -conns "$CONNS"
  wait %1 %2 %3 2>/dev/null || true
  echo "profiles in $out (go tool pprof -top $BIN/redirect $out/cpu.pprof)"
fi
echo "# redirect log (warnings and errors):"; tail -5 "$work/redirect.log"
