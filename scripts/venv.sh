#!/usr/bin/env bash
# The virtualenv .venv, with the requirements files given installed into it
# together (so the same versions), every file checked against its hash.
#
#   scripts/venv.sh REQUIREMENTS...
#
# With uv, the version requirements-dev.txt pins, itself installed from its
# hashed wheel once into the cache outside the repo: a few seconds in all.
# Where uv cannot be had, with Python's venv and pip instead (slower).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV=.venv
CACHE="${TOASTSITE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/toastsite}"
UV_VERSION="$(sed -n 's/^uv==\([^ ]*\) .*/\1/p' requirements-dev.txt)"
UV_HOME="$CACHE/uv-$UV_VERSION"
UV="$UV_HOME/bin/uv"

say() { echo "toastsite: $*" >&2; }

fetch_uv() {
  [[ -x "$UV" ]] && return 0
  say "fetching uv $UV_VERSION into $CACHE, once (hash-checked)"
  mkdir -p "$CACHE"
  local tmp
  tmp="$(mktemp -d "$CACHE/uv.XXXXXX")"
  # Its pin and hashes, as requirements-dev.txt has them.
  sed -n '/^uv==/,/[^\\]$/p' requirements-dev.txt >"$tmp/uv.txt"
  if PIP_ROOT_USER_ACTION=ignore "$PYTHON" -m pip --disable-pip-version-check install \
    --quiet --no-deps --only-binary :all: --require-hashes --target "$tmp/uv" -r "$tmp/uv.txt"; then
    mv -T "$tmp/uv" "$UV_HOME" 2>/dev/null || true # or another run was first
  fi
  rm -rf "$tmp"
  [[ -x "$UV" ]]
}

requirements=()
for file in "$@"; do requirements+=(-r "$file"); done

if fetch_uv; then
  if [[ ! -d "$VENV" ]]; then
    say "creating $VENV with uv"
    "$UV" venv --quiet --no-python-downloads --python "$PYTHON" "$VENV"
  fi
  say "installing $* with uv (hash-checked)"
  # Compiled now, as pip does, so that each start of the site need not.
  "$UV" pip install --quiet --python "$VENV/bin/python" --require-hashes --compile-bytecode \
    "${requirements[@]}"
else
  say "uv could not be had; using Python's venv and pip instead, which takes longer"
  if [[ ! -d "$VENV" ]]; then
    say "creating $VENV"
    "$PYTHON" -m venv "$VENV"
  fi
  say "installing $* with pip (hash-checked)"
  "$VENV/bin/python" -m pip --disable-pip-version-check install --quiet --require-hashes \
    "${requirements[@]}"
fi
