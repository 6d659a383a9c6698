#!/bin/sh
# Entrypoint of the CI-only postgres stand-in. Like the official image's: as
# root, it takes $PGDATA for the postgres user and runs itself again as that
# user; an empty $PGDATA is initialised with a superuser POSTGRES_USER
# (password POSTGRES_PASSWORD) and a database POSTGRES_DB, by a temporary
# server that listens on the Unix socket only; then postgres runs in the
# foreground, on every address.
set -eu

case "${1:-}" in -*) set -- postgres "$@" ;; esac

if [ "${1:-}" = postgres ] && [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ "${1:-}" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${POSTGRES_PASSWORD:?is not set: the database would have a superuser without a password}"
  user="${POSTGRES_USER:-postgres}"
  db="${POSTGRES_DB:-$user}"
  pwfile="$(mktemp)"
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb -D "$PGDATA" --username="$user" --pwfile="$pwfile" --encoding=UTF8 \
    --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"

  pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w -s start
  if [ "$db" != postgres ]; then
    createdb --username="$user" --maintenance-db=postgres -- "$db"
  fi
  pg_ctl -D "$PGDATA" -m fast -w -s stop
  echo "entrypoint: initialised $PGDATA (user $user, database $db)"
fi

exec "$@"
