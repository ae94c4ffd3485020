"""REAPER project writer: projects written by ``avpc daw export --format rpp`` parsed back with the
``rpp`` package (tracks, names, positions to the sample, lengths, sources, project rate)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from avpc_plugin.audio.io import write_audio
from avpc_plugin.daw.cli import daw_group
from avpc_plugin.daw.rpp import rpp_string, write_rpp_project
from avpc_plugin.daw.stems import place_stem

rpp = pytest.importorskip("rpp", reason="the rpp package (test extra) parses .RPP files back")

RATE = 44100


@pytest.fixture(scope="module")
def stem_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bass: stereo wav 1 s; "kick 'n' drum": mono flac 0.5 s (a name that needs other quotes)."""
    root = tmp_path_factory.mktemp("stems")
    rng = np.random.default_rng(0)
    write_audio(root / "bass.wav", 0.1 * rng.standard_normal((2, RATE)), RATE)
    write_audio(root / "kick 'n' drum.flac", 0.1 * rng.standard_normal((1, RATE // 2)), RATE)
    (root / "notes.txt").write_text("not audio")
    return root


def _tracks(project: rpp.Element) -> dict[str, rpp.Element]:
    return {track.find("NAME")[1]: track for track in project.findall("TRACK")}


def _item(track: rpp.Element, key: str) -> str:
    return track.find("ITEM").find(key)[1]


def test_new_project_tracks_positions_lengths_and_sources(stem_dir: Path, tmp_path: Path) -> None:
    project_file = tmp_path / "Concert.RPP"
    position = 12.3456789  # not on a sample: rounds to the nearest one
    result = CliRunner().invoke(
        daw_group,
        ["export", "--format", "rpp", "--stems", str(stem_dir), "--session", str(project_file),
         "--position", str(position)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    project = rpp.loads(project_file.read_text())
    assert project.find("SAMPLERATE")[1:] == [str(RATE), "1", "0"]
    tracks = _tracks(project)
    assert list(tracks) == ["bass", "kick 'n' drum"]
    sample = round(position * RATE)
    for name, frames, source_type, suffix in (
        ("bass", RATE, "WAVE", ".wav"),
        ("kick 'n' drum", RATE // 2, "FLAC", ".flac"),
    ):
        track = tracks[name]
        assert track.find("NCHAN")[1] == "2"  # REAPER's minimum; mono plays on both sides
        assert float(_item(track, "POSITION")) * RATE == sample  # exactly on the sample
        assert float(_item(track, "LENGTH")) * RATE == frames
        assert _item(track, "SOFFS") == "0"
        source = track.find("ITEM").find("SOURCE")
        assert source.attrib == [source_type]
        assert source.find("FILE")[1] == str(stem_dir / f"{name}{suffix}")


def test_adding_to_an_existing_project_keeps_a_backup(stem_dir: Path, tmp_path: Path) -> None:
    project_file = tmp_path / "Concert.RPP"
    mix = write_audio(tmp_path / "mix.wav", np.zeros((2, RATE)), RATE)
    old = write_audio(tmp_path / "old.wav", np.zeros((2, RATE)), RATE)
    write_rpp_project(project_file, [place_stem(old)])
    before = project_file.read_text()
    export = ["export", "--format", "rpp", "--stems", str(stem_dir), "--session",
              str(project_file), "--source", str(mix), "--position", "2"]  # fmt: skip
    result = CliRunner().invoke(daw_group, export)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "Concert.RPP-bak").read_text() == before
    project = rpp.loads(project_file.read_text())
    names = [t.find("NAME")[1] for t in project.findall("TRACK")]
    assert names == ["old", "mix", "bass", "kick 'n' drum"]  # old, source, stems
    positions = [float(t.find("ITEM").find("POSITION")[1]) for t in project.findall("TRACK")]
    assert positions == [0.0, 0.0, 2.0, 2.0]
    after = project_file.read_text()
    again = CliRunner().invoke(daw_group, export)  # the same export twice: no stacked duplicates
    assert again.exit_code != 0 and "already has tracks playing" in again.output
    assert project_file.read_text() == after


def test_new_project_never_replaces_a_file_silently(stem_dir: Path, tmp_path: Path) -> None:
    project_file = tmp_path / "Concert.RPP"
    project_file.write_text("mine")
    with pytest.raises(FileExistsError, match="already exists"):
        write_rpp_project(project_file, [place_stem(stem_dir / "bass.wav")])
    assert project_file.read_text() == "mine"
    result = CliRunner().invoke(
        daw_group,
        ["export", "--format", "rpp", "--stems", str(stem_dir), "--session", str(project_file)],
    )
    assert result.exit_code != 0 and "not a REAPER project" in result.output
    assert project_file.read_text() == "mine"
    write_rpp_project(project_file, [place_stem(stem_dir / "bass.wav")], overwrite=True)
    assert (tmp_path / "Concert.RPP-bak").read_text() == "mine"  # asked for, and still kept


def test_rpp_string_quoting() -> None:
    assert rpp_string("plain name") == '"plain name"'
    assert rpp_string('say "hi"') == "'say \"hi\"'"
    assert rpp_string("""both "and' quotes""") == "`both \"and' quotes`"
    with pytest.raises(ValueError, match="all three"):
        rpp_string("\"'`")
    with pytest.raises(ValueError, match="line breaks"):
        rpp_string("two\nlines")


def _export(stems: Path, project: Path, *extra: str) -> object:
    return CliRunner().invoke(
        daw_group,
        ["export", "--format", "rpp", "--stems", str(stems), "--session", str(project), *extra],
    )


def test_tracks_come_in_separation_order_with_the_residual_last(tmp_path: Path) -> None:
    stems = tmp_path / "stems"
    stems.mkdir()
    for name in ("residual", "high", "low"):
        write_audio(stems / f"{name}.wav", np.zeros((1, 100)), RATE)
    by_name = _export(stems, tmp_path / "a.RPP")
    assert by_name.exit_code == 0, by_name.output
    assert list(_tracks(rpp.loads((tmp_path / "a.RPP").read_text()))) == [
        "high",
        "low",
        "residual",
    ]
    ordered = _export(stems, tmp_path / "b.RPP", "--stem", "low", "--stem", "high")
    assert ordered.exit_code == 0, ordered.output
    tracks = list(_tracks(rpp.loads((tmp_path / "b.RPP").read_text())))
    assert tracks == ["low", "high", "residual"]
    unknown = _export(stems, tmp_path / "c.RPP", "--stem", "violin")
    assert unknown.exit_code != 0 and "--stem violin: no such file" in unknown.output


def test_replace_swaps_the_tracks_of_an_earlier_export_in_place(
    stem_dir: Path, tmp_path: Path
) -> None:
    project_file = tmp_path / "Concert.RPP"
    old = write_audio(tmp_path / "old.wav", np.zeros((2, RATE)), RATE)
    write_rpp_project(project_file, [place_stem(old)])
    assert _export(stem_dir, project_file, "--position", "1").exit_code == 0
    refused = _export(stem_dir, project_file, "--position", "2")
    assert refused.exit_code != 0
    assert "bass, kick 'n' drum" in refused.output and "--replace" in refused.output
    result = _export(stem_dir, project_file, "--position", "2", "--replace")
    assert result.exit_code == 0, result.output
    project = rpp.loads(project_file.read_text())
    names = [t.find("NAME")[1] for t in project.findall("TRACK")]
    assert names == ["old", "bass", "kick 'n' drum"]  # replaced where they stood, not stacked
    positions = [float(_item(t, "POSITION")) for t in project.findall("TRACK")]
    assert positions == [0.0, 2.0, 2.0]
