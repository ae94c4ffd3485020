"""The package keeps its import contract (.ci/check_imports.py, also run by `make lint`), and the
checker catches an upward import, a cycle and an unexplained deferred import."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
CHECKER = ROOT / ".ci" / "check_imports.py"


def load_checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_imports", CHECKER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


checker = load_checker()


def write_package(root: Path, files: dict[str, str]) -> Path:
    """A throwaway package named ``avpc_plugin`` under ``root`` with the given modules."""
    package = root / "avpc_plugin"
    for name, text in {"__init__.py": "", **files}.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in path.parents:
            if parent == package.parent:
                break
            (parent / "__init__.py").touch()
        path.write_text(text)
    return package


def test_the_package_keeps_the_contract() -> None:
    done = subprocess.run([sys.executable, str(CHECKER)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_an_upward_import_is_refused(tmp_path: Path) -> None:
    package = write_package(
        tmp_path,
        {
            "audio/io.py": "from avpc_plugin.separate.separator import Separator\n",
            "separate/separator.py": "Separator = object\n",
        },
    )
    assert checker.breaches(package) == [
        "avpc_plugin/audio/io.py:1: avpc_plugin.audio.io (audio) imports "
        "avpc_plugin.separate.separator (separate), a higher layer"
    ]


def test_a_cycle_between_packages_of_one_layer_is_refused(tmp_path: Path) -> None:
    package = write_package(
        tmp_path,
        {
            "evaluate/score.py": "from avpc_plugin.demo.run import run\n",
            "demo/run.py": "from avpc_plugin.evaluate.score import score\nrun = score = None\n",
        },
    )
    found = checker.breaches(package)
    assert any(line.startswith("import cycle between packages: demo -> evaluate") for line in found)


def test_a_deferred_import_needs_its_reason(tmp_path: Path) -> None:
    package = write_package(
        tmp_path,
        {
            "video/decode.py": (
                "def frames():\n"
                "    import av\n"
                "    import cv2  # deferred: only the OpenCV path needs it\n"
                "    from avpc_plugin.audio.io import read\n"
            ),
            "audio/io.py": "read = None\n",
        },
    )
    found = checker.breaches(package)
    assert [line.split(": ", 1)[1] for line in found] == [
        "import of av inside a function without a '# deferred: <reason>' comment",
        "import of avpc_plugin.audio.io inside a function without a '# deferred: <reason>' comment",
    ]


def test_a_command_line_module_sits_above_every_layer(tmp_path: Path) -> None:
    package = write_package(
        tmp_path,
        {
            "separate/cli.py": "from avpc_plugin.presets.loader import load\n",
            "presets/loader.py": "load = None\n",
        },
    )
    assert checker.breaches(package) == []
