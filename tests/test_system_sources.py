"""The Debian files behind the published figures are the ones they were made with.

The demo's duet and the val benchmark set are rendered from the val split's soundfont and
pictures (Debian packages that ``.ci/system-deps.sh`` installs), through libfluidsynth. Another
version of any of them changes the scene and so every figure quoted from it (README, model
cards); this test names the file that moved and the package version that made the figures.
Refresh ``tests/fixtures/system_sources.json`` with ``python tests/test_system_sources.py``
after re-recording the figures on new packages.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import sys
from pathlib import Path

import pytest

from avpc_plugin.data.picture_sets import OPENCLIPART, font_file, get_font_set, openclipart_root
from avpc_plugin.data.render import find_soundfonts

RECORD = Path(__file__).parent / "fixtures" / "system_sources.json"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fluidsynth_version() -> str:
    import fluidsynth

    return fluidsynth.cfunc("fluid_version_str", ctypes.c_char_p)().decode()


def current_sources() -> dict[str, str]:
    """``{name: sha256}`` of every val soundfont and picture file (a missing one reads
    ``"missing"``); ``libfluidsynth`` maps to its version."""
    sources = {f"soundfont/{p.name}": sha256(p) for p in find_soundfonts("val")}
    noto = font_file(get_font_set("noto_emoji"))
    sources["font/NotoColorEmoji.ttf"] = sha256(noto) if noto else "missing"
    root = openclipart_root()
    for files in OPENCLIPART["val"].values():
        for rel in files:
            path = root / rel if root else None
            sources[f"openclipart/{rel}"] = sha256(path) if path and path.is_file() else "missing"
    sources["libfluidsynth"] = fluidsynth_version()
    return sources


def test_the_figures_sources_are_installed_as_recorded() -> None:
    record = json.loads(RECORD.read_text())
    current = current_sources()
    moved = [
        f"{name}: recorded {want[:16]}, found {current.get(name, 'missing')[:16]} "
        f"(made with Debian {record['packages'][name.split('/')[0]]})"
        for name, want in record["sources"].items()
        if current.get(name) != want
    ]
    assert not moved, (
        "the val split's sounds or pictures differ from those the published figures were made "
        "with, so the demo and the benchmark sets will differ; install the recorded versions "
        "(.ci/system-deps.sh names them):\n  " + "\n  ".join(moved)
    )
    assert set(current) == set(record["sources"]), "the list of recorded sources changed"


if __name__ == "__main__":
    if len(sys.argv) > 1:
        pytest.exit("usage: python tests/test_system_sources.py  (rewrites the record)")
    record = json.loads(RECORD.read_text()) if RECORD.exists() else {"packages": {}}
    record["sources"] = current_sources()
    RECORD.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    print(f"wrote {RECORD}")
