"""The demo's PNG: true solos beside separated stems on one log-frequency axis and dB scale."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from avpc_plugin.atomic import write_bytes_atomically
from avpc_plugin.audio.io import read_audio
from avpc_plugin.audio.stft import StftConfig, stft
from avpc_plugin.data.scene import SceneRecord
from avpc_plugin.separate import StemQuery
from avpc_plugin.separate.separator import RESIDUAL

FIGURE_WIDTH_PX = 1600
FIGURE_ROW_PX = 330
FIGURE_HEADER_PX = 70
FIGURE_FOOTER_PX = 50
_DPI = 100
DB_RANGE = 80.0
"""Decibels shown below the loudest bin of the mix (0 dB)."""
SPECTROGRAM_ROWS = 384
"""Rows of the log-frequency axis of the PNG."""
SPECTROGRAM_LOWEST_HZ = 40.0
"""Bottom of the PNG's frequency axis in Hz."""
_TICK_HZ = (50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000)


def log_spectrogram(
    audio: np.ndarray,
    sample_rate: int,
    rows: int = SPECTROGRAM_ROWS,
    lowest_hz: float = SPECTROGRAM_LOWEST_HZ,
) -> tuple[np.ndarray, np.ndarray]:
    """Magnitude spectrogram of the channel mean on a logarithmic frequency axis.

    Args:
        audio: float ``(channels, samples)``.
        sample_rate: Hz.
        rows: rows of the frequency axis, geometrically spaced from ``lowest_hz`` to Nyquist.
        lowest_hz: frequency of the bottom row.

    Returns:
        ``(magnitude (rows, frames), row_hz (rows,))``: linear STFT magnitude, interpolated
        linearly between bins, and each row's frequency in Hz. The STFT window is a power of two
        near 93 ms (4096 samples at 44.1 kHz), the hop a quarter of it.
    """
    n_fft = 2 ** round(np.log2(sample_rate * 0.093))
    config = StftConfig(n_fft=n_fft, hop=n_fft // 4, pad_mode="constant")
    mono = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32).mean(axis=0))
    magnitude = stft(mono, config).abs().numpy()  # (bins, frames)
    row_hz = np.geomspace(lowest_hz, sample_rate / 2, rows)
    position = row_hz * n_fft / sample_rate  # fractional bin of each row
    lower = np.minimum(position.astype(int), config.bins - 2)
    weight = (position - lower)[:, None]
    return (1 - weight) * magnitude[lower] + weight * magnitude[lower + 1], row_hz


Panel = tuple[str, np.ndarray]
"""A spectrogram panel: its title and float ``(channels, samples)`` audio."""


def plot_spectrograms(
    out: Path, rows: Sequence[tuple[Panel, Panel]], sample_rate: int, title: str
) -> tuple[int, int]:
    """Write a PNG of spectrogram pairs, one pair per row, on one dB colour scale.

    Args:
        out: PNG path (written atomically).
        rows: ``(left panel, right panel)`` per row; audio at ``sample_rate``.
        sample_rate: Hz.
        title: the figure's heading.

    Returns:
        ``(width, height)`` in pixels: ``FIGURE_WIDTH_PX`` and
        ``FIGURE_HEADER_PX + FIGURE_FOOTER_PX + FIGURE_ROW_PX * len(rows)``.
    """
    import matplotlib  # deferred: slow to import (about 0.5 s); only the PNG needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # deferred: after choosing the Agg backend above

    if not rows:
        raise ValueError("rows: expected at least one pair of panels")
    spectra = [[log_spectrogram(audio, sample_rate) for _, audio in pair] for pair in rows]
    row_hz = spectra[0][0][1]
    peak = max(float(magnitude.max()) for pair in spectra for magnitude, _ in pair) or 1.0
    width = FIGURE_WIDTH_PX
    height = FIGURE_HEADER_PX + FIGURE_FOOTER_PX + FIGURE_ROW_PX * len(rows)
    figure, axes = plt.subplots(
        len(rows), 2, figsize=(width / _DPI, height / _DPI), dpi=_DPI, squeeze=False
    )
    bottom, top = FIGURE_FOOTER_PX / height, 1 - FIGURE_HEADER_PX / height
    figure.subplots_adjust(left=0.05, right=0.91, bottom=bottom, top=top, wspace=0.08, hspace=0.3)
    ticks = [(float(np.interp(f, row_hz, np.arange(len(row_hz)))), f) for f in _TICK_HZ]
    ticks = [(row, f) for row, f in ticks if f <= row_hz[-1]]
    floor = 10 ** (-(DB_RANGE + 20) / 20)
    for r, pair in enumerate(rows):
        for c, (panel_title, audio) in enumerate(pair):
            db = 20 * np.log10(np.maximum(spectra[r][c][0] / peak, floor))
            ax = axes[r][c]
            image = ax.imshow(
                db, origin="lower", aspect="auto", cmap="magma", vmin=-DB_RANGE, vmax=0.0,
                extent=(0.0, audio.shape[-1] / sample_rate, -0.5, db.shape[0] - 0.5),
                interpolation="nearest",
            )  # fmt: skip
            ax.set_title(panel_title, fontsize=11, loc="left")
            ax.set_yticks([t for t, _ in ticks], [_hz_label(f) for _, f in ticks])
            ax.tick_params(labelsize=8)
            if c == 0:
                ax.set_ylabel("frequency (Hz)", fontsize=9)
            if r == len(rows) - 1:
                ax.set_xlabel("time (s)", fontsize=9)
    colour_axes = figure.add_axes((0.93, bottom, 0.012, top - bottom))
    figure.colorbar(image, cax=colour_axes, label="dB (0 = loudest bin of all panels)")
    figure.suptitle(title, fontsize=13, y=1 - 0.25 * FIGURE_HEADER_PX / height, va="top")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI)
    plt.close(figure)
    write_bytes_atomically(out, buffer.getvalue())
    return width, height


def _hz_label(hertz: float) -> str:
    return f"{hertz / 1000:g}k" if hertz >= 1000 else f"{hertz:g}"


def spectrogram_panels(
    scene: SceneRecord, stems: dict[str, Path], queries: Sequence[StemQuery]
) -> list[tuple[Panel, Panel]]:
    """The PNG's rows: each performer's true solo and separated stem, then the mix and residual."""
    rows: list[tuple[Panel, Panel]] = [
        (
            (f"{instrument}: true solo", read_audio(solo)[0]),
            (f"{query.name}: separated stem", read_audio(stems[query.name])[0]),
        )
        for query, instrument, solo in zip(queries, scene.instruments, scene.solos, strict=True)
    ]
    rows.append((("mix", read_audio(scene.mix)[0]), (RESIDUAL, read_audio(stems[RESIDUAL])[0])))
    return rows
