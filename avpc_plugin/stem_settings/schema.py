"""What a stem preset holds (:class:`Preset`) and how one TOML table is checked against it.

A preset file is TOML; every table is optional (missing keys come from the parent preset)::

    description = "Violin: ..."
    inherits = "default"           # any other preset; `default` when left out

    [mask]
    mode = "soft"                  # "soft" (probabilities) or "binary" (0 / 1)
    threshold = 0.1                # soft: mask values below it become 0; binary: the decision level
    cycles = 0                     # PCNet test-time cycles; 0 = the model's trained number

    [smoothing]
    time_ms = 40.0                 # Gaussian std over time of the model-rate mask (0 = off)
    freq_hz = 0.0                  # Gaussian std over frequency (0 = off)

    [band]
    low_hz = 180.0                 # the stem gets nothing below ...
    high_hz = 16000.0              # ... or above (inf = no limit)
    above_model = "top_bin"        # full-rate bins above 5512.5 Hz: "top_bin", "zero" or "one"

    [residual]
    subtract = "masked"            # what the stem takes out of the residual (see RESIDUAL_RULES)

    [visual]
    frames_per_window = 3          # video frames per 5.94 s model window
    frame_stride_s = 3.0           # seconds between them

    [[post]]                       # pedalboard effects, in order
    effect = "HighpassFilter"
    cutoff_frequency_hz = 160.0

    [[post]]                       # or a plug-in the user has
    plugin = "/path/to/Plugin.vst3"
    parameters = { mix = 0.5 }

    [tuned]                        # written by `avpc presets tune` (not inherited)
    sdr_db = 7.1
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

HighBandRule = Literal["top_bin", "zero", "one"]
"""Mask of full-rate bins above the model's band (5512.5 Hz): the top model bin's mask
(``"top_bin"``, the default), nothing (``"zero"``) or everything (``"one"``)."""
HIGH_BAND_RULES: tuple[HighBandRule, ...] = ("top_bin", "zero", "one")

FRAMES_PER_WINDOW = 3
"""Video frames per model window per stem (the reference's ``num_frames``)."""
FRAME_STRIDE_SECONDS = 3.0
"""Seconds between a window's frames (the reference: 24 frames at 8 fps)."""

MaskMode = Literal["soft", "binary"]
MASK_MODES: tuple[MaskMode, ...] = ("soft", "binary")

ResidualRule = Literal["masked", "processed", "none"]
"""What a stem subtracts from the ``residual`` output: its masked audio before the post chain
(``"masked"``: stems before processing plus the residual give the mix back exactly), its audio
after the post chain (``"processed"``: what the chain removed, e.g. gated bleed, lands in the
residual), or nothing (``"none"``: the stem is a copy that leaves the residual alone)."""
RESIDUAL_RULES: tuple[ResidualRule, ...] = ("masked", "processed", "none")

MAX_CYCLES = 64
MAX_HZ = 384_000.0


class PresetError(ValueError):
    """A preset that cannot be found, read or validated; the message names the file and key."""


@dataclass(frozen=True)
class MaskSettings:
    """How model probabilities become the stem's mask.

    Attributes:
        mode: ``"soft"`` keeps probabilities, ``"binary"`` makes 0 / 1 masks.
        threshold: soft: probabilities below it become 0 (0 = plain soft mask); binary: bins whose
            probability exceeds it get 1 (the reference uses 0.5). In [0, 1).
        cycles: PCNet test-time cycles; 0 = the model's trained number (or the caller's choice).
    """

    mode: MaskMode = "soft"
    threshold: float = 0.0
    cycles: int = 0

    def __post_init__(self) -> None:
        check_settings(self, "mask")
        if self.mode == "binary" and self.threshold <= 0.0:
            raise PresetError(
                f"mask.threshold: binary masks need a threshold in (0, 1), got {self.threshold!r}"
            )


@dataclass(frozen=True)
class SmoothingSettings:
    """Gaussian smoothing of the model-rate mask probabilities (before the mask mode applies).

    Attributes:
        time_ms: standard deviation over time in milliseconds (one model frame = 23.2 ms); 0 = off.
        freq_hz: standard deviation over frequency in Hz (one model bin = 10.8 Hz); 0 = off.
    """

    time_ms: float = 0.0
    freq_hz: float = 0.0

    def __post_init__(self) -> None:
        check_settings(self, "smoothing")


@dataclass(frozen=True)
class BandSettings:
    """Frequency limits on the full-rate STFT.

    Attributes:
        low_hz: full-rate bins below this get mask 0.
        high_hz: bins above this get mask 0 (``inf``: no limit).
        above_model: mask of bins above the model's band (5512.5 Hz), see ``HighBandRule``.
    """

    low_hz: float = 0.0
    high_hz: float = math.inf
    above_model: HighBandRule = "top_bin"

    def __post_init__(self) -> None:
        check_settings(self, "band")
        if self.low_hz >= self.high_hz:
            raise PresetError(
                f"band.low_hz: expected below band.high_hz ({_fmt(self.high_hz)}), got "
                f"{_fmt(self.low_hz)}"
            )


@dataclass(frozen=True)
class ResidualSettings:
    """Attributes: subtract: see :data:`ResidualRule`."""

    subtract: ResidualRule = "masked"

    def __post_init__(self) -> None:
        check_settings(self, "residual")


@dataclass(frozen=True)
class VisualSettings:
    """The visual query's defaults.

    Attributes:
        frames_per_window: video frames per model window (the model's T; 3 in the reference).
        frame_stride_s: seconds between a window's frames (3 s in the reference).
    """

    frames_per_window: int = FRAMES_PER_WINDOW
    frame_stride_s: float = FRAME_STRIDE_SECONDS

    def __post_init__(self) -> None:
        check_settings(self, "visual")


ParamValue = float | int | bool | str


@dataclass(frozen=True)
class EffectSpec:
    """One effect of the post chain: a pedalboard effect by class name, or a plug-in file.

    Attributes:
        effect: pedalboard class name (e.g. ``"Compressor"``), or None for a plug-in.
        plugin: path of a VST3 / Audio Unit file loaded with ``pedalboard.load_plugin``, or None.
        params: ``(name, value)`` pairs set on the effect (its constructor keywords / plug-in
            parameters).
    """

    effect: str | None = None
    plugin: str | None = None
    params: tuple[tuple[str, ParamValue], ...] = ()

    @property
    def label(self) -> str:
        return self.effect or Path(self.plugin or "?").name


@dataclass(frozen=True)
class Preset:
    """A resolved stem preset (inheritance applied, every value validated).

    Attributes:
        name: the preset's name (its file name without ``.toml``).
        description: one line for listings.
        inherits: the parent preset's name (None for ``default``).
        source: the file it was read from (None when built in code).
        mask, smoothing, band, residual, visual: see the settings classes.
        post: the pedalboard post chain, in order.
        tuned: scores written by ``avpc presets tune`` (str / number values), not inherited.
    """

    name: str = "default"
    description: str = ""
    inherits: str | None = None
    source: Path | None = None
    mask: MaskSettings = field(default_factory=MaskSettings)
    smoothing: SmoothingSettings = field(default_factory=SmoothingSettings)
    band: BandSettings = field(default_factory=BandSettings)
    residual: ResidualSettings = field(default_factory=ResidualSettings)
    visual: VisualSettings = field(default_factory=VisualSettings)
    post: tuple[EffectSpec, ...] = ()
    tuned: tuple[tuple[str, ParamValue], ...] = ()


def reference_preset(threshold: float = 0.5) -> Preset:
    """The reference implementation's masks: binary at ``threshold``, nothing else applied
    (what ``avpc evaluate`` scores by default)."""
    if not 0.0 < threshold < 1.0:
        raise PresetError(f"threshold: expected a probability in (0, 1), got {threshold!r}")
    return Preset(name=f"binary@{threshold:g}", mask=MaskSettings("binary", threshold))


# ------------------------------------------------------------------------------- field checks


@dataclass(frozen=True)
class FieldRule:
    """The type and range one key accepts.

    Attributes:
        kind: ``"number"`` (int or float), ``"int"``, ``"choice"`` or ``"string"``.
        low, high: inclusive range for numbers; ``high_open`` excludes ``high``.
        choices: allowed strings for ``"choice"``.
    """

    kind: Literal["number", "int", "choice", "string"]
    low: float = -math.inf
    high: float = math.inf
    high_open: bool = False
    choices: tuple[str, ...] = ()

    def expected(self) -> str:
        if self.kind == "choice":
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.kind == "string":
            return "a string"
        noun = "an integer" if self.kind == "int" else "a number"
        close = ")" if self.high_open else "]"
        return f"{noun} in [{_fmt(self.low)}, {_fmt(self.high)}{close}"

    def check(self, value: Any, where: str) -> Any:
        """``value`` if it fits (ints widened to float for numbers); else PresetError."""
        ok: bool
        if self.kind == "choice":
            ok = isinstance(value, str) and value in self.choices
        elif self.kind == "string":
            ok = isinstance(value, str)
        else:
            is_int = isinstance(value, int) and not isinstance(value, bool)
            typed = is_int if self.kind == "int" else is_int or isinstance(value, float)
            ok = (
                typed
                and not math.isnan(value)
                and self.low <= value
                and (value < self.high if self.high_open else value <= self.high)
            )
            if ok and self.kind == "number":
                value = float(value)
        if not ok:
            raise PresetError(f"{where}: expected {self.expected()}, got {value!r}")
        return value


def _fmt(x: float) -> str:
    return "inf" if math.isinf(x) else f"{x:g}"


SECTION_RULES: dict[str, dict[str, FieldRule]] = {
    "mask": {
        "mode": FieldRule("choice", choices=MASK_MODES),
        "threshold": FieldRule("number", 0.0, 1.0, high_open=True),
        "cycles": FieldRule("int", 0, MAX_CYCLES),
    },
    "smoothing": {
        "time_ms": FieldRule("number", 0.0, 5000.0),
        "freq_hz": FieldRule("number", 0.0, 5000.0),
    },
    "band": {
        "low_hz": FieldRule("number", 0.0, MAX_HZ),
        "high_hz": FieldRule("number", 0.0, math.inf),
        "above_model": FieldRule("choice", choices=HIGH_BAND_RULES),
    },
    "residual": {"subtract": FieldRule("choice", choices=RESIDUAL_RULES)},
    "visual": {
        "frames_per_window": FieldRule("int", 1, 64),
        "frame_stride_s": FieldRule("number", 0.0, 60.0),
    },
}
"""Every settings table and the keys it takes."""

TOP_LEVEL_KEYS = ("description", "inherits", *SECTION_RULES, "post", "tuned")


def unknown_key_error(key: str, known: Any, where: str, what: str = "key") -> PresetError:
    """PresetError for an unknown ``key`` at ``where``, with a close match and the known ones."""
    known = list(known)
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return PresetError(f"{where}: unknown {what} {key!r}{hint} (known: {', '.join(known)})")


def check_table(table: Any, where: str) -> Mapping[str, Any]:
    """``table`` if it is a TOML table, else PresetError."""
    if not isinstance(table, Mapping):
        raise PresetError(f"{where}: expected a table, got {table!r}")
    return table


def check_sections(raw: Mapping[str, Any], where: str) -> dict[str, dict[str, Any]]:
    """Check the settings tables of one file; returns them with numbers widened to float."""
    checked: dict[str, dict[str, Any]] = {}
    for section, rules in SECTION_RULES.items():
        if section not in raw:
            continue
        table = check_table(raw[section], f"{where}: [{section}]")
        checked[section] = {}
        for key, value in table.items():
            if key not in rules:
                raise unknown_key_error(key, rules, f"{where}: [{section}]")
            checked[section][key] = rules[key].check(value, f"{where}: {section}.{key}")
    return checked


def build_preset(
    name: str,
    sections: Mapping[str, Mapping[str, Any]],
    post: tuple[EffectSpec, ...],
    where: str,
    **about: Any,
) -> Preset:
    """A :class:`Preset` from merged, checked tables; the settings check their cross-key rules.

    Raises:
        PresetError: binary masks without a threshold, or ``band.low_hz >= band.high_hz``
            (the message starts with ``where``).
    """
    try:
        return Preset(
            name=name,
            mask=MaskSettings(**sections.get("mask", {})),
            smoothing=SmoothingSettings(**sections.get("smoothing", {})),
            band=BandSettings(**sections.get("band", {})),
            residual=ResidualSettings(**sections.get("residual", {})),
            visual=VisualSettings(**sections.get("visual", {})),
            post=post,
            **about,
        )
    except PresetError as err:
        raise PresetError(f"{where}: {err}") from None


def check_settings(settings: Any, section: str) -> None:
    """Check a settings object's fields against the rules of its TOML table ``section`` (numbers
    widened to float), so a preset built or changed in code obeys the rules a file does.

    Raises:
        PresetError: a field out of its range or choices, named as ``section.key``.
    """
    for key, rule in SECTION_RULES[section].items():
        value = rule.check(getattr(settings, key), f"{section}.{key}")
        object.__setattr__(settings, key, value)
