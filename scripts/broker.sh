#!/usr/bin/env bash
# The job queue's broker for `make run` and `make split`: Debian's redis-server
# on 127.0.0.1, keeping its jobs on disk (appendonly) in a cache outside the
# repo. Port 6380, so that it never meets a system Redis on 6379.
#
#   scripts/broker.sh start [PORT]     start it in the background (once), wait until it answers
#   scripts/broker.sh url [PORT]       print its CELERY_BROKER_URL
#   scripts/broker.sh stop [PORT]      stop the one `start` started
#   scripts/broker.sh with CMD ...     the broker, a worker and beat around CMD (make run);
#                                      without redis-server, CMD alone: jobs run in-process
set -euo pipefail

CACHE="${TOASTSITE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/toastsite}"
PORT="${BROKER_PORT:-6380}"
[[ "${1:-}" =~ ^(start|url|stop)$ && -n "${2:-}" ]] && PORT="$2"
DATA="$CACHE/redis-$PORT"
PIDFILE="$DATA/redis.pid"
URL="redis://127.0.0.1:$PORT/0"

say() { echo "broker: $*" >&2; }
answers() { redis-cli -p "$PORT" ping 2>/dev/null | grep -q PONG; }
ours() { [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

start() {
  if ! command -v redis-server >/dev/null; then
    say "redis-server is not installed, so jobs run in-process, inside the request that"
    say "asks for them. To run them on a queue: apt-get install redis-server (Debian/Ubuntu)."
    return 1
  fi
  if answers; then
    # One this checkout started says nothing more; another is used, and said.
    ours || say "a Redis already answers on 127.0.0.1:$PORT, not started here: using it"
    return 0
  fi
  mkdir -p "$DATA"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$PORT" --dir "$DATA" \
    --appendonly yes --save "" --pidfile "$PIDFILE" --logfile "$DATA/redis.log"
  for _ in $(seq 1 50); do
    if answers; then
      say "redis-server on 127.0.0.1:$PORT, jobs kept in $DATA (stop it: scripts/broker.sh stop)"
      return 0
    fi
    sleep 0.1
  done
  say "redis-server did not answer within 5 s; its log ends with:"
  tail -20 "$DATA/redis.log" >&2
  return 1
}

# The broker, then a worker and beat in the background, stopped when CMD ends.
with() {
  if [[ -z "${CELERY_BROKER_URL:-}" ]] && start; then export CELERY_BROKER_URL="$URL"; fi
  if [[ -z "${CELERY_BROKER_URL:-}" ]]; then
    "$@"
    return
  fi
  local bin
  bin="$(dirname "$1")"
  # Niced: the three start side by side, and the site's first page should not
  # wait for the worker's start-up (jobs wait in the queue meanwhile).
  nice "$bin/celery" -A toastsite worker --loglevel INFO -n "worker@%h" &
  local worker=$!
  nice "$bin/celery" -A toastsite beat --loglevel INFO --schedule "$CACHE/beat-schedule" &
  local beat=$!
  trap 'kill "$worker" "$beat" 2>/dev/null; wait "$worker" "$beat" 2>/dev/null' EXIT
  trap 'exit 130' INT TERM
  "$@"
}

case "${1:-}" in
start) start ;;
url) echo "$URL" ;;
stop)
  if ours; then
    kill "$(cat "$PIDFILE")"
    say "stopped"
  fi
  rm -f "$PIDFILE"
  ;;
with)
  shift
  with "$@"
  ;;
*)
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
  ;;
esac
