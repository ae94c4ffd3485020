"""The instrument table of the synthetic corpus: the 11 MUSIC solo classes.

Each instrument has a General MIDI program (0-based, as sent in a MIDI program change), the
playable range of the real instrument in MIDI note numbers (sounding pitch, 60 = middle C), how
its notes behave (sustained, plucked or struck, which shapes articulation and phrasing), whether
it plays chords, and its tempo range in beats per minute.

Erhu has no General MIDI program. It is played with GM program 110 "Fiddle", the closest bowed
solo string in the GM set (folk fiddle, bright and nasal, with the same bowed envelope), pitched
within the erhu's D4-A6 range.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

NoteBehaviour = Literal["sustained", "plucked", "struck"]


@dataclass(frozen=True)
class Instrument:
    """One instrument class of the corpus.

    Attributes:
        name: class name, the MUSIC dataset's spelling with underscores (``"acoustic_guitar"``).
        gm_program: General MIDI program number, 0-based (0..127).
        low, high: lowest and highest sounding MIDI note the real instrument plays (inclusive).
        behaviour: ``"sustained"`` (bowed, blown, bellows: notes last as long as held),
            ``"plucked"`` or ``"struck"`` (notes decay on their own).
        chords: whether the instrument idiomatically plays several notes at once.
        tempo: ``(slowest, fastest)`` phrase tempo in beats per minute.
    """

    name: str
    gm_program: int
    low: int
    high: int
    behaviour: NoteBehaviour
    chords: bool = False
    tempo: tuple[float, float] = (66.0, 132.0)

    def __post_init__(self) -> None:
        if not 0 <= self.gm_program <= 127:
            raise ValueError(f"{self.name}: gm_program must be in 0..127, got {self.gm_program}")
        if not 0 <= self.low < self.high <= 127:
            raise ValueError(
                f"{self.name}: expected 0 <= low < high <= 127, got {self.low, self.high}"
            )


INSTRUMENTS: dict[str, Instrument] = {
    inst.name: inst
    for inst in (
        # Right-hand manual of a piano accordion, F3-A6; chords from the bass buttons are left out.
        Instrument("accordion", 21, 53, 93, "sustained", chords=True, tempo=(72, 144)),
        # Steel-string acoustic guitar, E2 to about B5 on the 19th fret.
        Instrument("acoustic_guitar", 25, 40, 83, "plucked", chords=True, tempo=(60, 140)),
        Instrument("cello", 42, 36, 81, "sustained", tempo=(50, 112)),
        # B-flat clarinet, sounding D3-B-flat 6.
        Instrument("clarinet", 71, 50, 94, "sustained", tempo=(60, 132)),
        # Erhu (see the module docstring): D4-A6.
        Instrument("erhu", 110, 62, 93, "sustained", tempo=(50, 108)),
        Instrument("flute", 73, 60, 96, "sustained", tempo=(66, 144)),
        # Alto saxophone (GM 65), sounding D-flat 3-A-flat 5.
        Instrument("saxophone", 65, 49, 80, "sustained", tempo=(66, 144)),
        # B-flat trumpet, sounding E3-D6 (the usual playing range).
        Instrument("trumpet", 56, 52, 86, "sustained", tempo=(72, 144)),
        # Tuba in F/C/B-flat, D1 to F4; the lowest octave is rare, phrases start around E1.
        Instrument("tuba", 58, 28, 65, "sustained", tempo=(50, 112)),
        Instrument("violin", 40, 55, 100, "sustained", tempo=(60, 144)),
        # Xylophone sounds an octave above written F3-C7: F4-C8, capped at C7 where GM samples end.
        Instrument("xylophone", 13, 65, 96, "struck", chords=False, tempo=(80, 160)),
    )
}
"""The 11 MUSIC solo classes, keyed by name, in alphabetical order."""

INSTRUMENT_NAMES: tuple[str, ...] = tuple(INSTRUMENTS)
"""Class names in alphabetical order; a class index is a position in this tuple."""


def get_instrument(name: str) -> Instrument:
    """The :class:`Instrument` called ``name``; raises ``KeyError`` listing the known names."""
    try:
        return INSTRUMENTS[name]
    except KeyError:
        raise KeyError(
            f"instrument: unknown name {name!r}, expected one of {', '.join(INSTRUMENT_NAMES)}"
        ) from None
