"""The Separator: the one inference path (CLI, OSC engine, Python API and benchmarks call it).

Pipeline for a requested range of an input (any rate, any channel count):

1. model-rate windows (:mod:`~avpc_plugin.separate.segments`): the channel mean, resampled to
   11025 Hz window by window (:func:`~avpc_plugin.audio.io.resample_span`), 65535 samples each,
   overlapping by ``overlap``; each window's frames come from every stem's video at the window's
   timestamps (its box, its offset);
2. the model, ``batch_segments`` windows per forward: visual features once per window and stem,
   then mask logits, sigmoid, un-warp to 512 bins, then each stem's smoothing and mask mode;
3. weighted overlap-add of the masks on the range's model frame grid (optionally normalised so the
   stems' masks sum to one);
4. full-rate rendering (:mod:`~avpc_plugin.separate.fullrate`): masks resampled onto the input's
   own STFT, every channel, each stem's high-band rule and band limits, iSTFT back to the exact
   length, block by block; then each stem's pedalboard post chain, its state kept across blocks.

Each stem follows its preset (a :class:`~avpc_plugin.stem_settings.Preset`, ``StemQuery.preset``):
mask mode and threshold, PCNet cycles, smoothing, band limits, high-band rule, residual rule,
frames per window and post chain. A stem without one follows the Separator's ``default_preset``
(by default the built-in settings, those of the shipped ``default`` preset). The Separator takes
resolved objects only; preset names are read where user input is parsed
(:func:`avpc_plugin.presets.load_preset`).

Everything streams: the input is read in blocks of ``block_seconds`` (plus a window of context),
masks are kept only until rendered, so memory does not grow with the length of the input when the
input is a file and the output goes to files (:meth:`Separator.separate_to_files`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

import avpc_plugin
from avpc_plugin.audio.frontend import analyse_mixture
from avpc_plugin.audio.io import (
    AtomicAudioWriter,
    AudioInfo,
    AudioReader,
    AudioWarning,
    BitDepth,
    InputRepairWarning,
    OutputExistsError,
    commit_together,
    is_video_container,
    resample_span,
    time_range_to_samples,
)
from avpc_plugin.audio.masks import ideal_ratio_mask
from avpc_plugin.audio.provenance import StemProvenance
from avpc_plugin.audio.stft import CLIP_SAMPLES, FREQ_BINS, MODEL_RATE
from avpc_plugin.audio.warp import unwarp_from_log_freq
from avpc_plugin.checkpoints.registry import default_model, load_model
from avpc_plugin.device import resolve_device
from avpc_plugin.separate.fullrate import FullRateRenderer
from avpc_plugin.separate.query import StemQuery
from avpc_plugin.separate.refine import refine_mask
from avpc_plugin.separate.segments import OverlapAdd, WindowPlan
from avpc_plugin.stem_settings import PostChain, Preset
from avpc_plugin.video.decode import (
    IMAGE_SIZE,
    Fit,
    VideoReader,
    audio_start_in_video,
    preprocess_frames,
)

ProgressCallback = Callable[[float, str], None]
"""Called with the fraction done (0..1) and a short message."""
CancelSignal = threading.Event | Callable[[], bool]
"""A ``threading.Event`` (set = cancel) or a callable returning True to cancel."""

RESIDUAL = "residual"
MIN_SECONDS = 0.1
"""The shortest range ``avpc separate`` separates (its Separator's ``min_seconds``): a shorter
input is refused, not turned into a stub of a stem."""
_SILENT_RESIDUAL = 1e-4
"""A residual whose peak is below this fraction of the input's (-80 dB) is reported as silent."""


class SilentResidualWarning(AudioWarning):
    """The residual came out silent (e.g. masks normalised across stems that name every
    instrument): expected by a caller that asked for it so, news to one that did not."""


class SeparationCancelled(Exception):
    """The caller's cancel signal fired; nothing was written under a final name."""


@dataclass
class SeparationResult:
    """Stems of one separation.

    Attributes:
        stems: name -> float32 ``(channels, samples)`` at the input's rate, exactly as long as the
            separated range and sample-aligned with it; includes ``"residual"`` when asked for.
        sample_rate: Hz.
        start_sample: first input sample of the separated range.
        windows: model windows evaluated.
    """

    stems: dict[str, np.ndarray]
    sample_rate: int
    start_sample: int
    windows: int

    def __getitem__(self, name: str) -> np.ndarray:
        return self.stems[name]


class _Source:
    """Input samples of the requested range, read block by block (zeros outside the range)."""

    def __init__(
        self,
        read: Callable[[int, int], np.ndarray],
        sample_rate: int,
        channels: int,
        first: int,
        stop: int,
        path: Path | None,
        min_seconds: float = 0.0,
    ) -> None:
        self._read = read
        self.sample_rate = sample_rate
        self.channels = channels
        self.first = first
        self.length = stop - first
        self.path = path
        self._nonfinite_warned = False
        if self.length < min_seconds * sample_rate:
            raise ValueError(
                f"{path or 'audio'}: too short to separate: {self.length} sample(s) "
                f"({self.length / sample_rate:.3f} s), at least {min_seconds:g} s is needed"
            )

    @property
    def start_seconds(self) -> float:
        return self.first / self.sample_rate

    @property
    def duration(self) -> float:
        return self.length / self.sample_rate

    def read(self, start: int, count: int) -> np.ndarray:
        """Samples ``[start, start + count)`` of the range as float32 ``(C, count)``."""
        out = np.zeros((self.channels, count), dtype=np.float32)
        lo, hi = max(start, 0), min(start + count, self.length)
        if hi > lo:
            block = self._read(self.first + lo, hi - lo)
            finite = np.isfinite(block)
            if not finite.all():  # one NaN would spread over seconds of every stem
                self._warn_nonfinite(self.first + lo + int(np.argmin(finite.all(axis=0))))
                block = np.where(finite, block, 0.0)
            out[:, lo - start : hi - start] = block
        return out

    def _warn_nonfinite(self, sample: int) -> None:
        if not self._nonfinite_warned:
            self._nonfinite_warned = True
            warnings.warn(
                f"{self.path or 'audio'}: non-finite samples (NaN or inf), the first near "
                f"{sample / self.sample_rate:.3f} s, are read as silence",
                InputRepairWarning,
                stacklevel=3,
            )

    def read_mono(self, start: int, count: int) -> np.ndarray:
        """Channel mean of :meth:`read`: ``(count,)``."""
        return self.read(start, count).mean(axis=0)


def _abort_all(writers: Mapping[str, AtomicAudioWriter]) -> None:
    """Discard every writer's partial file, last made first."""
    for writer in reversed(list(writers.values())):
        writer.abort()


def _is_cancelled(cancel: CancelSignal | None) -> bool:
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event):
        return cancel.is_set()
    return bool(cancel())


