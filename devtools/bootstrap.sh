#!/usr/bin/env bash
# Installs what `make dev` and `make test` need and are missing: PostgreSQL server binaries (with contrib, for
# btree_gist), redis-server, chromium (headless, for the Swagger UI test), and the Python virtualenv. Safe to run again: it only does what is missing.
set -euo pipefail
shopt -s nullglob
cd "$(dirname "$0")/.."

# The Lambda runtime's Python (template.yaml: Runtime python3.13): $PYTHON if set (then only it), else python3.13
# on PATH, else pyenv's 3.13 (pyenv's shim answers only when 3.13 is pyenv's selected version: each candidate is run).
RUNTIME_VERSION=3.13
find_python() {
  local candidate candidates=("${PYTHON:-}")
  [ -n "${PYTHON:-}" ] || candidates=(python$RUNTIME_VERSION
    "${PYENV_ROOT:-$HOME/.pyenv}"/versions/$RUNTIME_VERSION*/bin/python$RUNTIME_VERSION
    /root/.pyenv/versions/$RUNTIME_VERSION*/bin/python$RUNTIME_VERSION)
  for candidate in "${candidates[@]}"; do
    if "$candidate" -c "import sys; sys.exit(f'{sys.version_info[0]}.{sys.version_info[1]}' != '$RUNTIME_VERSION')" \
        2>/dev/null; then
      "$candidate" -c 'import sys; print(sys.executable)'
      return 0
    fi
  done
  echo "bootstrap: Python $RUNTIME_VERSION not found (the Lambda runtime's version): install it (pyenv install $RUNTIME_VERSION," \
    "or apt-get install python$RUNTIME_VERSION) or set PYTHON=/path/to/python$RUNTIME_VERSION" >&2
  return 1
}
if [ "${1:-}" = "--python" ]; then  # the Makefile asks which interpreter (sam build, bytecode)
  find_python
  exit
fi

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

PYTHON="$(find_python)"
stamp=.venv/.requirements.sha
# The interpreter's version is part of the stamp: a .venv built with another Python (3.11 before) is rebuilt.
want=$( (cat requirements-dev.txt layers/shared/requirements.txt functions/*/requirements.txt; "$PYTHON" -VV) |
  sha256sum | cut -c1-16)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: creating .venv with $PYTHON"
  "$PYTHON" -m venv --clear .venv
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -r requirements-dev.txt $(for f in functions/*/requirements.txt; do printf -- "-r %s " "$f"; done)
  echo "$want" > "$stamp"
fi
