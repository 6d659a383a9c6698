#!/usr/bin/env bash
# An OpenTelemetry Collector for toastsite, built once from
# collector/builder.yaml into a cache outside the repo, run on loopback.
#
#   scripts/collector.sh build              build it (once) and print the binary's path
#   scripts/collector.sh start [PORT]       one Collector (OTLP in, tail sampling, Zipkin
#                                           out: collector/config.yaml), in the background
#   scripts/collector.sh start-tier [N]     a router (collector/router.yaml) on 127.0.0.1
#                                           and N samplers (2) on 127.0.0.2, 127.0.0.3, ...
#   scripts/collector.sh kill-sampler K     kill sampler K (2 is 127.0.0.2) at once, as a
#                                           crash would; with dns, also drop it from the name
#   scripts/collector.sh stop [PORT]        stop what start or start-tier started
#
# PORT is the OTLP/HTTP port (COLLECTOR_PORT, 4318); gRPC is on PORT-1, health on
# PORT+1, metrics on PORT+2, and each sampler uses the same ports on its own address.
# COLLECTOR_* variables are settings (collector/*.yaml list them). A start finds one
# already running on PORT: with the same settings it leaves it; with others it
# restarts it with the new ones (and the traces it held are lost).
# The tier's COLLECTOR_RESOLVER: static (a list of the samplers) or dns (a name that
# lists them, in a hosts file only the router sees; needs unshare, from util-linux).
# Without Go: docker compose --profile collector up
set -euo pipefail

OCB_VERSION=0.161.0 # the Collector Builder; builder.yaml pins the components
GO_MINOR=26         # v0.161.0's modules say `go 1.26.0`
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MANIFEST="$ROOT/collector/builder.yaml"
CACHE="${TOASTSITE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/toastsite}"
# All the build's files in one folder of their own: rm -rf it to start over.
BUILD="$CACHE/collector"
# One build folder per manifest: edit builder.yaml and the next build starts
# afresh (Go's module cache is shared, so only what changed is fetched),
# while an unchanged one is found again at once.
DIST="$BUILD/otelcol-$(sha256sum <"$MANIFEST" | cut -c1-12)"
BIN="$DIST/otelcol-toastsite"
PORT="${COLLECTOR_PORT:-4318}"
[[ "${1:-}" == start || "${1:-}" == stop ]] && PORT="${2:-$PORT}"
# The other ports follow PORT, so that collectors started on two ports
# neither clash nor answer each other's health checks.
export COLLECTOR_OTLP_PORT="$PORT" COLLECTOR_GRPC_PORT="$((PORT - 1))"
export COLLECTOR_HEALTH_PORT="$((PORT + 1))" COLLECTOR_METRICS_PORT="$((PORT + 2))"
# What runs on PORT: one line per process (pid, address), the settings it
# was started with, and the tier's hosts file.
STATE="$CACHE/collector-$PORT"
SAMPLERS_NAME=samplers.toastsite.test # .test: a name no real DNS answers

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
  say "building the Collector into $DIST (the first time takes about 6 minutes)"
  "$ocb" --config "$MANIFEST" --output-path "$DIST" >&2
}

healthy() { # ADDRESS
  curl -fs "http://$1:$COLLECTOR_HEALTH_PORT/" 2>/dev/null | grep -q '"Server available"'
}

# The settings a start asks for: what it starts, with which binary, and
# every COLLECTOR_* variable.
settings() { printf '%s\n' "$*" "$BIN" && env | grep '^COLLECTOR_' | grep -v '^COLLECTOR_PORT=' | sort; }

all_alive() {
  [[ -s "$STATE.pids" ]] || return 1
  while read -r pid _; do kill -0 "$pid" 2>/dev/null || return 1; done <"$STATE.pids"
}

stop_all() {
  [[ -f "$STATE.pids" ]] || return 0
  local pid
  while read -r pid _; do kill "$pid" 2>/dev/null || true; done <"$STATE.pids"
  # Wait until they are gone, so that their ports are free for a start.
  while read -r pid _; do
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break && sleep 0.25; done
  done <"$STATE.pids"
  rm -f "$STATE.pids" "$STATE.settings" "$STATE.hosts"
  say "stopped what ran on port $PORT"
}

# Start a Collector on ADDRESS with the rest of the arguments, in the
# background, and wait until it answers its health check.
launch() { # NAME ADDRESS COMMAND...
  local name="$1" address="$2" log="$STATE-$1.log" pid
  shift 2
  COLLECTOR_HOST="$address" nohup "$@" >"$log" 2>&1 &
  pid=$!
  echo "$pid $address" >>"$STATE.pids"
  for _ in $(seq 1 120); do
    healthy "$address" && say "$name started on $address, log in $log" && return 0
    kill -0 "$pid" 2>/dev/null || break # it exited: no use waiting
    sleep 0.25
  done
  say "$name did not become healthy; its log ends with:"
  tail -20 "$log" >&2
  stop_all
  exit 1
}

