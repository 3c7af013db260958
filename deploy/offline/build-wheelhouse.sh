#!/usr/bin/env bash
# Build a wheelhouse for an offline wardwatch install, on a machine WITH internet access that matches the
# target servers (same CPU architecture, same Python minor version, same or older glibc: e.g. build on
# the same distribution release). Copy the resulting tarball to the hospital network, then run install.sh.
#
#   deploy/offline/build-wheelhouse.sh [OUT_DIR]        # default OUT_DIR: var/wheelhouse
#
# Environment: PYTHON (default python3), EXTRAS (default "collector": agent-only servers may use "").
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$(cd "$here/../.." && pwd)"
out="${1:-$src/var/wheelhouse}"
python="${PYTHON:-python3}"
extras="${EXTRAS-collector}"

"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "build-wheelhouse: $python is older than 3.11" >&2; exit 1; }

mkdir -p "$out"
build_venv="$(mktemp -d)"
trap 'rm -rf "$build_venv"' EXIT
"$python" -m venv "$build_venv"
"$build_venv/bin/pip" install --quiet --disable-pip-version-check --upgrade pip setuptools wheel

# wardwatch itself, every dependency, and pip/setuptools/wheel so the target can build its venv offline.
target="$src"
[ -n "$extras" ] && target="$src[$extras]"
"$build_venv/bin/pip" wheel --quiet --disable-pip-version-check --wheel-dir "$out" "$target" pip setuptools wheel

# Record what is in it, for the change ticket and to check the copy on the other side.
( cd "$out" && sha256sum ./*.whl > SHA256SUMS )
"$python" - "$out" "$extras" <<'PY'
import platform, sys
from pathlib import Path
out, extras = Path(sys.argv[1]), sys.argv[2]
(out / "BUILD-INFO").write_text(
    f"python={platform.python_version()}\nmachine={platform.machine()}\n"
    f"libc={'-'.join(platform.libc_ver())}\nextras={extras}\n"
)
PY
tarball="$out.tar.gz"
tar -C "$(dirname "$out")" -czf "$tarball" "$(basename "$out")"
echo "wheelhouse: $out ($(find "$out" -name '*.whl' | wc -l) wheels)"
echo "archive:    $tarball  (copy it with deploy/offline/install.sh to the servers)"
