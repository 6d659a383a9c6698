#!/bin/sh
# Entrypoint of the CI-only Redis stand-in. Like the official image's: options
# alone (or a .conf file) run redis-server with them; as root, it takes the
# working directory (/data) for the user redis and runs itself again as that
# user. The official image builds Redis with protected mode off (in a
# container, nothing is published unless asked for); Debian's binary has it
# on, which would refuse every other container, so without a configuration
# file it is turned off here.
set -eu
case "${1:-}" in -* | *.conf) set -- redis-server "$@" ;; esac

if [ "${1:-}" = redis-server ] && [ "$(id -u)" = 0 ]; then
  find . \! -user redis -exec chown redis '{}' +
  exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi

if [ "${1:-}" = redis-server ]; then
  case "${2:-}" in "" | -*)
    shift
    set -- redis-server --protected-mode no "$@"
    ;;
  esac
fi

# The official image's umask: the files Redis writes are its user's alone.
[ "$(umask)" != 0022 ] || umask 0077
exec "$@"
