#!/bin/sh
# First start on an empty volume: a cluster that trusts the project network, with the user
# and database the official image's variables name (POSTGRES_USER, _PASSWORD, _DB).
set -e
user=${POSTGRES_USER:-postgres}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  initdb -D "$PGDATA" -U "$user" --auth=trust >/dev/null
  printf "listen_addresses = '*'\njit = off\n" >> "$PGDATA/postgresql.conf"
  echo "host all all 0.0.0.0/0 trust" >> "$PGDATA/pg_hba.conf"
  {
    [ -n "$POSTGRES_PASSWORD" ] && echo "ALTER USER \"$user\" PASSWORD '$POSTGRES_PASSWORD';"
    [ -n "$POSTGRES_DB" ] && [ "$POSTGRES_DB" != postgres ] && echo "CREATE DATABASE \"$POSTGRES_DB\";"
    true
  } | postgres --single -D "$PGDATA" postgres >/dev/null
fi
exec postgres -D "$PGDATA"
