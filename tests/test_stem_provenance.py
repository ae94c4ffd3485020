"""Stems record where they come from: Broadcast WAV ``bext`` (TimeReference) + ``iXML``, FLAC
Vorbis comments, AIFF ID3; checked with an independent reader (ffprobe) and used by
``avpc daw export`` when no ``--position`` is given."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from helpers_engine import make_video
from helpers_separation import IdentitySeparation
from test_daw_ardour import MINIMAL_SESSION

from avpc_plugin.audio.io import read_audio, write_audio
from avpc_plugin.audio.provenance import (
    StemProvenance,
    provenance_from_fields,
    read_bext,
    read_provenance,
    read_time_reference,
)
from avpc_plugin.checkpoints.format import save_checkpoint
from avpc_plugin.daw.cli import daw_group
from avpc_plugin.separate.cli import separate_command

RATE = 48000
RECORD = StemProvenance(
    stem="violin",
    source="/media/concert.wav",
    start_sample=600000,
    sample_rate=RATE,
    model="avpc-small",
    model_sha256="0123456789abcdef",
    box=(0.1, 0.2, 0.3, 0.4),
    offset=-0.25,
    preset="strings",
    version="0.1.0",
)


def _chunks(path: Path) -> list[tuple[bytes, int]]:
    data = path.read_bytes()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    assert struct.unpack("<I", data[4:8])[0] == len(data) - 8  # the RIFF size is right
    chunks, at = [], 12
    while at < len(data):
        kind, size = data[at : at + 4], struct.unpack("<I", data[at + 4 : at + 8])[0]
        chunks.append((kind, size))
        at += 8 + size + (size & 1)
    assert at == len(data)
    return chunks


@pytest.mark.parametrize(
    ("suffix", "bit_depth"),
    [(".wav", "16"), (".wav", "24"), (".wav", "32f"), (".flac", "16"), (".flac", "24"),
     (".aiff", "24")],
)  # fmt: skip
def test_samples_are_identical_with_and_without_provenance(
    tmp_path: Path, suffix: str, bit_depth: Any
) -> None:
    audio = np.random.default_rng(3).uniform(-0.6, 0.6, (2, 4801)).astype(np.float32)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()  # the same file name: the same dither
    tagged = write_audio(tmp_path / "a" / f"s{suffix}", audio, RATE, bit_depth, provenance=RECORD)
    plain = write_audio(tmp_path / "b" / f"s{suffix}", audio, RATE, bit_depth)
    assert np.array_equal(read_audio(tagged)[0], read_audio(plain)[0])
    assert read_time_reference(tagged) == 600000 and read_time_reference(plain) is None
    assert provenance_from_fields(read_provenance(tagged)) == RECORD
    if suffix == ".wav":
        kinds = [kind for kind, _ in _chunks(tagged)]
        assert kinds.index(b"bext") < kinds.index(b"data") and b"iXML" in kinds
        plain_data = plain.read_bytes()
        start = plain_data.index(b"data")
        assert tagged.read_bytes().endswith(plain_data[start:])  # the data chunk, byte for byte
        assert not list((tmp_path / "a").glob(".*"))  # no temporary file left


def test_bext_layout_and_ixml(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "s.wav", np.zeros((1, 100)), RATE, "24", provenance=RECORD)
    bext = read_bext(path)
    assert bext is not None
    assert bext["time_reference"] == 600000 and bext["version"] == 2
    assert bext["originator"] == "avpc-plugin"
    assert bext["description"] == "avpc stem violin of concert.wav from 12.5 s by avpc-small"
    assert bext["coding_history"] == "A=PCM,F=48000,W=24,M=mono,T=avpc-plugin 0.1.0\r\n"
    assert dict(_chunks(path))[b"bext"] == 602 + len(bext["coding_history"])  # type: ignore[arg-type]
    data = path.read_bytes()
    at = data.index(b"iXML")
    size = struct.unpack("<I", data[at + 4 : at + 8])[0]
    root = ET.fromstring(data[at + 8 : at + 8 + size])
    assert root.findtext("SPEED/TIMESTAMP_SAMPLES_SINCE_MIDNIGHT_LO") == "600000"
    assert root.findtext("SPEED/TIMESTAMP_SAMPLE_RATE") == "48000"
    big = StemProvenance("x", start_sample=(5 << 32) + 7, sample_rate=RATE)  # past 32 bits
    path = write_audio(tmp_path / "big.wav", np.zeros((1, 10)), RATE, "16", provenance=big)
    assert read_time_reference(path) == (5 << 32) + 7


FFPROBE = shutil.which("ffprobe")


@pytest.mark.skipif(FFPROBE is None, reason="ffprobe (ffmpeg) is not installed")
@pytest.mark.parametrize("suffix", [".wav", ".flac", ".aiff"])
def test_ffprobe_reads_the_provenance(tmp_path: Path, suffix: str) -> None:
    """An independent reader: ffmpeg's demuxers (bext for WAV, Vorbis comments, ID3 in AIFF)."""
    path = write_audio(tmp_path / f"s{suffix}", np.zeros((2, 480)), RATE, "24", provenance=RECORD)
    shown = subprocess.run(
        [str(FFPROBE), "-v", "error", "-show_format", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    tags = {k.lower(): v for k, v in json.loads(shown.stdout)["format"]["tags"].items()}
    assert tags["time_reference"] == "600000"
    assert tags["comment"] == "avpc stem violin of concert.wav from 12.5 s by avpc-small"
    if suffix == ".wav":
        assert tags["encoded_by"] == "avpc-plugin"  # bext Originator
        assert tags["coding_history"].startswith("A=PCM,F=48000,W=24,M=stereo")
    else:
        assert tags["avpc_source"] == "/media/concert.wav"
        assert tags["avpc_model_sha256"] == "0123456789abcdef"
        assert (tags["avpc_box"], tags["avpc_preset"]) == ("0.1,0.2,0.3,0.4", "strings")


# ------------------------------------------------------------------ separate, then daw export


@pytest.fixture(scope="module")
def separated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``avpc separate --start 12.5`` of a 13.5 s recording: two FLAC / WAV stem folders."""
    root = tmp_path_factory.mktemp("take")
    audio = (0.1 * np.random.default_rng(5).standard_normal((1, round(13.5 * RATE)))).astype(
        np.float32
    )
    source = write_audio(root / "take.wav", audio, RATE, "32f")
    video = make_video(root / "cam.mp4", 14.0)
    model = save_checkpoint(IdentitySeparation(), root / "models", "identity")
    found = {"source": source, "model": model}
    for fmt in ("wav", "flac"):
        out = root / fmt
        result = CliRunner().invoke(
            separate_command,
            [str(source), "--video", str(video), "--stem", "left@0,0,0.5,1",
             "--stem", "right@0.5,0,0.5,1", "--residual", "--start", "12.5", "--format", fmt,
             "-o", str(out), "--model", str(model)],
            catch_exceptions=False,
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        found[fmt] = out / "take"
    return found


def test_separate_writes_the_provenance(separated: dict[str, Path]) -> None:
    fields = read_provenance(separated["wav"] / "left.wav")
    assert fields["TIME_REFERENCE"] == str(round(12.5 * RATE))
    record = provenance_from_fields(fields)
    assert record is not None
    assert (record.stem, record.box, record.preset) == ("left", (0, 0, 0.5, 1), "default")
    assert record.source == str(separated["source"].absolute())
    assert record.model == "identity.pt" or record.model.startswith("identity")
    assert len(record.model_sha256) == 16
    flac = provenance_from_fields(read_provenance(separated["flac"] / "residual.flac"))
    assert flac is not None and (flac.stem, flac.start_seconds) == ("residual", 12.5)


def test_rpp_export_places_stems_at_their_recorded_time(
    separated: dict[str, Path], tmp_path: Path
) -> None:
    rpp = pytest.importorskip("rpp", reason="the rpp package (test extra) parses .RPP files")
    for fmt in ("wav", "flac"):
        project = tmp_path / f"{fmt}.RPP"
        result = CliRunner().invoke(
            daw_group,
            ["export", "--format", "rpp", "--stems", str(separated[fmt]), "--session",
             str(project)],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert "12.5 s, recorded in the stems" in result.output
        tracks = rpp.loads(project.read_text()).findall("TRACK")
        assert len(tracks) == 3
        for track in tracks:
            assert track.find("ITEM").find("POSITION")[1] == "12.5"


def test_ardour_export_places_stems_at_their_recorded_time(
    separated: dict[str, Path], tmp_path: Path
) -> None:
    session = tmp_path / "Mini"
    (session / "interchange/Mini/audiofiles").mkdir(parents=True)
    (session / "Mini.ardour").write_text(MINIMAL_SESSION)
    result = CliRunner().invoke(
        daw_group,
        ["export", "--format", "ardour", "--stems", str(separated["wav"]), "--session",
         str(session)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"at sample {round(12.5 * RATE)}" in result.output
    regions = ET.parse(session / "Mini.ardour").getroot().findall("Playlists/Playlist/Region")
    position = f"a{round(12.5 * RATE) * 282240000 // RATE}"
    assert len(regions) == 3
    assert all(region.get("length", "").endswith("@" + position) for region in regions)


def test_export_falls_back_to_zero_when_stems_disagree_or_record_none(tmp_path: Path) -> None:
    rpp = pytest.importorskip("rpp", reason="the rpp package (test extra) parses .RPP files")
    stems = tmp_path / "stems"
    write_audio(stems / "a.wav", np.ones((1, 480)) * 0.1, RATE, provenance=RECORD)
    other = StemProvenance("b", start_sample=RATE, sample_rate=RATE)
    write_audio(stems / "b.wav", np.ones((1, 480)) * 0.1, RATE, provenance=other)
    project = tmp_path / "p.RPP"
    result = CliRunner().invoke(
        daw_group,
        ["export", "--format", "rpp", "--stems", str(stems), "--session", str(project)],
    )
    assert result.exit_code == 0, result.output
    assert "different positions" in result.output and "at 0 s" in result.output
    for track in rpp.loads(project.read_text()).findall("TRACK"):
        assert float(track.find("ITEM").find("POSITION")[1]) == 0.0
    plain = tmp_path / "plain"
    write_audio(plain / "c.wav", np.ones((1, 480)) * 0.1, RATE)
    result = CliRunner().invoke(
        daw_group,
        ["export", "--format", "rpp", "--stems", str(plain), "--session", str(tmp_path / "q.RPP")],
    )
    assert result.exit_code == 0 and "no stem records its position" in result.output
    result = CliRunner().invoke(  # --position wins over what the stems record
        daw_group,
        ["export", "--format", "rpp", "--stems", str(stems), "--session", str(tmp_path / "r.RPP"),
         "--position", "3"],
    )  # fmt: skip
    assert result.exit_code == 0 and "recorded" not in result.output
