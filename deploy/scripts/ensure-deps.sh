#!/usr/bin/env bash
# Installs what linkcredit needs on a Debian/Ubuntu machine with Go:
# PostgreSQL server binaries (always); for `test` also kcat (the broker test
# drives it), Chromium and npm (the dashboard's browser test), and axe-core
# from npm into .cache/npm. As root it installs with apt; otherwise it says
# what to install.
set -euo pipefail
purpose=${1:-run}

have_postgres() {
  command -v initdb >/dev/null 2>&1 || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}

missing=()
have_postgres || missing+=(postgresql)
if [ "$purpose" = test ]; then
  command -v kcat >/dev/null 2>&1 || missing+=(kcat)
  command -v chromium >/dev/null 2>&1 || [ -n "${CHROMIUM:-}" ] || missing+=(chromium)
  command -v npm >/dev/null 2>&1 || [ -n "${AXE_CORE_JS:-}" ] || missing+=(npm)
fi

AXE_VERSION=4.14.1
axe_core() {
  [ "$purpose" = test ] && [ -z "${AXE_CORE_JS:-}" ] || return 0
  local dir
  dir="$(cd "$(dirname "$0")/../.." && pwd)/.cache/npm"
  [ -f "$dir/node_modules/axe-core/axe.min.js" ] && return 0
  echo "installing axe-core $AXE_VERSION with npm into $dir ..."
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-audit --no-fund --silent "axe-core@$AXE_VERSION" >/dev/null
}

if [ ${#missing[@]} -eq 0 ]; then
  axe_core
  exit 0
fi

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
axe_core
