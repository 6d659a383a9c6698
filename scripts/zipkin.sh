#!/usr/bin/env bash
# The official Zipkin server, fetched once into a cache outside the repo,
# run on 127.0.0.1 with in-memory storage.
#
#   scripts/zipkin.sh fetch          fetch and verify the jar (once), print its path
#   scripts/zipkin.sh start [PORT]   start in the background, wait until healthy
#   scripts/zipkin.sh launch [PORT]  the same, without the wait: returns at once
#   scripts/zipkin.sh wait [PORT]    wait until the one `launch` started is healthy
#   scripts/zipkin.sh run [PORT]     run in the foreground (tests, benchmarks)
#   scripts/zipkin.sh stop [PORT]    stop the one `start` or `launch` started
set -euo pipefail

VERSION="${ZIPKIN_VERSION:-3.6.1}"
# sha256 of zipkin-server-3.6.1-exec.jar, checked whichever way it was fetched.
SHA256="d8326e0ed4f43855dba81228f688554706e52578a7c782d9a90b73f8680654a1"
CACHE="${TOASTSITE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/toastsite}"
JAR="$CACHE/zipkin-server-$VERSION-exec.jar"
PORT="${2:-${ZIPKIN_PORT:-9411}}"
PIDFILE="$CACHE/zipkin-$PORT.pid"           # the server's
LAUNCHER="$CACHE/zipkin-$PORT.launcher.pid" # the fetch-and-start behind `launch`
LOG="$CACHE/zipkin-$PORT.log"

say() { echo "zipkin: $*" >&2; }

verified() {
  [[ -f "$1" ]] || return 1
  [[ "$VERSION" != 3.6.1 ]] && return 0 # another version: trust the fetch's own checksum
  echo "$SHA256  $1" | sha256sum --check --status
}

fetch() {
  verified "$JAR" && return 0
  mkdir -p "$CACHE"
  local tmp status=0
  tmp="$(mktemp -d "$CACHE/fetch.XXXXXX")"
  fetch_into "$tmp" || status=$?
  rm -rf "$tmp"
  return "$status"
}

fetch_into() {
  if command -v mvn >/dev/null; then
    say "fetching zipkin-server $VERSION with Maven, once (checksums strictly checked)"
    # jansi.noreset: no colour-reset codes when the output is not a terminal;
    # the quick JIT alone halves the time Maven takes for this.
    MAVEN_OPTS="${MAVEN_OPTS:-} -Djansi.noreset=true -XX:TieredStopAtLevel=1" \
      mvn --batch-mode --quiet --strict-checksums dependency:copy \
      "-Dartifact=io.zipkin:zipkin-server:$VERSION:jar:exec" "-DoutputDirectory=$1" >&2 || return
  elif command -v curl >/dev/null; then
    say "fetching zipkin-server $VERSION with Zipkin's own quickstart script"
    curl -fsSL https://zipkin.io/quickstart.sh -o "$1/quickstart.sh" || return
    (cd "$1" && bash quickstart.sh "io.zipkin:zipkin-server:$VERSION:exec" \
      "zipkin-server-$VERSION-exec.jar") || return
  else
    say "cannot fetch Zipkin: install Maven (or curl), or run it with Docker:"
    say "  docker compose up zipkin"
    return 1
  fi
  if ! verified "$1/zipkin-server-$VERSION-exec.jar"; then
    say "the downloaded jar does not match its checksum; not using it"
    return 1
  fi
  mv "$1/zipkin-server-$VERSION-exec.jar" "$JAR"
}

healthy() { curl -fs "http://127.0.0.1:$PORT/health" 2>/dev/null | grep -q '"status" *: *"UP"'; }
# The process in pidfile $1 runs, and is ours (not another that got its pid
# since). -ww: the jar's name may come after the first 80 columns.
alive() {
  local pid
  pid="$(cat "$1" 2>/dev/null)" && kill -0 "$pid" 2>/dev/null &&
    { ! command -v ps >/dev/null || [[ "$(ps -ww -o args= -p "$pid")" == *zipkin* ]]; }
}

JAVA_VERSION=""
check_java() {
  if ! command -v java >/dev/null; then
    say "Java 17 or newer is needed to run Zipkin, and 'java' is not installed."
    say "Install it (Debian/Ubuntu: apt-get install openjdk-17-jre-headless), or use Docker:"
    say "  docker compose up zipkin"
    return 1
  fi
  JAVA_VERSION="$(java -version 2>&1 | sed -n 's/.*version "\([0-9][0-9.]*\).*/\1/p' | head -1)"
  if ((${JAVA_VERSION%%.*} < 17)); then
    say "Zipkin $VERSION needs Java 17 or newer; this is Java $JAVA_VERSION."
    return 1
  fi
}

# Listen on 127.0.0.1 only. Armeria's port list is replaced as a whole,
# hence port, address and protocol together. In-memory storage keeps up to
# MEM_MAX_SPANS spans (500,000 by default): too small a heap makes Zipkin
# spend its time collecting garbage once it fills up.
SERVER=("-Xmx${ZIPKIN_HEAP:-1g}" -jar "$JAR" "--armeria.ports[0].port=$PORT"
  "--armeria.ports[0].ip=127.0.0.1" "--armeria.ports[0].protocols=http")

