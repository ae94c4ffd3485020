#!/usr/bin/env bash
# The GPU checks as one command: CUDA correctness first (the nets, the training objectives and
# the Separator under the product's own autocast), then the GPU rows of docs/benchmarks.md
# (sound nets, training throughput, end-to-end separation).
#
# Run on a machine with a CUDA GPU, from the repository root (docs/benchmarks.md, "Measuring the
# GPU rows"):
#
#   bash benchmarks/gpu_checks.sh            # logs and tables into $OUT (else ./gpu-checks)
#   DEVICE=cpu bash benchmarks/gpu_checks.sh # the same flow on the CPU, to check the script
#
# On an offline machine that lacks some packages, put their wheels under .whl/ first: they are
# installed into /tmp/site. Each step writes its own log; a failing step does not stop the later
# ones, and the exit status is the number of steps that failed.
set -uo pipefail

device=${DEVICE:-cuda}
out=${OUT:-gpu-checks}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 100
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD

failed=0
step() {  # step NAME COMMAND...: run COMMAND, its output into $out/NAME.log
    local name=$1
    shift
    echo "== $name: $*"
    local began=$SECONDS
    "$@" >"$out/$name.log" 2>&1
    local status=$?
    tail -n 25 "$out/$name.log"
    echo "== $name: exit $status after $((SECONDS - began)) s"
    [ "$status" -eq 0 ] || failed=$((failed + 1))
}

{ date -u; uname -m; python3 --version; nvidia-smi -L 2>/dev/null; } >"$out/machine.txt"
cat "$out/machine.txt"
step mixed_precision python3 -m pytest -q -p no:cacheprovider tests/test_mixed_precision.py
step nets python3 benchmarks/nets.py --device "$device" --json "$out/nets.json"
step train_speed python3 benchmarks/train_speed.py --device "$device"
step separate_speed python3 benchmarks/separate_speed.py --device "$device" --seconds 60
echo "== $failed step(s) failed"
exit "$failed"
