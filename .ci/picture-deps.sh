#!/usr/bin/env bash
# Installs the npm picture sets of the synthetic corpus (@iconify-json/*, pinned versions read
# from avpc_plugin/data/picture_sets.py) into $AVPC_PICTURE_DIR (default
# ~/.cache/avpc-plugin/pictures), where the corpus code looks for them.
# Idempotent: npm skips what is already installed at the pinned version.
# PYTHON names the interpreter that reads the catalogue (the project's venv from the Makefile).
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
DEST="${AVPC_PICTURE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/avpc-plugin/pictures}"

if ! command -v npm >/dev/null 2>&1; then
  AVPC_EXTRA_PACKAGES="npm" .ci/system-deps.sh
fi

read -r -a specs <<< "$("$PYTHON" -m avpc_plugin.data.picture_sets)"
mkdir -p "$DEST"
echo "installing ${#specs[@]} picture sets into $DEST"
npm install --prefix "$DEST" --no-save --no-audit --no-fund --no-package-lock --loglevel=error \
  "${specs[@]}"
