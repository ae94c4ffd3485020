"""Lists the installed packages whose versions differ from a lock file, so a failing
`make test-latest` says which package moved. Usage: python lock_drift.py requirements.lock"""

import re
import sys
from importlib import metadata
from pathlib import Path

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_versions(lock: Path) -> dict[str, str]:
    pins = (PIN.match(line) for line in lock.read_text().splitlines())
    return {canonical(m[1]): m[2] for m in pins if m}


def main(lock: Path) -> None:
    locked = locked_versions(lock)
    installed = {canonical(d.metadata["Name"]): d.version for d in metadata.distributions()}
    moved = sorted(
        (name, locked[name], installed.get(name, "not installed"))
        for name in locked
        if installed.get(name) != locked[name]
    )
    added = sorted(set(installed) - set(locked) - {"avpc-plugin", "pip", "wheel"})
    if not moved and not added:
        print(f"every package is at its {lock} version")
        return
    print(f"packages that moved away from {lock}:")
    for name, old, new in moved:
        print(f"  {name:32} {old:>14} -> {new}")
    for name in added:
        print(f"  {name:32} {'(not locked)':>14} -> {installed[name]}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
