"""Contact sheet: a PNG that shows a set of solo clips at a glance.

One row per clip: ``frames`` video frames spread evenly over the clip, then the spectrogram the
nets see (model-rate STFT, log-frequency rows, dB over an 80 dB range, 100 Hz to 3 kHz ticks) of
the whole clip with white lines at the times of the frames, labelled with the instrument, the
recording and its length. The sheet is
``SHEET_WIDTH`` pixels wide and ``ROW_HEIGHT`` pixels per row (plus nothing else), so its size
is known in advance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from avpc_plugin.audio.stft import FREQ_BINS, MODEL_RATE, N_FFT, stft
from avpc_plugin.audio.warp import warp_to_log_freq, warped_row_positions
from avpc_plugin.data.cache import META_NAME, ClipCache
from avpc_plugin.data.clips import SoloClip
from avpc_plugin.data.corpus import is_corpus_folder
from avpc_plugin.data.datasets import ClipAudio, decode_clip_frames, read_clips

SHEET_WIDTH = 1600
"""Pixels."""
ROW_HEIGHT = 160
"""Pixels per clip."""
_DPI = 100
_TICK_HZ = (100, 300, 1000, 3000)


def clips_for_preview(folder: str | Path) -> list[SoloClip]:
    """The clips of a corpus folder (``index.jsonl``), a pre-decoded cache (``meta.json``) or
    a folder of solo videos, by what the folder holds."""
    root = Path(folder)
    if (root / META_NAME).is_file() and not is_corpus_folder(root):  # a corpus's own index first
        return ClipCache(root).clips
    return read_clips(root)


def write_contact_sheet(
    clips: list[SoloClip], out: str | Path, frames: int = 4, max_clips: int = 12
) -> tuple[int, int]:
    """Draw up to ``max_clips`` clips (evenly chosen) into the PNG file ``out``.

    Args:
        clips: the clips to show (at least one).
        out: PNG path; its folder is created.
        frames: video frames per row (>= 1).
        max_clips: rows at most.

    Returns:
        ``(width, height)`` of the PNG in pixels: ``(SHEET_WIDTH, ROW_HEIGHT * rows)``.
    """
    import matplotlib  # deferred: slow to import (about 0.5 s); only the contact sheet draws

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # deferred: after choosing the Agg backend above

    if not clips:
        raise ValueError("clips: nothing to preview")
    if frames < 1 or max_clips < 1:
        raise ValueError(f"frames, max_clips: expected >= 1, got {frames}, {max_clips}")
    chosen = [clips[round(i)] for i in np.linspace(0, len(clips) - 1, min(max_clips, len(clips)))]
    rows = len(chosen)
    figure = plt.figure(figsize=(SHEET_WIDTH / _DPI, ROW_HEIGHT * rows / _DPI), dpi=_DPI)
    figure.patch.set_facecolor("black")
    # Square thumbnails as tall as the row (less a label strip); the spectrogram takes the rest.
    pad = 4 / SHEET_WIDTH
    thumb_h = 1.0 / rows * 0.86
    thumb_w = thumb_h * rows * ROW_HEIGHT / SHEET_WIDTH
    spec_left = frames * (thumb_w + pad) + 8 * pad  # room for the frequency labels
    for r, clip in enumerate(chosen):
        bottom = 1.0 - (r + 1) / rows + 0.02 / rows
        times = (np.arange(frames) + 0.5) * clip.duration / frames
        for k, image in enumerate(decode_clip_frames(clip, list(times))):
            axes = figure.add_axes((pad + k * (thumb_w + pad), bottom, thumb_w, thumb_h))
            axes.imshow(image)
            axes.set_axis_off()
        axes = figure.add_axes((spec_left, bottom, 1.0 - spec_left - pad, thumb_h))
        _draw_spectrogram(axes, clip, times)
        label = f"{clip.instrument}  ·  {clip.recording}  ·  {clip.duration:.1f} s"
        top = bottom + thumb_h + 0.01 / rows
        figure.text(pad, top, label, color="white", fontsize=9, va="bottom")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=_DPI, facecolor=figure.get_facecolor())
    plt.close(figure)
    return SHEET_WIDTH, ROW_HEIGHT * rows


def _draw_spectrogram(axes: Any, clip: SoloClip, frame_times: np.ndarray) -> None:
    with ClipAudio(clip) as audio:
        wave = audio.model_rate(0, audio.model_rate_length)
    magnitude = stft(torch.from_numpy(wave)).abs()  # (512, frames)
    warped = warp_to_log_freq(magnitude).numpy()
    db = 20 * np.log10(warped + 1e-6)
    seconds = len(wave) / MODEL_RATE
    axes.imshow(
        db, origin="lower", aspect="auto", cmap="magma", vmin=db.max() - 80, vmax=db.max(),
        extent=(0.0, seconds, 0, db.shape[0]), interpolation="nearest",
    )  # fmt: skip
    rows = warped_row_positions(FREQ_BINS, db.shape[0]).numpy()
    hertz = rows * MODEL_RATE / N_FFT
    ticks = [float(np.interp(f, hertz, np.arange(len(rows)))) for f in _TICK_HZ]
    axes.set_yticks(ticks, [f"{f / 1000:g}k" if f >= 1000 else str(f) for f in _TICK_HZ])
    axes.set_xticks([])  # the white lines mark the thumbnails' times; the label has the length
    axes.tick_params(colors="white", labelsize=7, length=2, pad=1)
    axes.set_xlim(0.0, seconds)
    for t in frame_times:
        axes.axvline(float(t), color="white", linewidth=0.6, alpha=0.7)
    for side in axes.spines.values():
        side.set_visible(False)
