#!/usr/bin/env bash
# An OpenTelemetry Collector for toastsite (OTLP in, tail sampling, Zipkin
# out), built once from collector/builder.yaml into a cache outside the repo
# and run on 127.0.0.1 with collector/config.yaml.
#
#   scripts/collector.sh build          build it (once) and print the binary's path
#   scripts/collector.sh start [PORT]   start in the background, wait until healthy
#   scripts/collector.sh run [PORT]     run in the foreground (for a Procfile)
#   scripts/collector.sh stop [PORT]    stop the one `start` started
#
# PORT is the OTLP/HTTP port (4318); health is on PORT+1, metrics on PORT+2.
# Without Go: docker compose --profile collector up
set -euo pipefail

OCB_VERSION=0.161.0 # the Collector Builder; builder.yaml pins the components
GO_MINOR=26         # v0.161.0's modules say `go 1.26.0`
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MANIFEST="$ROOT/collector/builder.yaml"
CONFIG="$ROOT/collector/config.yaml"
CACHE="${TOASTSITE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/toastsite}"
# All the build's files in one folder of their own: rm -rf it to start over.
BUILD="$CACHE/collector"
# One build folder per manifest: edit builder.yaml and the next build starts
# afresh, while an unchanged one is found again at once.
DIST="$BUILD/otelcol-$(sha256sum <"$MANIFEST" | cut -c1-12)"
BIN="$DIST/otelcol-toastsite"
PORT="${2:-${COLLECTOR_PORT:-4318}}"
# The other two ports follow PORT, so that collectors started on two ports
# neither clash nor answer each other's health checks.
export COLLECTOR_OTLP_PORT="$PORT" COLLECTOR_HEALTH_PORT="$((PORT + 1))" COLLECTOR_METRICS_PORT="$((PORT + 2))"

say() { echo "collector: $*" >&2; }

check_go() {
  local version minor
  # Go's installer puts it here without touching the PATH of every shell.
  command -v go >/dev/null || PATH="$PATH:/usr/local/go/bin"
  if ! command -v go >/dev/null; then
    say "Go 1.$GO_MINOR or newer is needed to build the Collector, and 'go' is not installed"
    say "(or not on PATH). Install Go, or run the official image with Docker instead:"
    say "  docker compose --profile collector up"
    return 1
  fi
  version="$(go env GOVERSION)" # e.g. go1.26.8
  minor="$(echo "$version" | sed -n 's/^go1\.\([0-9]*\).*/\1/p')"
  if [[ -z "$minor" ]] || ((minor < GO_MINOR)); then
    say "the Collector $OCB_VERSION needs Go 1.$GO_MINOR or newer; this is $version."
    say "Upgrade Go, or run the official image with Docker: docker compose --profile collector up"
    return 1
  fi
}

build() {
  [[ -x "$BIN" ]] && return 0
  check_go
  # Go's module and build caches (about 1.4 GB) go there too, so that
  # nothing lands in the repo or in ~/go, and nothing else's cleaning
  # removes them. -modcacherw: Go makes its module cache read-only, which
  # defeats rm -rf. GOTOOLCHAIN=local: use this Go, never fetch another one.
  export GOMODCACHE="$BUILD/go-mod" GOCACHE="$BUILD/go-build" GOBIN="$BUILD/bin"
  export GOFLAGS="-modcacherw" GOTOOLCHAIN=local
  local ocb="$GOBIN/builder-$OCB_VERSION"
  if [[ ! -x "$ocb" ]]; then
    say "installing the Collector Builder $OCB_VERSION"
    go install "go.opentelemetry.io/collector/cmd/builder@v$OCB_VERSION"
    mv "$GOBIN/builder" "$ocb"
  fi
  say "building the Collector into $DIST (the first time takes about 4 minutes)"
  "$ocb" --config "$MANIFEST" --output-path "$DIST" >&2
}

healthy() { curl -fs "http://127.0.0.1:$COLLECTOR_HEALTH_PORT/" 2>/dev/null | grep -q '"Server available"'; }

case "${1:-}" in
build)
  build
  echo "$BIN"
  ;;
run)
  build
  exec "$BIN" --config "$CONFIG"
  ;;
start)
  if healthy; then
    say "already running: OTLP/HTTP on http://127.0.0.1:$PORT"
    exit 0
  fi
  build
  log="$CACHE/collector-$PORT.log"
  pidfile="$CACHE/collector-$PORT.pid"
  nohup "$BIN" --config "$CONFIG" >"$log" 2>&1 &
  echo $! >"$pidfile"
  for _ in $(seq 1 120); do
    if healthy; then
      say "started: OTLP/HTTP on http://127.0.0.1:$PORT, log in $log (stop it: $0 stop $PORT)"
      exit 0
    fi
    kill -0 "$(cat "$pidfile")" 2>/dev/null || break # it exited: no use waiting
    sleep 0.25
  done
  say "did not become healthy; its log ends with:"
  tail -20 "$log" >&2
  kill "$(cat "$pidfile")" 2>/dev/null || true
  rm -f "$pidfile"
  exit 1
  ;;
stop)
  pidfile="$CACHE/collector-$PORT.pid"
  if [[ -f "$pidfile" ]]; then
    kill "$(cat "$pidfile")" 2>/dev/null && say "stopped" || true
    rm -f "$pidfile"
  fi
  ;;
*)
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
  ;;
esac