# A start that finds one of its own running: keep it if it has the same
# settings, else restart it. Something else answering on PORT: refuse.
prepare() { # SETTINGS...
  local wanted
  wanted="$(settings "$@")"
  if all_alive; then
    if [[ "$wanted" == "$(cat "$STATE.settings")" ]]; then
      say "already running on port $PORT, with these settings (stop it: $0 stop $PORT)"
      exit 0
    fi
    say "running on port $PORT with other settings (-), restarting it with these (+):"
    diff <(cat "$STATE.settings") <(echo "$wanted") | sed -n 's/^\([<>]\) /  \1 /p' |
      tr '<>' '-+' >&2 || true
  elif [[ -s "$STATE.pids" ]]; then
    say "part of what ran on port $PORT had stopped; starting it all anew"
  fi
  stop_all
  if healthy 127.0.0.1; then
    say "something else answers on 127.0.0.1:$COLLECTOR_HEALTH_PORT, not started by $0:"
    say "stop it (docker compose --profile collector down?), or start on another port: $0 start PORT"
    exit 1
  fi
  echo "$wanted" >"$STATE.settings"
}

sampler_address() { echo "127.0.0.$1"; }

start_tier() { # N
  local n="$1" k addresses=() router=("$BIN" --config "$ROOT/collector/router.yaml")
  for ((k = 2; k < n + 2; k++)); do addresses+=("$(sampler_address "$k")"); done
  for address in "${addresses[@]}"; do
    launch "sampler-${address##*.}" "$address" "$BIN" --config "$ROOT/collector/config.yaml"
  done
  case "${COLLECTOR_RESOLVER:-static}" in
  static)
    local list
    list="$(printf "%s:$COLLECTOR_GRPC_PORT, " "${addresses[@]}")"
    COLLECTOR_SAMPLERS="[${list%, }]" launch router 127.0.0.1 "${router[@]}"
    ;;
  dns)
    # The router reads this file as its /etc/hosts: a mount of its own,
    # seen by no other process. Edited in place (a new file would not be
    # seen through the mount), it changes what the name lists, as
    # Kubernetes does with a headless service's name when a pod dies.
    printf "%s $SAMPLERS_NAME\n" "${addresses[@]}" >"$STATE.hosts"
    local unshare=(unshare --mount --propagation private)
    ((EUID == 0)) || unshare+=(--map-root-user)
    COLLECTOR_SAMPLERS_NAME="$SAMPLERS_NAME" COLLECTOR_SAMPLERS_PORT="$COLLECTOR_GRPC_PORT" \
      launch router 127.0.0.1 "${unshare[@]}" \
      sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$STATE.hosts" "${router[@]}"
    ;;
  *)
    say "COLLECTOR_RESOLVER is static or dns, not '$COLLECTOR_RESOLVER'"
    exit 2
    ;;
  esac
}

case "${1:-}" in
build)
  build
  echo "$BIN"
  ;;
start)
  build
  prepare start
  launch collector 127.0.0.1 "$BIN" --config "$ROOT/collector/config.yaml"
  say "OTLP/HTTP on http://127.0.0.1:$PORT (stop it: $0 stop $PORT)"
  ;;
start-tier)
  build
  prepare start-tier "${2:-2}"
  start_tier "${2:-2}"
  say "OTLP/HTTP on http://127.0.0.1:$PORT, through the router (stop it: $0 stop $PORT)"
  ;;
kill-sampler)
  address="$(sampler_address "${2:?which sampler: 2 for 127.0.0.2, ...}")"
  pid="$(awk -v a="$address" '$2 == a { print $1 }' "$STATE.pids" 2>/dev/null)"
  [[ -n "$pid" ]] || { say "no sampler of ours on $address" && exit 1; }
  kill -KILL "$pid" && say "killed the sampler on $address"
  if [[ -f "$STATE.hosts" ]]; then
    grep -v "^$address " "$STATE.hosts" >"$STATE.hosts.new" || true
    cat "$STATE.hosts.new" >"$STATE.hosts" && rm "$STATE.hosts.new"
    say "and dropped it from $SAMPLERS_NAME: the router stops sending to it within seconds"
  fi
  ;;
stop)
  stop_all
  ;;
*)
  sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
  ;;
esac
