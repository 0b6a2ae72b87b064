#!/usr/bin/env bash
# Installs what linkcredit needs on a Debian/Ubuntu machine with Go:
# PostgreSQL server binaries (always) and kcat (for `test`: the broker test
# drives it). As root it installs with apt; otherwise it says what to install.
set -euo pipefail
purpose=${1:-run}

have_postgres() {
  command -v initdb >/dev/null 2>&1 || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}

missing=()
have_postgres || missing+=(postgresql)
if [ "$purpose" = test ]; then
  command -v kcat >/dev/null 2>&1 || missing+=(kcat)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if [ -n "${DATABASE_URL:-}" ] && [ "$purpose" = run ] && [ "${missing[*]}" = postgresql ]; then
  exit 0 # an external database is in use: no local server needed
fi

if [ "$(id -u)" -eq 0 ]; then
  echo "installing ${missing[*]} with apt ..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts a system cluster on 5432; linkcredit runs its own.
  if command -v pg_lsclusters >/dev/null 2>&1; then
    pg_lsclusters -h 2>/dev/null | while read -r ver name _; do
      pg_ctlcluster "$ver" "$name" stop >/dev/null 2>&1 || true
    done
  fi
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "missing: ${missing[*]}. Install them (as root: apt-get install ${missing[*]}) and run again." >&2
  exit 1
fi