class Separator:
    """Visually queried stem separation with one model.

    Args:
        model: a top-level separation net with ``visual_features`` and ``masks_from_features``
            (the "avpc" / "sop" interface); put in eval mode and moved to ``device``.
        device: ``None`` / ``"auto"`` (CUDA when present), or a device name.
        batch_segments: model windows per forward pass.
        overlap: overlap of consecutive windows, a fraction in [0, 1).
        default_preset: the settings of stems whose query names no preset (``None``: the
            built-in :class:`~avpc_plugin.stem_settings.Preset`, soft masks;
            :func:`~avpc_plugin.stem_settings.reference_preset` gives the reference's binary
            masks).
        block_seconds: full-rate seconds rendered per block (memory vs. overhead).
        fit: how a crop box becomes a square frame (``"crop"``, the reference, or ``"stretch"``).
        input_peak: if set, each window's model-rate mixture is scaled to this peak before the
            model (for models trained on peak-normalised mixtures); ``None`` leaves levels alone.
        video_tolerance: seconds a video may fall short of the audio range at either end
            without a word. Past its end the video's last frame (before its start, its first) is
            held, however long the gap; a gap longer than this is reported with an
            :class:`~avpc_plugin.audio.io.InputRepairWarning` saying how many seconds were held
            (an error where such warnings are made errors, as ``avpc separate --strict`` does).
            ``separate`` / ``separate_to_files`` take it per call too.
        amp: on CUDA, run the model under float16 autocast.
        min_seconds: a range to separate shorter than this is refused (ValueError) before any
            work; 0 (the default) takes any length, down to one sample (``avpc separate`` uses
            :data:`MIN_SECONDS`).
        model_name, model_sha256: the model's registry name (or checkpoint file name) and its
            checkpoint's sha256, written into the stems' provenance (:meth:`separate_to_files`);
            :meth:`from_pretrained` fills them in.
    """

    def __init__(
        self,
        model: nn.Module,
        device: str | torch.device | None = None,
        batch_segments: int = 4,
        overlap: float = 0.5,
        default_preset: Preset | None = None,
        block_seconds: float = 30.0,
        fit: Fit = "crop",
        input_peak: float | None = None,
        video_tolerance: float = 0.5,
        amp: bool = True,
        min_seconds: float = 0.0,
        model_name: str = "",
        model_sha256: str = "",
    ) -> None:
        for method in ("visual_features", "masks_from_features"):
            if not callable(getattr(model, method, None)):
                raise TypeError(
                    f"model: {type(model).__name__} has no {method}(); expected a top-level "
                    "separation net such as 'avpc' or 'sop'"
                )
        if batch_segments < 1:
            raise ValueError(f"batch_segments: expected an int >= 1, got {batch_segments!r}")
        WindowPlan.with_overlap(1, overlap)  # validates overlap
        if default_preset is not None and not isinstance(default_preset, Preset):
            raise TypeError(f"default_preset: expected a Preset or None, got {default_preset!r}")
        if block_seconds <= 0:
            raise ValueError(f"block_seconds: expected a positive duration, got {block_seconds!r}")
        self.device = resolve_device(device)
        self.model: Any = model.to(self.device).eval()
        self.batch_segments = batch_segments
        self.overlap = overlap
        self.default_preset = default_preset or Preset()
        self.block_seconds = block_seconds
        self.fit = fit
        self.input_peak = input_peak
        self.video_tolerance = video_tolerance
        self.amp = amp
        self.min_seconds = min_seconds
        self.model_name = model_name
        self.model_sha256 = model_sha256

    def stem_presets(self, stems: Sequence[StemQuery]) -> list[Preset]:
        """The preset each stem follows: its own, or the Separator's ``default_preset``."""
        return [stem.preset or self.default_preset for stem in stems]

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike[str] | None = None,
        device: str | torch.device | None = None,
        **options: Any,
    ) -> Separator:
        """A Separator for a registered model name or a checkpoint file (None: the default model).

        Raises:
            LookupError: no name given and the registry has no default model.
            KeyError / FileNotFoundError / CheckpointError: as ``checkpoints.load_model``.
        """
        if name_or_path is None:
            entry = default_model()
            if entry is None:
                raise LookupError(
                    "no default model: the model registry lists none yet; train or register one "
                    "(see `avpc models`) or pass a checkpoint path"
                )
            name_or_path = entry.name
        loaded = load_model(name_or_path, device=device)
        given = Path(name_or_path)  # a checkpoint file is named by its file name
        options.setdefault("model_name", given.name if given.is_file() else str(name_or_path))
        options.setdefault("model_sha256", loaded.sha256)
        return cls(loaded.model, device=device, **options)

    # -------------------------------------------------------------------------------- public API

    def separate(
        self,
        audio: np.ndarray | str | os.PathLike[str],
        sample_rate: int | None = None,
        stems: Sequence[StemQuery] = (),
        start: float | None = None,
        end: float | None = None,
        residual: bool = False,
        normalise: bool = False,
        cycles: int | None = None,
        progress: ProgressCallback | None = None,
        cancel: CancelSignal | None = None,
        video_tolerance: float | None = None,
    ) -> SeparationResult:
        """Separate ``stems`` from an array or a file and return them as arrays.

        Args:
            audio: float ``(channels, samples)`` (or ``(samples,)``) with ``sample_rate``, or a path
                to an audio file or a video container.
            sample_rate: Hz, required for arrays (ignored for files).
            stems: one query per stem (unique names); a query without video uses the input file.
            start, end: seconds of the input to separate (default: all of it).
            residual: add a ``"residual"`` stem: the input minus the named stems.
            normalise: scale the masks to sum to one in every bin, so the stems sum to the input.
            cycles: PCNet test-time cycles (``None``: the model's trained number) for stems whose
                preset leaves them at 0.
            progress: called with (fraction, message) as the work advances.
            cancel: checked between model batches; raises :class:`SeparationCancelled`.
            video_tolerance: this call's ``video_tolerance`` (None: the Separator's).

        Returns:
            :class:`SeparationResult` with every stem ``(channels, samples)`` float32.

        Raises:
            PresetError: a stem's preset is unknown or invalid (before any work).
            ValueError: a range shorter than ``min_seconds``, bad arguments.

        Warns:
            InputRepairWarning: an input read after a repair (a truncated file, non-finite
                samples, a video's frame held past its end beyond ``video_tolerance``).
            AudioWarning: a silent residual (e.g. with ``normalise``).
        """
        names = self._output_names(stems, residual)
        presets = self.stem_presets(stems)
        with self._open_source(audio, sample_rate, start, end) as source:
            out = {name: np.empty((source.channels, source.length), np.float32) for name in names}
            windows_done = 0
            for block_start, blocks, windows in self._stream(
                source,
                stems,
                presets,
                residual,
                normalise,
                cycles,
                progress,
                cancel,
                self._tolerance(video_tolerance),
            ):
                windows_done = windows
                for name, block in blocks.items():
                    out[name][:, block_start : block_start + block.shape[1]] = block
            return SeparationResult(out, source.sample_rate, source.first, windows_done)

    def separate_to_files(
        self,
        audio: np.ndarray | str | os.PathLike[str],
        outputs: Mapping[str, str | os.PathLike[str]],
        sample_rate: int | None = None,
        stems: Sequence[StemQuery] = (),
        start: float | None = None,
        end: float | None = None,
        residual: bool = False,
        normalise: bool = False,
        cycles: int | None = None,
        bit_depth: BitDepth = "24",
        overwrite: bool = False,
        progress: ProgressCallback | None = None,
        cancel: CancelSignal | None = None,
        root: str | os.PathLike[str] | None = None,
        video_tolerance: float | None = None,
        dither: bool = True,
        provenance: bool = True,
    ) -> dict[str, Path]:
        """Like :meth:`separate`, but stream every stem into a file (bounded memory).

        Args:
            outputs: stem name -> file path (extension picks wav / flac / aiff); one per stem and
                one for ``"residual"`` if asked for.
            bit_depth: ``"16"``, ``"24"`` or ``"32f"`` (wav).
            overwrite: replace existing files (otherwise an existing file is an error raised
                before any work).
            root: if set, every output's folder must lie inside this folder (taken as given),
                checked when its file is opened and right before its rename
                (:class:`~avpc_plugin.audio.io.OutputEscapeError` otherwise).
            dither: TPDF dither for 16 and 24 bit (:class:`AtomicAudioWriter`); False rounds.
            provenance: write each stem's :class:`~avpc_plugin.audio.provenance.StemProvenance`
                into its file (source, start on the source's timeline as the WAV ``bext``
                TimeReference / the FLAC and AIFF ``TIME_REFERENCE`` tag, model name and sha256
                prefix, box, offset, preset, version); False: plain files.
            (the other arguments as :meth:`separate`)

        Returns:
            stem name -> path written. The files are committed as a set
            (:func:`~avpc_plugin.audio.io.commit_together`): on any error or cancel no file
            appears under a final name.
        """
        names = self._output_names(stems, residual)
        presets = self.stem_presets(stems)
        missing = [name for name in names if name not in outputs]
        if missing:
            raise ValueError(f"outputs: no path for stem(s) {', '.join(missing)}")
        for name in names:
            if Path(outputs[name]).exists() and not overwrite:
                raise OutputExistsError(Path(outputs[name]))
        with (
            self._open_source(audio, sample_rate, start, end) as source,
            contextlib.ExitStack() as stack,
        ):
            writers: dict[str, AtomicAudioWriter] = {}
            # each cleanup is registered before its file exists, so an interrupt (SIGTERM,
            # Ctrl-C) landing anywhere leaves no partial file behind
            stack.callback(_abort_all, writers)
            records = self._provenance(source, stems, presets) if provenance else {}
            for name in names:
                writers[name] = AtomicAudioWriter(
                    outputs[name],
                    source.sample_rate,
                    source.channels,
                    bit_depth,
                    overwrite,
                    root,
                    dither=dither,
                    provenance=records.get(name),
                )
            for _, blocks, _ in self._stream(
                source,
                stems,
                presets,
                residual,
                normalise,
                cycles,
                progress,
                cancel,
                self._tolerance(video_tolerance),
            ):
                for name, block in blocks.items():
                    writers[name].write(block)
            stack.pop_all()  # commit_together removes every partial file itself if it fails
            paths = commit_together(list(writers.values()))
            return dict(zip(writers, paths, strict=True))

    # -------------------------------------------------------------------------------- internals

    def _provenance(
        self, source: _Source, stems: Sequence[StemQuery], presets: Sequence[Preset]
    ) -> dict[str, StemProvenance]:
        """Each output's provenance record (the residual's: no box, the default preset's name)."""
        base = StemProvenance(
            stem=RESIDUAL,
            source="" if source.path is None else str(source.path.absolute()),
            start_sample=source.first,
            sample_rate=source.sample_rate,
            model=self.model_name,
            model_sha256=self.model_sha256[:16],
            preset=self.default_preset.name,
            version=avpc_plugin.__version__,
        )
        records = {
            stem.name: dataclasses.replace(
                base, stem=stem.name, box=stem.box, offset=stem.offset, preset=preset.name
            )
            for stem, preset in zip(stems, presets, strict=True)
        }
        return {**records, RESIDUAL: base}

    def _tolerance(self, video_tolerance: float | None) -> float:
        tolerance = self.video_tolerance if video_tolerance is None else video_tolerance
        if not tolerance >= 0:  # NaN too
            raise ValueError(f"video_tolerance: expected seconds >= 0, got {tolerance!r}")
        return float(tolerance)

    @staticmethod
    def _output_names(stems: Sequence[StemQuery], residual: bool) -> list[str]:
        if not stems:
            raise ValueError("stems: expected at least one StemQuery")
        names = [stem.name for stem in stems]
        # names that differ in case only would share one file on macOS and Windows
        folded = [name.casefold() for name in names] + ([RESIDUAL] if residual else [])
        duplicates = sorted({name for name in names if folded.count(name.casefold()) > 1})
        if duplicates:
            raise ValueError(
                f"stems: duplicate stem name(s) {', '.join(duplicates)} (names that differ in "
                "case only count as the same: they would share a file on macOS and Windows)"
            )
        return [*names, RESIDUAL] if residual else names

    @contextlib.contextmanager
    def _open_source(
        self,
        audio: np.ndarray | str | os.PathLike[str],
        sample_rate: int | None,
        start: float | None,
        end: float | None,
    ) -> Iterator[_Source]:
        if isinstance(audio, (str, os.PathLike)):
            with AudioReader(audio) as reader:
                first, stop = time_range_to_samples(start, end, reader.info)
                yield _Source(
                    reader.read,
                    reader.info.sample_rate,
                    reader.info.channels,
                    first,
                    stop,
                    Path(audio),
                    self.min_seconds,
                )
            return
        array = np.asarray(audio, dtype=np.float32)
        if array.ndim == 1:
            array = array[None]
        if array.ndim != 2 or array.shape[1] == 0:
            raise ValueError(
                f"audio: expected a float array (channels, samples), got shape {array.shape}"
            )
        if sample_rate is None or int(sample_rate) != sample_rate or sample_rate <= 0:
            raise ValueError(
                f"sample_rate: expected a positive int (Hz) for an array, got {sample_rate!r}"
            )
        info = AudioInfo(Path("<array>"), int(sample_rate), array.shape[0], array.shape[1])
        first, stop = time_range_to_samples(start, end, info)
        yield _Source(
            lambda s, n: array[:, s : s + n],
            int(sample_rate),
            array.shape[0],
            first,
            stop,
            None,
            self.min_seconds,
        )

    def _stream(
        self,
        source: _Source,
        stems: Sequence[StemQuery],
        presets: Sequence[Preset],
        residual: bool,
        normalise: bool,
        cycles: int | None,
        progress: ProgressCallback | None,
        cancel: CancelSignal | None,
        video_tolerance: float,
    ) -> Iterator[tuple[int, dict[str, np.ndarray], int]]:
        """Yield ``(block_start, {name: (C, n) block}, windows_done)`` in order."""
        model_length = -(-source.length * MODEL_RATE // source.sample_rate)
        plan = WindowPlan.with_overlap(model_length, self.overlap)
        renderer = FullRateRenderer(
            source.sample_rate,
            source.length,
            plan.total_frames,
            self.block_seconds,
            [p.band.above_model for p in presets],
            [(p.band.low_hz, p.band.high_hz) for p in presets],
        )
        stems = self._on_container_clock(stems, source)
        chains = [PostChain(p.post, source.sample_rate) for p in presets]
        blender = OverlapAdd(plan)
        masks: Tensor | None = None  # settled masks (N, FREQ_BINS, frames), not yet consumed
        masks_first = 0
        next_window = 0
        peaks = {"mix": 0.0, RESIDUAL: 0.0}
        with contextlib.ExitStack() as stack:
            videos, held = self._open_videos(source, stems, stack, video_tolerance)
            for block_start, block_stop in renderer.blocks():
                need_lo, need_hi = renderer.model_frames_needed(block_start, block_stop)
                while masks is None or masks_first + masks.shape[-1] < need_hi:
                    if _is_cancelled(cancel):
                        raise SeparationCancelled("separation cancelled")
                    batch = list(
                        range(next_window, min(next_window + self.batch_segments, plan.num_windows))
                    )
                    window_masks = self._window_masks(
                        source, plan, batch, stems, presets, videos, cycles
                    )
                    for window, m in zip(batch, window_masks, strict=True):
                        blender.add(window, m)
                    next_window = batch[-1] + 1
                    first, settled = blender.pop()
                    if normalise:
                        settled = ideal_ratio_mask(settled)  # each stem's share of the masks
                    masks = settled if masks is None else torch.cat([masks, settled], dim=-1)
                    masks_first = first - (masks.shape[-1] - settled.shape[-1])
                    if progress is not None:
                        progress(
                            self._fraction(next_window, plan, block_start, source),
                            f"windows {next_window}/{plan.num_windows}",
                        )
                drop = max(0, need_lo - masks_first)
                masks, masks_first = masks[..., drop:], masks_first + drop
                seg_first, seg_stop = renderer.input_span(block_start, block_stop)
                segment = torch.from_numpy(source.read(seg_first, seg_stop - seg_first)).to(
                    self.device
                )
                with torch.inference_mode():
                    rendered = (
                        renderer.render(
                            segment, seg_first, block_start, block_stop, masks, masks_first
                        )
                        .cpu()
                        .numpy()
                    )
                processed = [chain(stem) for chain, stem in zip(chains, rendered, strict=True)]
                blocks = {stem.name: processed[i] for i, stem in enumerate(stems)}
                if residual:
                    mix = segment[:, block_start - seg_first : block_stop - seg_first].cpu().numpy()
                    blocks[RESIDUAL] = mix - _residual_share(presets, rendered, processed)
                    peaks["mix"] = max(peaks["mix"], float(np.abs(mix).max(initial=0.0)))
                    peaks[RESIDUAL] = max(
                        peaks[RESIDUAL], float(np.abs(blocks[RESIDUAL]).max(initial=0.0))
                    )
                if progress is not None:
                    progress(
                        self._fraction(next_window, plan, block_stop, source),
                        f"rendered {block_stop / source.sample_rate:.1f} s",
                    )
                yield block_start, blocks, next_window
            # before the caller commits anything: a video that decoded short of what it states
            self._check_decoded_ends(videos, held, video_tolerance)
        if residual and peaks[RESIDUAL] < _SILENT_RESIDUAL * peaks["mix"]:
            why = (
                "the masks are normalised (--normalise), so the stems sum to the input and "
                "nothing is left over"
                if normalise
                else "the stems take all of the input"
            )
            warnings.warn(
                f"{source.path or 'audio'}: the residual is silent (80 dB or more below the "
                f"input): {why}",
                SilentResidualWarning,
                stacklevel=3,
            )

    @staticmethod
    def _fraction(windows_done: int, plan: WindowPlan, samples_done: int, source: _Source) -> float:
        return 0.5 * windows_done / plan.num_windows + 0.5 * samples_done / source.length

    def _open_videos(
        self,
        source: _Source,
        stems: Sequence[StemQuery],
        stack: contextlib.ExitStack,
        tolerance: float,
    ) -> tuple[dict[Path, VideoReader], dict[Path, tuple[float, str]]]:
        """Open each distinct video once; where it falls short of the range (plus offsets) by more
        than ``tolerance``, warn that its first / last frame is held.

        Returns the readers and, for each video not yet reported, the latest time a stem needs
        and that stem's name (for :meth:`_check_decoded_ends`)."""
        readers: dict[Path, VideoReader] = {}
        needs: dict[Path, tuple[float, float, str, str]] = {}
        for stem in stems:
            video = self._video_of(stem, source)
            if video not in readers:
                # the last frame answers for any time past the end: the gap is judged here
                readers[video] = stack.enter_context(VideoReader(video, end_tolerance=math.inf))
            first = source.start_seconds + stem.offset
            last = source.start_seconds + source.duration + stem.offset
            earliest, latest, first_stem, last_stem = needs.get(
                video, (math.inf, -math.inf, "", "")
            )
            if first < earliest:
                earliest, first_stem = first, stem.name
            if last > latest:
                latest, last_stem = last, stem.name
            needs[video] = (earliest, latest, first_stem, last_stem)
        unreported: dict[Path, tuple[float, str]] = {}
        for video, (earliest, latest, first_stem, last_stem) in needs.items():
            duration = readers[video].info.duration
            if earliest < -tolerance:
                _warn_held(
                    f"{video}: the video starts {-earliest:.2f} s after the audio stem "
                    f"{first_stem!r} must show; its first frame is held for the first "
                    f"{-earliest:.2f} s",
                    source,
                )
            if latest > duration + tolerance:
                _warn_held(
                    f"{video}: the video ends at {duration:.2f} s but stem {last_stem!r} needs it "
                    f"to {latest:.2f} s; its last frame is held for the last "
                    f"{latest - duration:.2f} s",
                    source,
                )
            else:
                unreported[video] = (latest, last_stem)
        return readers, unreported

    @staticmethod
    def _check_decoded_ends(
        videos: Mapping[Path, VideoReader],
        unreported: Mapping[Path, tuple[float, str]],
        tolerance: float,
    ) -> None:
        """Warn of held last frames in videos that decoded short of the duration they state (a
        cut-off file), once decoding has found where they really end."""
        for video, (latest, stem) in unreported.items():
            end = videos[video].decoded_end
            if end is not None and latest > end + tolerance:
                _warn_held(
                    f"{video}: the video says it lasts {videos[video].info.duration:.2f} s but "
                    f"decodes only to {end:.2f} s (a truncated file?) and stem {stem!r} needs it "
                    f"to {latest:.2f} s; its last frame is held for the last {latest - end:.2f} s",
                    None,
                )

    @classmethod
    def _on_container_clock(cls, stems: Sequence[StemQuery], source: _Source) -> list[StemQuery]:
        """Stems that watch the source's own video, with the gap between the container's audio
        and video stream starts added to their offsets: their ``offset`` then counts from the
        container's own sync, as the footage was recorded."""
        if source.path is None or not is_video_container(source.path):
            return list(stems)
        own = source.path.resolve()
        watching = [cls._video_of(stem, source).resolve() == own for stem in stems]
        gap = audio_start_in_video(source.path) if any(watching) else 0.0
        return [
            dataclasses.replace(stem, offset=stem.offset + gap) if watches and gap else stem
            for stem, watches in zip(stems, watching, strict=True)
        ]

    @classmethod
    def _query_key(cls, stem: StemQuery, source: _Source) -> tuple[Path, Any, float]:
        """What a stem's visual query depends on: its video, box and offset."""
        return cls._video_of(stem, source), stem.box, stem.offset

    @staticmethod
    def _video_of(stem: StemQuery, source: _Source) -> Path:
        if stem.video is not None:
            return stem.video
        if source.path is not None and is_video_container(source.path):
            return source.path
        raise ValueError(
            f"stem {stem.name!r}: no video given and the input is not a video file (give the "
            "stem a video: StemQuery(video=...), --video)"
        )

    def _window_frames(
        self,
        source: _Source,
        plan: WindowPlan,
        windows: Sequence[int],
        stems: Sequence[StemQuery],
        videos: Mapping[Path, VideoReader],
        per_window: int,
        stride: float,
    ) -> Tensor:
        """Frames of every window and stem: ``(B, N, 3, T, IMAGE_SIZE, IMAGE_SIZE)``, ``T =
        per_window`` frames ``stride`` seconds apart."""
        times = [
            source.start_seconds + min(max(t, 0.0), source.duration)
            for window in windows
            for t in plan.frame_times(window, per_window, stride)
        ]
        raw: dict[tuple[Path, float], list[np.ndarray]] = {}
        per_stem = []
        for stem in stems:
            video = self._video_of(stem, source)
            key = (video, stem.offset)
            if key not in raw:
                reader = videos[video]
                latest = max(0.0, reader.info.duration - 1e-3)
                raw[key] = reader.frames_at([min(max(t + stem.offset, 0.0), latest) for t in times])
            frames = preprocess_frames(raw[key], stem.box, IMAGE_SIZE, self.fit)
            per_stem.append(frames.view(len(windows), per_window, 3, IMAGE_SIZE, IMAGE_SIZE))
        # (B, T, 3, H, W) per stem -> (B, N, 3, T, H, W)
        return torch.stack(per_stem, dim=1).permute(0, 1, 3, 2, 4, 5)

    def _stem_features(
        self,
        source: _Source,
        plan: WindowPlan,
        windows: Sequence[int],
        stems: Sequence[StemQuery],
        presets: Sequence[Preset],
        videos: Mapping[Path, VideoReader],
    ) -> dict[int, Tensor]:
        """Visual features of every stem (index -> ``(B, 1, ...)``), one ``visual_features`` call
        per frames-per-window / stride setting; stems asking the same visual question (video,
        box, offset, setting) share one embedding."""
        features: dict[int, Tensor] = {}
        visual = [(p.visual.frames_per_window, p.visual.frame_stride_s) for p in presets]
        for (per_window, stride), group in _groups(visual):
            queries = _groups([self._query_key(stems[i], source) for i in group])
            firsts = [stems[group[members[0]]] for _, members in queries]
            frames = self._window_frames(source, plan, windows, firsts, videos, per_window, stride)
            embedded = self.model.visual_features(frames.to(self.device))
            for j, (_, members) in enumerate(queries):
                features.update({group[m]: embedded[:, j : j + 1] for m in members})
        return features

    def _window_masks(
        self,
        source: _Source,
        plan: WindowPlan,
        windows: Sequence[int],
        stems: Sequence[StemQuery],
        presets: Sequence[Preset],
        videos: Mapping[Path, VideoReader],
        cycles: int | None,
    ) -> Tensor:
        """Linear-frequency masks of a batch of windows, ``(B, N, FREQ_BINS, 256)``, each stem's
        smoothing and mask mode applied.

        Stems that share visual query settings share one ``visual_features`` call, stems that
        share a cycle count one ``masks_from_features`` call.
        """
        mono = np.stack(
            [
                resample_span(
                    source.read_mono,
                    source.sample_rate,
                    MODEL_RATE,
                    plan.start_sample(w),
                    plan.start_sample(w) + CLIP_SAMPLES,
                    source.length,
                )
                for w in windows
            ]
        )
        if self.input_peak is not None:
            peaks = np.abs(mono).max(axis=1, keepdims=True)
            mono = mono * (self.input_peak / np.maximum(peaks, 1e-8))
        autocast = (
            torch.autocast(self.device.type, dtype=torch.float16)
            if self.amp and self.device.type == "cuda"
            else contextlib.nullcontext()
        )
        logits: dict[int, Tensor] = {}
        with torch.inference_mode(), autocast:
            analysis = analyse_mixture(torch.from_numpy(mono).to(self.device))
            features = self._stem_features(source, plan, windows, stems, presets, videos)
            stem_cycles = [p.mask.cycles or cycles for p in presets]
            for group_cycles, group in _groups(stem_cycles):
                group_features = torch.cat([features[i] for i in group], 1)
                group_logits = self.model.masks_from_features(
                    analysis.warped_mix_mag, group_features, group_cycles
                )
                logits.update({i: group_logits[:, j : j + 1] for j, i in enumerate(group)})
        ordered = torch.cat([logits[i] for i in range(len(stems))], 1)
        probs = unwarp_from_log_freq(torch.sigmoid(ordered.float()), FREQ_BINS)
        return torch.cat(
            [refine_mask(probs[:, i : i + 1], p.mask, p.smoothing) for i, p in enumerate(presets)],
            dim=1,
        )


def _warn_held(message: str, source: _Source | None) -> None:
    """An :class:`InputRepairWarning` about a held video frame (the audio range in brackets)."""
    where = (
        f" (audio range {source.start_seconds:.2f}..{source.start_seconds + source.duration:.2f} s)"
        if source is not None
        else ""
    )
    warnings.warn(message + where, InputRepairWarning, stacklevel=4)


def _groups(keys: Sequence[Any]) -> list[tuple[Any, list[int]]]:
    """Positions of equal keys, in order of first appearance: ``[(key, [i, ...]), ...]``."""
    groups: dict[Any, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    return list(groups.items())


def _residual_share(
    presets: Sequence[Preset], masked: np.ndarray, processed: Sequence[np.ndarray]
) -> np.ndarray:
    """What the stems take out of the residual, ``(C, n)``, by each preset's residual rule."""
    share = np.zeros(masked.shape[1:], dtype=np.float32)
    for preset, before, after in zip(presets, masked, processed, strict=True):
        if preset.residual.subtract == "masked":
            share += before
        elif preset.residual.subtract == "processed":
            share += after
    return share
