#!/usr/bin/env bash
# Installs what `make dev` and `make test` need and are missing: PostgreSQL server binaries (with contrib, for
# btree_gist), redis-server, chromium (headless, for the Swagger UI test), and the Python virtualenv. Safe to run again: it only does what is missing.
set -euo pipefail
shopt -s nullglob
cd "$(dirname "$0")/.."

missing=()
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  missing+=(postgresql postgresql-contrib)
fi
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
# Debian's chromium: the headless browser that checks Swagger UI at /docs renders every operation (make test).
command -v chromium >/dev/null 2>&1 || missing+=(chromium)

if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing system packages: ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "bootstrap: please install ${missing[*]} (apt-get install ${missing[*]}) and run again" >&2; exit 1
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts the packaged services; we run our own throwaway servers instead.
  (command -v service >/dev/null 2>&1 && { $SUDO service redis-server stop || true; $SUDO service postgresql stop || true; }) >/dev/null 2>&1 || true
fi

PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
stamp=.venv/.requirements.sha
want=$(cat requirements-dev.txt layers/shared/requirements.txt functions/*/requirements.txt | sha256sum | cut -c1-16)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: creating .venv with $PYTHON"
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -r requirements-dev.txt $(for f in functions/*/requirements.txt; do printf -- "-r %s " "$f"; done)
  echo "$want" > "$stamp"
fi