# `start` is a developer's Zipkin, so it starts in a quarter of the time: the
# quick JIT alone (ample for one person's traffic; `run`, for tests and
# benchmarks, keeps the full one), and its jar unpacked into plain jars
# (Spring Boot's own tool) whose classes the JVM keeps in an archive, written
# by the first server started from them as it stops and checked before use (a
# torn one would crash the JVM). The very first start runs the jar as it is,
# which is sooner than unpacking it first, and unpacks it once it is up, niced
# so that the site's first pages come first.
UNPACKED="$CACHE/zipkin-server-$VERSION/zipkin-server-$VERSION-exec.jar"
archive() { echo "$CACHE/zipkin-server-$VERSION-java$JAVA_VERSION.jsa"; }

unpack() {
  [[ -f "$UNPACKED" ]] && return 0
  ((${VERSION%%.*} >= 3)) || return 1 # Spring Boot 3's tool; older jars would just run
  local tmp
  tmp="$(mktemp -d "$CACHE/unpack.XXXXXX")"
  # Never over another's: a server may be running from it.
  if nice java -Djarmode=tools -jar "$JAR" extract --destination "$tmp/app" >/dev/null 2>&1; then
    mv -T "$tmp/app" "$(dirname "$UNPACKED")" 2>/dev/null || true
  fi
  rm -rf "$tmp"
  [[ -f "$UNPACKED" ]]
}

keep_archive() {
  local new
  new="$(archive).$PORT.new"
  [[ -f "$new" ]] || return 0
  if (cd "$CACHE" && java -Xshare:on "-XX:SharedArchiveFile=$new" -cp "$UNPACKED" -version) \
    >/dev/null 2>&1; then
    mv -f "$new" "$(archive)"
  else
    rm -f "$new" "$CACHE"/hs_err_pid*.log
  fi
}

# The server's own start, in the background: Java, the jar, then the JVM.
# Ctrl-C on `make run` stops neither it nor the server: bash lets some of the
# commands it runs in the background see Ctrl-C, unless told to ignore it.
launch_server() {
  trap '' INT
  check_java
  fetch
  local server=("${SERVER[@]}") quick=(-XX:TieredStopAtLevel=1)
  if [[ -f "$UNPACKED" ]]; then
    server[2]="$UNPACKED"
    quick+=(-Xlog:cds=off -Xlog:cds+dynamic=off)
    if [[ -f "$(archive)" ]]; then
      quick+=("-XX:SharedArchiveFile=$(archive)")
    elif java -Xshare:on -version >/dev/null 2>&1; then # a new archive needs the JDK's own
      quick+=("-XX:ArchiveClassesAtExit=$(archive).$PORT.new")
    fi
  fi
  STORAGE_TYPE=mem nohup java "${quick[@]}" "${server[@]}" >"$LOG" 2>&1 &
  echo $! >"$PIDFILE"
  if [[ "${server[2]}" == "$JAR" ]]; then
    (while ! healthy; do alive "$PIDFILE" || exit; sleep 0.5; done; unpack) >/dev/null 2>&1 &
  fi
}

launch() {
  if healthy || alive "$LAUNCHER" || alive "$PIDFILE"; then return 0; fi # up, or on its way
  mkdir -p "$CACHE"
  rm -f "$PIDFILE"
  launch_server &
  echo $! >"$LAUNCHER"
}

# Until healthy: through the fetch, then up to 60 s for the server itself.
wait_healthy() {
  local waited=0 said=""
  while ! healthy; do
    if ! alive "$LAUNCHER"; then
      if ! alive "$PIDFILE"; then
        if [[ -f "$PIDFILE" ]]; then
          say "stopped before it was up; its log ends with:"
          tail -20 "$LOG" >&2
        fi
        return 1
      fi
      if ((waited++ >= 300)); then
        say "did not become healthy within 60 s; its log ends with:"
        tail -20 "$LOG" >&2
        kill "$(cat "$PIDFILE")" 2>/dev/null || true
        return 1
      fi
    fi
    if [[ -z "$said" ]]; then
      say "waiting for Zipkin to start (a few seconds; up to 20 the first time)…"
      said=1
    fi
    sleep 0.2
  done
  say "${said:+started. }Zipkin UI: http://localhost:$PORT/zipkin/ (stop it: make zipkin-stop)"
}

case "${1:-}" in
fetch)
  fetch
  echo "$JAR"
  ;;
run)
  check_java
  fetch
  export STORAGE_TYPE=mem
  exec java "${SERVER[@]}"
  ;;
launch)
  launch
  ;;
start)
  launch
  wait_healthy
  ;;
wait)
  wait_healthy
  ;;
stop)
  if alive "$LAUNCHER"; then kill "$(cat "$LAUNCHER")" 2>/dev/null || true; fi
  rm -f "$LAUNCHER"
  if alive "$PIDFILE"; then
    pid="$(cat "$PIDFILE")"
    kill "$pid"
    say "stopping…"
    # Until it has exited: the port is free again and its archive is whole.
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    say "stopped"
    if check_java >/dev/null 2>&1; then keep_archive; fi
  fi
  rm -f "$PIDFILE"
  ;;
*)
  sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
  ;;
esac
