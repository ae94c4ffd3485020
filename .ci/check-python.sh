#!/usr/bin/env bash
# Refuses, with the way out, an interpreter or machine the lock was not compiled for.
# Usage: check-python.sh PYTHON LOCK_PYTHON   (e.g. check-python.sh python3 3.11)
set -euo pipefail
python="$1"
want="$2"
have=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
machine="$(uname -s)/$(uname -m)"
if [ "$have" != "$want" ] || [ "$machine" != "Linux/x86_64" ]; then
  cat >&2 <<MSG
requirements.lock is the tested set for CPython $want on Linux/x86_64; this is Python $have on $machine.
  - with a Python $want elsewhere on this machine:  make PYTHON=python$want test
  - otherwise, install from pyproject.toml's ranges (not the tested set):
      python3 -m venv .venv && .venv/bin/pip install -e '.[test]'
MSG
  exit 1
fi
