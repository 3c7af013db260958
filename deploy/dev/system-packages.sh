#!/usr/bin/env bash
# Installs the Debian packages that `make test`, `make run` and `make bench` use, when missing.
# Idempotent and quiet when everything is there. Needs root (or sudo) only when something is missing.
set -euo pipefail

# command-on-PATH  debian-package
wanted=(
  "prometheus prometheus"
  "promtool prometheus"
  "prometheus-alertmanager prometheus-alertmanager"
  "prometheus-node-exporter prometheus-node-exporter"
  "prometheus-snmp-exporter prometheus-snmp-exporter"
  "snmpd snmpd"
  "snmpget snmp"
  "snmptrap snmp"
  "snmptrapd snmptrapd"
  "ip iproute2"
)
missing=()
for pair in "${wanted[@]}"; do
  cmd=${pair%% *}; pkg=${pair##* }
  if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ] && [ ! -x "/usr/bin/$cmd" ]; then
    missing+=("$pkg")
  fi
done
# A PostgreSQL server for the store tests, only when none answers and no DSN is given.
if [ -z "${WARDWATCH_TEST_PG_DSN:-}" ] && ! (command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432); then
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=("postgresql")
fi
[ ${#missing[@]} -eq 0 ] && exit 0

mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
echo "system-packages: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
