"""Duet scenes: each box shows its performer, the mix is the sum of the solos, stereo panning."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from avpc_plugin.audio.io import read_audio
from avpc_plugin.data.corpus import SynthConfig, perform_solo
from avpc_plugin.data.render import find_soundfonts
from avpc_plugin.data.scene import SCENE_JSON, synth_scene
from avpc_plugin.video.decode import VideoReader, box_to_pixels

PANEL = 64
FPS = 8.0
DURATION = 1.5


@pytest.fixture(autouse=True)
def _val_soundfonts() -> None:
    try:
        find_soundfonts("val")
    except FileNotFoundError as error:
        pytest.skip(str(error))


def test_each_box_shows_its_performer_and_the_mix_is_the_sum(tmp_path: Path) -> None:
    instruments = ["violin", "trumpet", "cello"]
    record = synth_scene(
        tmp_path / "scene", instruments, DURATION, seed=5, sample_rate=22050, stereo=True,
        panel_size=PANEL, fps=FPS,
    )  # fmt: skip
    assert record.boxes == [
        (0.0, 0.0, 1 / 3, 1.0),
        (1 / 3, 0.0, 1 / 3, 1.0),
        (2 / 3, 0.0, 1 / 3, 1.0),
    ]
    # The panels, rendered again from the same seeds, appear inside their boxes (H.264 adds a
    # few levels of error) and nowhere else.
    config = SynthConfig(DURATION, 22050, True, FPS, PANEL)
    panels = [
        perform_solo(name, "val", np.random.default_rng([5, k]), config).frames
        for k, name in enumerate(instruments)
    ]
    with VideoReader(record.video) as reader:
        assert (reader.info.width, reader.info.height) == (3 * PANEL, PANEL)
        frames = np.stack(reader.frames_at([k / FPS for k in range(len(panels[0]))]))
    for k, box in enumerate(record.boxes):
        left, top, right, bottom = box_to_pixels(box, 3 * PANEL, PANEL)
        region = frames[:, top:bottom, left:right].astype(float)
        errors = [np.abs(region - panel).mean() for panel in panels]
        assert errors[k] < 8.0 and min(e for j, e in enumerate(errors) if j != k) > 5 * errors[k]
    # The mix file is the sum of the solo files; it does not clip.
    mix, rate = read_audio(record.mix)
    solos = [read_audio(path)[0] for path in record.solos]
    assert rate == 22050 and mix.shape == (2, int(DURATION * 22050))
    np.testing.assert_allclose(mix, np.sum(solos, axis=0), atol=1e-6)
    assert np.abs(mix).max() <= 0.9 + 1e-6
    # Stereo: the left performer is louder on the left, the right one on the right.
    energy = [np.square(s).sum(axis=1) for s in solos]
    assert energy[0][0] > 2 * energy[0][1] and energy[2][1] > 2 * energy[2][0]
    assert abs(np.log(energy[1][0] / energy[1][1])) < 0.2  # the middle one is centred
    sidecar = json.loads((tmp_path / "scene" / SCENE_JSON).read_text())
    assert [p["instrument"] for p in sidecar["performers"]] == instruments
    assert [tuple(p["box"]) for p in sidecar["performers"]] == record.boxes
    assert sidecar["mix_is"] == "sum of solos" and sidecar["size"] == [3 * PANEL, PANEL]


def test_scene_cli_draws_distinct_instruments_in_mono(tmp_path: Path) -> None:
    from avpc_plugin.data.cli import data_group

    runner = CliRunner()
    args = "--performers 2 --duration 1 --seed 3 --sample-rate 11025 --mono --panel-size 32 --fps 8"
    args = ["scene", "--out", str(tmp_path / "s"), *args.split()]
    result = runner.invoke(data_group, args)
    assert result.exit_code == 0, result.output
    sidecar = json.loads((tmp_path / "s" / SCENE_JSON).read_text())
    names = [p["instrument"] for p in sidecar["performers"]]
    assert len(set(names)) == 2 and sidecar["channels"] == 1
    bad = runner.invoke(data_group, ["scene", "--out", str(tmp_path / "t"), "--instrument", "kazoo",
                                     "--instrument", "violin"])  # fmt: skip
    assert bad.exit_code != 0 and "kazoo" in bad.output
    with pytest.raises(ValueError, match="2 to 4 performers"):
        synth_scene(tmp_path / "u", ["violin"], 1.0, 0)
