#!/bin/sh
# One visit: a counter in redis, a row in postgres, both read back.
hits=$(redis-cli -h "$REDIS_HOST" incr hits)
psql -h "$PG_HOST" -U postgres -qtA \
  -c "create table if not exists visits (at timestamptz default now())" \
  -c "insert into visits default values" >/dev/null
visits=$(psql -h "$PG_HOST" -U postgres -qtA -c "select count(*) from visits")
printf 'Content-Type: text/plain\r\n\r\n'
echo "greeting=$GREETING hits=$hits visits=$visits"
