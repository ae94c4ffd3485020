"""requirements.lock and pyproject.toml agree: every direct requirement is locked at a version
its range admits, and the lock holds no direct requirement pyproject.toml has dropped."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
LOCKED_EXTRAS = ("test", "data")
"""The extras `make lock` compiles in."""
LOCK_ENVIRONMENT = {"python_version": "3.11", "sys_platform": "linux", "platform_system": "Linux"}
"""The interpreter and platform the lock is compiled for (the Makefile's LOCK_PYTHON/PLATFORM)."""
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")
RELOCK = "Run `make lock` to recompile requirements.lock."


def direct_requirements() -> list[Requirement]:
    """pyproject.toml's requirements and those of the locked extras, for the lock's platform."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    texts = list(project["dependencies"])
    for extra in LOCKED_EXTRAS:
        texts += project["optional-dependencies"][extra]
    requirements = [Requirement(text) for text in texts]
    return [r for r in requirements if r.marker is None or r.marker.evaluate(LOCK_ENVIRONMENT)]


def lock_entries() -> list[tuple[str, str, list[str]]]:
    """``(name, version, via lines)`` for each package of the lock, names canonical."""
    entries: list[tuple[str, str, list[str]]] = []
    for line in LOCK.read_text().splitlines():
        pin = PIN.match(line)
        if pin:
            entries.append((canonicalize_name(pin[1]), pin[2], []))
        elif entries and line.strip().startswith("#"):
            entries[-1][2].append(line.strip(" #"))
    return entries


def test_every_direct_requirement_is_locked_inside_its_range() -> None:
    locked = {name: version for name, version, _ in lock_entries()}
    problems = []
    for requirement in direct_requirements():
        name = canonicalize_name(requirement.name)
        if name not in locked:
            problems.append(f"{requirement} is not in the lock")
        elif not requirement.specifier.contains(locked[name], prereleases=True):
            problems.append(f"{requirement}: the lock has {locked[name]}")
    assert not problems, "; ".join(problems) + ". " + RELOCK


def test_the_lock_was_compiled_from_these_requirements() -> None:
    # the lock marks each package pyproject.toml asks for ("via avpc-plugin (pyproject.toml)"):
    # a requirement added or dropped since the last `make lock` shows as a difference here
    direct = {canonicalize_name(r.name) for r in direct_requirements()}
    from_pyproject = {
        name
        for name, _, via in lock_entries()
        if any("avpc-plugin (pyproject.toml)" in line for line in via)
    }
    added, dropped = sorted(direct - from_pyproject), sorted(from_pyproject - direct)
    assert not added and not dropped, (
        f"pyproject.toml differs from what the lock was compiled from: added {added}, "
        f"dropped {dropped}. {RELOCK}"
    )


def test_every_locked_package_has_hashes() -> None:
    text = LOCK.read_text()
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text)
    unhashed = [b.split()[0] for b in blocks if PIN.match(b) and "--hash=sha256:" not in b]
    assert unhashed == [], f"locked without a hash: {unhashed}. {RELOCK}"
