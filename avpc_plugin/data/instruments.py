"""The instrument table of the synthetic corpus: the 11 MUSIC solo classes.

Each instrument has a General MIDI program (0-based, as sent in a MIDI program change), the
playable range of the real instrument in MIDI note numbers (sounding pitch, 60 = middle C), how
its notes behave (sustained, plucked or struck, which shapes articulation and phrasing), whether
it plays chords, and its tempo range in beats per minute.

Erhu has no General MIDI program. It is played with GM program 110 "Fiddle", the closest bowed
solo string in the GM set (folk fiddle, bright and nasal, with the same bowed envelope), pitched
within the erhu's D4-A6 range.

Some instruments also name kin: close relatives (same family, same way of making the sound)
whose GM programs a corpus may play instead, with this instrument's phrasing, for timbre variety
(``SynthConfig.kin_share``): a tango accordion for the accordion, a nylon-string guitar for the
steel-string one, a contrabass for the cello, a piccolo for the flute, soprano and tenor
saxophones for the alto, a muted trumpet, a viola for the violin and a marimba for the
xylophone. A relative plays only phrases inside its own range, the notes the training
soundfonts sound for it (FluidR3's contrabass stops at A3, its viola and MuseScore's at C7).
Clarinet, erhu and tuba have no relative in the GM set that would not sound like another class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

NoteBehaviour = Literal["sustained", "plucked", "struck"]


@dataclass(frozen=True)
class Relative:
    """A relative that may stand in for an instrument's sound: its 0-based GM program (bank 0)
    and the sounding MIDI notes it plays, ``low..high`` inclusive."""

    program: int
    low: int = 0
    high: int = 127

    def __post_init__(self) -> None:
        if not 0 <= self.program <= 127:
            raise ValueError(f"relative: GM program must be in 0..127, got {self.program}")
        if not 0 <= self.low <= self.high <= 127:
            raise ValueError(
                f"relative {self.program}: expected 0 <= low <= high <= 127, got "
                f"{self.low, self.high}"
            )

    def plays(self, low: int, high: int) -> bool:
        """Whether a phrase spanning MIDI notes ``low..high`` lies inside this relative's range."""
        return self.low <= low and high <= self.high


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
        kin: relatives that may stand in for this instrument's sound (see the module
            docstring); none by default.
    """

    name: str
    gm_program: int
    low: int
    high: int
    behaviour: NoteBehaviour
    chords: bool = False
    tempo: tuple[float, float] = (66.0, 132.0)
    kin: tuple[Relative, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.gm_program <= 127:
            raise ValueError(f"{self.name}: gm_program must be in 0..127, got {self.gm_program}")
        if self.gm_program in {relative.program for relative in self.kin}:
            raise ValueError(f"{self.name}: kin must not repeat gm_program {self.gm_program}")
        if not 0 <= self.low < self.high <= 127:
            raise ValueError(
                f"{self.name}: expected 0 <= low < high <= 127, got {self.low, self.high}"
            )


INSTRUMENTS: dict[str, Instrument] = {
    inst.name: inst
    for inst in (
        # Right-hand manual of a piano accordion, F3-A6; chords from the bass buttons are left out.
        Instrument(
            "accordion", 21, 53, 93, "sustained", chords=True, tempo=(72, 144), kin=(Relative(23),)
        ),
        # Steel-string acoustic guitar, E2 to about B5 on the 19th fret.
        Instrument(
            "acoustic_guitar",
            25,
            40,
            83,
            "plucked",
            chords=True,
            tempo=(60, 140),
            kin=(Relative(24),),
        ),
        Instrument("cello", 42, 36, 81, "sustained", tempo=(50, 112), kin=(Relative(43, 28, 57),)),
        # B-flat clarinet, sounding D3-B-flat 6.
        Instrument("clarinet", 71, 50, 94, "sustained", tempo=(60, 132)),
        # Erhu (see the module docstring): D4-A6.
        Instrument("erhu", 110, 62, 93, "sustained", tempo=(50, 108)),
        Instrument("flute", 73, 60, 96, "sustained", tempo=(66, 144), kin=(Relative(72),)),
        # Alto saxophone (GM 65), sounding D-flat 3-A-flat 5.
        Instrument(
            "saxophone", 65, 49, 80, "sustained", tempo=(66, 144), kin=(Relative(64), Relative(66))
        ),
        # B-flat trumpet, sounding E3-D6 (the usual playing range).
        Instrument("trumpet", 56, 52, 86, "sustained", tempo=(72, 144), kin=(Relative(59),)),
        # Tuba in F/C/B-flat, D1 to F4; the lowest octave is rare, phrases start around E1.
        Instrument("tuba", 58, 28, 65, "sustained", tempo=(50, 112)),
        Instrument(
            "violin", 40, 55, 100, "sustained", tempo=(60, 144), kin=(Relative(41, 48, 96),)
        ),
        # Xylophone sounds an octave above written F3-C7: F4-C8, capped at C7 where GM samples end.
        Instrument(
            "xylophone", 13, 65, 96, "struck", chords=False, tempo=(80, 160), kin=(Relative(12),)
        ),
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
