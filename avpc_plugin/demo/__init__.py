"""``avpc demo``: the product end to end on a synthetic concert clip whose true stems are known.

Steps (each one reuses the package's own path; nothing here separates or scores by itself):

1. :func:`~avpc_plugin.data.scene.synth_scene` renders a clip of performers side by side in one
   frame (44.1 kHz stereo by default) into ``OUT/scene/``, with each performer's true solo;
2. the :class:`~avpc_plugin.separate.Separator` separates the mix into one stem per performer,
   queried by the scene video cropped to that performer's box, plus ``residual``; the masks are
   normalised across the performers by default (they name every instrument that plays), and
   ``--presets`` shapes each stem with its instrument's preset; stems go to
   ``OUT/stems/<name>.wav`` (32-bit float, so nothing clips and ``stems + residual`` is the mix
   to float precision);
3. ``OUT/spectrograms.png``: each performer's true solo next to its separated stem, then the mix
   next to the residual, on one log-frequency axis and one dB colour scale;
4. ``OUT/report.md``: the model, the settings, the timings, BSS Eval against the true solos (as
   ``avpc evaluate`` scores: channel mean at 11025 Hz) and the sum check.

No model is faked: without a trained model (``--model`` or the registry's default) the command
stops with one line saying how to pass one.

Modules: :mod:`~avpc_plugin.demo.run` (the steps), :mod:`~avpc_plugin.demo.spectrograms` (the
PNG), :mod:`~avpc_plugin.demo.report` (report and terminal summary),
:mod:`~avpc_plugin.demo.result` (file names and the :class:`DemoResult`),
:mod:`~avpc_plugin.demo.cli` (the command).
"""

from avpc_plugin.demo.result import (
    DEFAULT_INSTRUMENTS,
    NO_MODEL_MESSAGE,
    DemoError,
    DemoResult,
    DemoTimings,
)
from avpc_plugin.demo.run import parse_instruments, run_demo, score_stems, stem_names, sum_error
from avpc_plugin.demo.spectrograms import (
    FIGURE_FOOTER_PX,
    FIGURE_HEADER_PX,
    FIGURE_ROW_PX,
    FIGURE_WIDTH_PX,
    log_spectrogram,
    plot_spectrograms,
)

__all__ = [
    "DEFAULT_INSTRUMENTS",
    "FIGURE_FOOTER_PX",
    "FIGURE_HEADER_PX",
    "FIGURE_ROW_PX",
    "FIGURE_WIDTH_PX",
    "NO_MODEL_MESSAGE",
    "DemoError",
    "DemoResult",
    "DemoTimings",
    "log_spectrogram",
    "parse_instruments",
    "plot_spectrograms",
    "run_demo",
    "score_stems",
    "stem_names",
    "sum_error",
]
