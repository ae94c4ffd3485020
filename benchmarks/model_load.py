"""Size and CPU load time of the registered models (shipped-model targets, docs/benchmarks.md).

For every model the registry lists (or the names given), in a fresh Python process each time:
the checkpoint's file size, the time to import the registry and ``avpc_plugin.checkpoints.format``
(torch included: the registry alone loads no torch) and the time of ``load_model(name,
device="cpu")`` (sha256 check, unpickling, building the net, loading its weights). Also the total
size of the files.

    python benchmarks/model_load.py [NAME ...] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

CHILD = """
import json, sys, time
began = time.perf_counter()
from avpc_plugin.checkpoints.registry import load_model
import avpc_plugin.checkpoints.format  # torch and the nets, which load_model imports when called
imported = time.perf_counter()
loaded = load_model(sys.argv[1], device="cpu")
done = time.perf_counter()
print(json.dumps({"import_s": imported - began, "load_s": done - imported}))
"""


def time_load(name: str) -> dict[str, float]:
    """Import and load times (s) of one cold load of ``name`` in a new interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, name], check=True, capture_output=True, text=True
    )
    times: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return times


def main() -> None:
    from avpc_plugin.checkpoints.registry import list_models

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="registered names (default: every model listed)")
    parser.add_argument("--repeats", type=int, default=3, help="cold loads per model (median)")
    args = parser.parse_args()
    entries = [e for e in list_models() if not args.names or e.name in args.names]
    if not entries:
        sys.exit("no registered models to measure")

    print("| model | default | file | load (median) | import + load |")
    print("| --- | --- | ---: | ---: | ---: |")
    total = 0
    for entry in entries:
        size = entry.file.stat().st_size
        total += size
        runs = [time_load(entry.name) for _ in range(args.repeats)]
        load = statistics.median(r["load_s"] for r in runs)
        both = statistics.median(r["import_s"] + r["load_s"] for r in runs)
        mark = "yes" if entry.default else ""
        print(f"| {entry.name} | {mark} | {size / 1e6:.1f} MB | {load:.2f} s | {both:.2f} s |")
    print(f"\n{len(entries)} checkpoint files, {total / 1e6:.1f} MB together")


if __name__ == "__main__":
    main()
