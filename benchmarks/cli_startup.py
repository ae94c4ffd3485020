"""How fast the command line answers, and which commands load torch.

Runs each command a few times in a fresh interpreter (as a shell would) and reports the median
wall time, and whether torch was imported (``-X importtime``), side by side:

    python benchmarks/cli_startup.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS: tuple[tuple[str, ...], ...] = (
    ("--help",),
    ("presets", "list"),
    ("daw", "export", "--help"),
    ("models", "list"),
    ("separate", "--help"),
)
RUNNER = "import sys; from avpc_plugin.cli import main; sys.argv = ['avpc', *sys.argv[1:]]; main()"


def run_once(args: tuple[str, ...]) -> tuple[float, bool]:
    """Wall seconds of one run, and whether it imported torch."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", RUNNER, *args],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"avpc {' '.join(args)} failed: {done.stderr[-500:]}")
    loaded = any(line.split("|")[-1].strip() == "torch" for line in done.stderr.splitlines())
    return seconds, loaded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per command")
    args = parser.parse_args()
    print("| command | median wall time (s) | imports torch |")
    print("|---|---:|---|")
    for command in COMMANDS:
        runs = [run_once(command) for _ in range(args.repeat)]
        median = statistics.median(seconds for seconds, _ in runs)
        torch = "yes" if any(loaded for _, loaded in runs) else "no"
        print(f"| `avpc {' '.join(command)}` | {median:.3f} | {torch} |")


if __name__ == "__main__":
    main()
