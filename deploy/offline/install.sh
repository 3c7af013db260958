#!/usr/bin/env bash
# Install wardwatch from a wheelhouse, without network access (see build-wheelhouse.sh), as root:
#
#   deploy/offline/install.sh WHEELHOUSE [collector|agent]
#
# Creates the venv (PREFIX, default /opt/wardwatch/venv) with pip --no-index, the system users, the
# configuration and state folders, and the systemd unit; it enables nothing and overwrites no config.
# Environment: PREFIX, PYTHON (default python3), ETC (default /etc/wardwatch), SYSTEMD_DIR
# (default /etc/systemd/system), NO_SYSTEM=1 (only the venv: no users, folders or units; for tests).
set -euo pipefail

wheelhouse="${1:?usage: install.sh WHEELHOUSE [collector|agent]}"
role="${2:-collector}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
deploy="$(cd "$here/.." && pwd)"
prefix="${PREFIX:-/opt/wardwatch/venv}"
python="${PYTHON:-python3}"
etc="${ETC:-/etc/wardwatch}"
systemd_dir="${SYSTEMD_DIR:-/etc/systemd/system}"

case "$role" in
  collector) requirement="wardwatch[collector]"; unit="wardwatch-collector.service"; user="wardwatch" ;;
  agent)     requirement="wardwatch";            unit="wardwatch-agent.service";     user="wardwatch-agent" ;;
  *) echo "install.sh: role must be collector or agent, not $role" >&2; exit 2 ;;
esac
[ -d "$wheelhouse" ] || { echo "install.sh: no wheelhouse at $wheelhouse" >&2; exit 2; }
if [ -f "$wheelhouse/SHA256SUMS" ]; then
  ( cd "$wheelhouse" && sha256sum --quiet --check SHA256SUMS ) \
    || { echo "install.sh: the wheelhouse is damaged (SHA256SUMS)" >&2; exit 1; }
fi

# 1. The venv, from the wheelhouse only: --no-index means pip never tries the network.
"$python" -m venv "$prefix"
"$prefix/bin/pip" install --quiet --disable-pip-version-check --no-index --find-links "$wheelhouse" --upgrade pip
"$prefix/bin/pip" install --quiet --disable-pip-version-check --no-index --find-links "$wheelhouse" "$requirement"
"$prefix/bin/python" -c 'import agent' && echo "installed $requirement into $prefix"

[ "${NO_SYSTEM:-0}" = 1 ] && exit 0

# 2. Users, folders, unit. Configuration files are copied only if absent: never overwrite an admin's edits.
install -D -m 0644 "$deploy/systemd/wardwatch.sysusers.conf" /usr/lib/sysusers.d/wardwatch.conf
systemd-sysusers /usr/lib/sysusers.d/wardwatch.conf
install -d -m 0750 -o root -g "$user" "$etc"
if [ "$role" = collector ]; then
  install -d -m 0750 -o root -g "$user" "$etc/rules" "$etc/rosters"
  [ -e "$etc/collector.yaml" ] || install -m 0640 -o root -g "$user" "$deploy/examples/collector.yaml" "$etc/collector.yaml"
  [ -e "$etc/inventory.yaml" ] || install -m 0640 -o root -g "$user" "$deploy/examples/inventory.yaml" "$etc/inventory.yaml"
  [ -e "$etc/collector.env" ] || install -m 0640 -o root -g "$user" /dev/null "$etc/collector.env"
  # the shipped rules, only into an empty rules folder
  if [ -z "$(ls -A "$etc/rules")" ] && compgen -G "$deploy/rules/*.yaml" > /dev/null; then
    install -m 0640 -o root -g "$user" "$deploy"/rules/*.yaml "$etc/rules/"
  fi
  # the example roster and policies, only into an empty rosters folder: edit them (docs/rosters.md)
  if [ -z "$(ls -A "$etc/rosters")" ] && compgen -G "$deploy/../rosters/*.yaml" > /dev/null; then
    install -m 0640 -o root -g "$user" "$deploy"/../rosters/*.yaml "$etc/rosters/"
  fi
else
  [ -e "$etc/agent.yaml" ] || install -m 0640 -o root -g "$user" "$deploy/examples/agent.yaml" "$etc/agent.yaml"
  [ -e "$etc/agent.env" ] || install -m 0640 -o root -g "$user" /dev/null "$etc/agent.env"
fi
install -m 0644 "$deploy/systemd/$unit" "$systemd_dir/$unit"
install -D -m 0644 "$deploy/../docs/deploy.md" "$(dirname "$prefix")/docs/deploy.md"   # the units' Documentation=
systemctl daemon-reload
echo "next: edit $etc/*.yaml, then: systemctl enable --now $unit   (docs/deploy.md)"
