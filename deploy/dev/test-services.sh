#!/usr/bin/env bash
# Runs the given command (the test suite) with the services the tests need.
# PostgreSQL: use $WARDWATCH_TEST_PG_DSN if set; else the server on 127.0.0.1:5432 if one answers;
# else start a throwaway cluster under var/test-pg for the duration of the command.
set -euo pipefail
cleanup=()
trap 'for c in "${cleanup[@]}"; do eval "$c"; done' EXIT

if [ -z "${WARDWATCH_TEST_PG_DSN:-}" ]; then
  if command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432; then
    export WARDWATCH_TEST_PG_DSN="postgresql://postgres@127.0.0.1:5432/test"
  else
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    dir=$(pwd)/var/test-pg
    port=55432
    rm -rf "$dir"; mkdir -p "$dir"
    runas=()
    if [ "$(id -u)" -eq 0 ]; then chown postgres "$dir"; runas=(runuser -u postgres --); fi
    "${runas[@]}" "$bin/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
    "${runas[@]}" "$bin/pg_ctl" -D "$dir/data" -o "-p $port -k $dir -c listen_addresses=127.0.0.1" -w -l "$dir/log" start >/dev/null
    cleanup+=("${runas[*]} $bin/pg_ctl -D $dir/data -m fast -w stop >/dev/null")
    "${runas[@]}" "$bin/createdb" -h 127.0.0.1 -p $port -U postgres test
    export WARDWATCH_TEST_PG_DSN="postgresql://postgres@127.0.0.1:$port/test"
  fi
fi
"$@"
