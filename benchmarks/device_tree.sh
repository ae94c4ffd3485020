#!/usr/bin/env bash
# Fit the working tree to the device machine's 64 MiB transfer, and put it back.
#
# The shipped checkpoints (models/*.pt, about 50 MB) leave too little room for the wheels the
# device image lacks (PyAV alone is 35 MB). The GPU checks (benchmarks/gpu_checks.sh) use random
# weights, so for the length of a device session the checkpoints can stay behind:
#
#   bash benchmarks/device_tree.sh slim      # wheels into .whl/, models/*.pt out of the index
#   ... the device run: carry [".whl"], command `bash benchmarks/gpu_checks.sh` ...
#   bash benchmarks/device_tree.sh restore   # models/*.pt back in the index (.whl/ is ignored)
#
# `slim` only unstages the checkpoints (`git rm --cached`: the files stay on disk) and lists
# them in .git/info/exclude; do not commit between the two calls. Needs network to PyPI.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
exclude=.git/info/exclude
marker="# device_tree.sh"
python=${PYTHON:-.venv/bin/python}

wheels() {  # the device image's Python is CPython 3.12 on x86-64 (.library/device/KINDS.md)
    local versions
    versions=$("$python" - <<'EOF'
from importlib.metadata import version
print(" ".join(f"{name}=={version(name)}" for name in ("av", "pedalboard", "python-osc", "mir_eval", "decorator")))
EOF
)
    # shellcheck disable=SC2086
    "$python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl $versions
}

case ${1:-} in
slim)
    mkdir -p "$(dirname "$exclude")" && touch "$exclude"
    # the marker on a line of its own (git reads a pattern to the end of its line)
    grep -qxF "$marker" "$exclude" || printf '%s\n' "$marker" "/models/*.pt" >>"$exclude"
    rm -rf .whl
    wheels
    git rm -q --cached models/*.pt
    du -ch $(git ls-files) 2>/dev/null | tail -n 1 | sed 's/total/tracked tree/'
    du -sh .whl | sed 's/\.whl/wheels to carry (.whl)/'
    echo "models/*.pt are out of the index: run '$0 restore' after the device call, before any commit"
    ;;
restore)
    git reset -q -- models
    # the marker line and the pattern under it
    [ -f "$exclude" ] && sed -i "/^$marker\$/,+1d" "$exclude"
    git status --short models
    ;;
*)
    echo "usage: $0 slim|restore" >&2
    exit 2
    ;;
esac
