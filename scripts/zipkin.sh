#!/usr/bin/env bash
# The official Zipkin server, fetched once into a cache outside the repo,
# run on 127.0.0.1 with in-memory storage.
#
#   scripts/zipkin.sh fetch          fetch and verify the jar (once)
#   scripts/zipkin.sh jar            print the jar's path, fetching it if needed
#   scripts/zipkin.sh start [PORT]   start in the background, wait until healthy
#   scripts/zipkin.sh run [PORT]     run in the foreground (for the Procfile)
#   scripts/zipkin.sh stop [PORT]    stop the one `start` started
set -euo pipefail

VERSION="${ZIPKIN_VERSION:-3.6.1}"
# sha256 of zipkin-server-3.6.1-exec.jar, checked whichever way it was fetched.
SHA256="d8326e0ed4f43855dba81228f688554706e52578a7c782d9a90b73f8680654a1"
CACHE="${TOASTSITE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/toastsite}"
JAR="$CACHE/zipkin-server-$VERSION-exec.jar"
PORT="${2:-${ZIPKIN_PORT:-9411}}"

say() { echo "zipkin: $*" >&2; }

verified() {
  [[ -f "$1" ]] || return 1
  [[ "$VERSION" != 3.6.1 ]] && return 0 # another version: trust the fetch's own checksum
  echo "$SHA256  $1" | sha256sum --check --status
}

fetch() {
  verified "$JAR" && return 0
  mkdir -p "$CACHE"
  local tmp
  tmp="$(mktemp -d "$CACHE/fetch.XXXXXX")"
  trap 'rm -rf "$tmp"' RETURN
  if command -v mvn >/dev/null; then
    say "fetching zipkin-server $VERSION with Maven (checksums strictly checked)"
    mvn --batch-mode --quiet --strict-checksums dependency:copy \
      "-Dartifact=io.zipkin:zipkin-server:$VERSION:jar:exec" "-DoutputDirectory=$tmp" >&2
  elif command -v curl >/dev/null; then
    say "fetching zipkin-server $VERSION with Zipkin's own quickstart script"
    curl -fsSL https://zipkin.io/quickstart.sh -o "$tmp/quickstart.sh"
    (cd "$tmp" && bash quickstart.sh "io.zipkin:zipkin-server:$VERSION:exec" \
      "zipkin-server-$VERSION-exec.jar")
  else
    say "cannot fetch Zipkin: install Maven (or curl), or run it with Docker:"
    say "  docker compose up zipkin"
    return 1
  fi
  if ! verified "$tmp/zipkin-server-$VERSION-exec.jar"; then
    say "the downloaded jar does not match its checksum; not using it"
    return 1
  fi
  mv "$tmp/zipkin-server-$VERSION-exec.jar" "$JAR"
}

healthy() { curl -fs "http://127.0.0.1:$PORT/health" 2>/dev/null | grep -q '"status" *: *"UP"'; }

check_java() {
  local major
  if ! command -v java >/dev/null; then
    say "Java 17 or newer is needed to run Zipkin, and 'java' is not installed."
    say "Install it (Debian/Ubuntu: apt-get install openjdk-17-jre-headless), or use Docker:"
    say "  docker compose up zipkin"
    return 1
  fi
  major="$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)"
  if ((major < 17)); then
    say "Zipkin $VERSION needs Java 17 or newer; this is Java $major."
    return 1
  fi
}

# Listen on 127.0.0.1 only. Armeria's port list is replaced as a whole,
# hence port, address and protocol together. In-memory storage keeps up to
# MEM_MAX_SPANS spans (500,000 by default): too small a heap makes Zipkin
# spend its time collecting garbage once it fills up.
JAVA_COMMAND=(java "-Xmx${ZIPKIN_HEAP:-1g}" -jar "$JAR" "--armeria.ports[0].port=$PORT"
  "--armeria.ports[0].ip=127.0.0.1" "--armeria.ports[0].protocols=http")

case "${1:-}" in
fetch)
  fetch
  echo "$JAR"
  ;;
jar)
  fetch
  echo "$JAR"
  ;;
run)
  check_java
  fetch
  export STORAGE_TYPE=mem
  exec "${JAVA_COMMAND[@]}"
  ;;
start)
  if healthy; then
    say "already running: Zipkin UI at http://localhost:$PORT/zipkin/"
    exit 0
  fi
  check_java
  fetch
  log="$CACHE/zipkin-$PORT.log"
  STORAGE_TYPE=mem nohup "${JAVA_COMMAND[@]}" >"$log" 2>&1 &
  echo $! >"$CACHE/zipkin-$PORT.pid"
  for _ in $(seq 1 240); do
    if healthy; then
      say "started. Zipkin UI: http://localhost:$PORT/zipkin/ (stop it: make zipkin-stop)"
      exit 0
    fi
    sleep 0.25
  done
  say "did not become healthy within 60 s; its log ends with:"
  tail -20 "$log" >&2
  kill "$(cat "$CACHE/zipkin-$PORT.pid")" 2>/dev/null || true
  exit 1
  ;;
stop)
  pidfile="$CACHE/zipkin-$PORT.pid"
  if [[ -f "$pidfile" ]]; then
    kill "$(cat "$pidfile")" 2>/dev/null && say "stopped" || true
    rm -f "$pidfile"
  fi
  ;;
*)
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
  ;;
esac
