"""Contact sheet: a PNG of the promised size showing each clip's frames and spectrogram."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from avpc_plugin.data.cli import data_group
from avpc_plugin.data.preview import ROW_HEIGHT, SHEET_WIDTH, write_contact_sheet
from avpc_plugin.video.encode import write_mp4


def _video(path: Path, colour: tuple[int, int, int], pitch: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = np.broadcast_to(np.array(colour, dtype=np.uint8), (24, 64, 64, 3)).copy()
    t = np.arange(3 * 22050) / 22050
    write_mp4(path, frames, 8.0, audio=0.5 * np.sin(2 * np.pi * pitch * t), sample_rate=22050)


def test_preview_of_a_video_folder(tmp_path: Path) -> None:
    _video(tmp_path / "videos" / "violin" / "a.mp4", (250, 20, 20), 440.0)
    _video(tmp_path / "videos" / "tuba" / "b.mp4", (20, 20, 250), 110.0)
    out = tmp_path / "sheet" / "sheet.png"
    result = CliRunner().invoke(
        data_group, ["preview", str(tmp_path / "videos"), "--out", str(out), "--frames", "3"]
    )
    assert result.exit_code == 0, result.output
    image = np.asarray(Image.open(out).convert("RGB")).astype(int)
    assert image.shape == (2 * ROW_HEIGHT, SHEET_WIDTH, 3)
    # Rows are sorted by path: tuba (blue) then violin (red); the thumbnails show those colours.
    for row, channel in ((0, 2), (1, 0)):
        thumb = image[row * ROW_HEIGHT + 40 : row * ROW_HEIGHT + 120, 20:100]
        assert thumb[..., channel].mean() > 200 and thumb[..., 1].mean() < 60
    # The spectrogram half has a bright tone line and dark background, not a flat fill.
    spectrogram = image[:ROW_HEIGHT, SHEET_WIDTH // 2 :].sum(axis=-1)
    assert spectrogram.max() > 500 and np.median(spectrogram) < 200


def test_preview_of_no_clips_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="nothing to preview"):
        write_contact_sheet([], tmp_path / "x.png")
