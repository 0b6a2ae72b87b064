#!/usr/bin/env bash
# `make instants`: the date-sensitive tests (names containing AtInstant)
# again at each fixed instant given as arguments.
#
# Each package holding such tests is compiled once (without -race: the race
# detector already ran over the same tests in `make unit`; here only the
# date matters), then every (instant, package) pair runs as its own job,
# INSTANT_JOBS (default 3) at a time. The tests mostly wait on Postgres and
# the broker, so jobs side by side share two cores well. A failing job's
# output is printed whole; the script fails if any job failed.
#
# Env: MODULES (module directories), BIN_DIR (built services),
# INSTANT_JOBS, INSTANT_TIMEOUT (per job, default 10m), TEST_PARALLEL
# (parallel tests a job, default 2: the Makefile's cap).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
[ $# -gt 0 ] || { echo "usage: $0 INSTANT..." >&2; exit 2; }
: "${MODULES:?MODULES is not set}"
jobs=${INSTANT_JOBS:-3}
timeout=${INSTANT_TIMEOUT:-10m}
parallel=${TEST_PARALLEL:-2}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Compile: one test binary per package, named after its path.
: >"$work/binaries"
for m in $MODULES; do
  pkgs=$(cd "$m" && grep -rl --include='*_test.go' 'func Test[A-Za-z0-9_]*AtInstant' . | xargs -r -n1 dirname | sort -u || true)
  for p in $pkgs; do
    name=$(echo "$m/${p#./}" | tr '/' '_')
    (cd "$m" && go test -c -o "$work/$name.test" "$p")
    echo "$name.test $root/$m/${p#./}" >>"$work/binaries"
  done
done

# One line per job: instant, binary, package directory.
: >"$work/jobs"
for at in "$@"; do
  while read -r bin dir; do echo "$at $bin $dir" >>"$work/jobs"; done <"$work/binaries"
done
echo "instants: $(wc -l <"$work/binaries") packages at $# instants, $jobs jobs at a time"

run_one() {
  local at=$1 bin=$2 dir=$3 log
  log="$work/$(echo "$at-$bin" | tr ':+/' '___').log"
  if (cd "$dir" && LINKCREDIT_TEST_NOW=$at "$work/$bin" -test.run AtInstant -test.count=1 -test.parallel "$parallel" -test.timeout "$timeout") >"$log" 2>&1; then
    echo "ok   $at ${bin%.test}"
  else
    echo "FAIL $at ${bin%.test}"
    cat "$log"
    return 1
  fi
}
export -f run_one
export work timeout parallel

# xargs exits 123 when any job failed; every job still runs.
if xargs -P "$jobs" -L 1 bash -c 'run_one "$@"' _ <"$work/jobs"; then
  echo "instants: all passed"
else
  echo "instants: some failed (above)" >&2
  exit 1
fi
