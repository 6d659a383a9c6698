#!/bin/sh
# Entrypoint of the CI-only HAProxy stand-in. Like the official image's:
# options alone run haproxy with them, and haproxy runs as a master with its
# worker (-W) in the foreground, logging to the container's output (-db).
set -eu
case "${1:-}" in -*) set -- haproxy "$@" ;; esac
if [ "${1:-}" = haproxy ]; then
  shift
  set -- haproxy -W -db "$@"
fi
exec "$@"
