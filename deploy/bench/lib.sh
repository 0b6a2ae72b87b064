# Shared by the bench scripts: a local stack of its own on free ports in a
# temporary DATA_DIR, stopped and removed on exit (KEEP=1 keeps the dir).
# Sourcing scripts set BIN first; they get $work and the *_ADDR variables.

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_stack() {
  work=$(mktemp -d /tmp/linkcredit-bench-XXXXXX)
  chmod 711 "$work"
  trap stop_stack EXIT
  export DATA_DIR=$work KAFKA_ADDR=127.0.0.1:$(port) PG_PORT=$(port) ADMIN_TOKEN=bench-token-0123456789abcdefghijklmn LOG_LEVEL=${LOG_LEVEL:-warn}
  export REDIRECT_ADDR=127.0.0.1:$(port) CONVERSIONS_ADDR=127.0.0.1:$(port) REPORTING_ADDR=127.0.0.1:$(port)
  export DATABASE_URL= KAFKA_BROKERS=
  BIN_DIR=$BIN "$BIN/localstack" > "$work/stack.out" 2>&1 &
  stack_pid=$!
  for _ in $(seq 1 120); do grep -q "linkcredit is up" "$work/stack.out" && return 0; sleep 0.5; done
  cat "$work/stack.out"
  return 1
}

stop_stack() {
  for pid in ${extra_pids:-}; do kill "$pid" 2>/dev/null || true; done
  if [ -n "${stack_pid:-}" ]; then kill -INT "$stack_pid" 2>/dev/null && wait "$stack_pid" 2>/dev/null || true; fi
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
