#!/usr/bin/env bash
# What `make run`, `make split` and `make collector` do before they serve:
# migrate the database, then wait for the Zipkin that `scripts/zipkin.sh
# launch` started while the requirements installed, so that the first page's
# trace reaches it, then say where the site is about to be served.
#
#   scripts/ready.sh WHERE
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "toastsite: $*" >&2; }

# Each stage runs in the background, where Ctrl-C does not reach it, so that
# Python prints no traceback; Ctrl-C stops the stage from here instead.
stage=""
trap 'kill $stage 2>/dev/null; wait; exit 130' INT
quietly() {
  "$@" &
  stage=$!
  wait $stage
}

say "migrating the database"
quietly .venv/bin/python manage.py migrate --noinput -v0
quietly scripts/zipkin.sh wait ||
  say "running without Zipkin; spans go nowhere (OTEL_TRACES_EXPORTER=console prints them)."
say "serving $1 (Ctrl-C stops it)"
