"""What a user copies from the README and the configs works: the corpus lands where the configs
read it, comments agree with the settings and the model card, and a missing dependency is one
line naming the command that installs it."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from avpc_plugin.data import render
from avpc_plugin.data.cli import data_group

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_readme_writes_the_corpus_where_the_small_config_reads_it() -> None:
    config_file = ROOT / "configs/avpc_small_cpu.toml"
    data = tomllib.loads(config_file.read_text())["data"]
    written = set(re.findall(r"avpc data synth --out (\S+)", README))
    for split in ("train", "val"):
        read = (config_file.parent / data[split]).resolve().relative_to(ROOT).as_posix()
        assert read in written, (split, read, written)
    assert README.index("make corpus-deps") < README.index("avpc data synth --out")


def test_small_config_comment_states_its_trunk_size_and_the_cards() -> None:
    text = (ROOT / "configs/avpc_small_cpu.toml").read_text()
    size = tomllib.loads(text)["model"]["config"]["visual"]["trunk_input_size"]
    comment = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    assert re.search(r"sees the frames at (\d+) px", comment)[1] == str(size)  # type: ignore[index]
    card = (ROOT / "models/cards/avpc-synth.md").read_text()
    card_px = re.search(r"seeing (\d+) px frames", card)[1]  # type: ignore[index]
    assert f"{card_px} px frames" in comment and "not comparable" in comment


def test_network_snippet_does_not_promise_that_more_cycles_refine() -> None:
    for text in (README, (ROOT / "docs/api.md").read_text(encoding="utf-8")):
        assert "more cycles refine" not in text
        assert "cycles=4" in text and "1.51 dB at 8" in text  # the card's fall past training


def test_synth_without_its_soundfonts_is_one_line_naming_corpus_deps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(render, "SOUNDFONT_DIRS", ())
    monkeypatch.setenv("AVPC_SOUNDFONT_DIRS", str(tmp_path / "none"))
    result = CliRunner().invoke(
        data_group, ["synth", "--out", str(tmp_path / "c"), "--split", "train", "--clips", "1"]
    )
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "make corpus-deps" in lines[0] and "Traceback" not in lines[0]
    assert not (tmp_path / "c").exists()
