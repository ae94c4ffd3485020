"""Where a stem comes from, written into the stem file itself.

A stem cut from ``[start, end)`` of a recording belongs at ``start`` on that recording's
timeline. :class:`StemProvenance` records that (and what made the stem: model, box, preset);
:func:`embed_provenance` writes it into a finished file, :func:`read_time_reference` and
:func:`read_provenance` read it back.

* WAV: a Broadcast WAV ``bext`` chunk (EBU Tech 3285 v2: Description, Originator,
  OriginatorReference, OriginationDate / Time, TimeReference = the start in samples, Version 2,
  UMID, loudness fields "not computed", CodingHistory) and an ``iXML`` chunk with the same fields
  (``SPEED/TIMESTAMP_SAMPLES_SINCE_MIDNIGHT_*`` = the start, ``USER`` = the provenance lines),
  both placed before ``data``. The ``data`` chunk is copied byte for byte.
* FLAC: Vorbis comments (``TIME_REFERENCE`` as ffmpeg names the bext field, ``AVPC_*`` fields,
  ``TITLE`` = the stem, ``DESCRIPTION``, ``ENCODER``), with mutagen.
* AIFF: an ID3 chunk with the same fields as ``TXXX`` frames (``TIT2`` = the stem), with mutagen.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from xml.etree import ElementTree as ET

ORIGINATOR = "avpc-plugin"
TIME_REFERENCE_TAG = "TIME_REFERENCE"
"""The FLAC / AIFF tag holding the start in samples (the name ffmpeg gives bext's field)."""
BEXT_VERSION = 2
_LOUDNESS_UNSET = 0x7FFF
_BEXT_FIXED = 602
"""Bytes of a ``bext`` chunk before its CodingHistory."""
_MAX_RIFF = 0xFFFFFFFF


class ProvenanceWarning(UserWarning):
    """A stem written without (some of) its provenance, or whose provenance could not be read."""


@dataclass(frozen=True)
class StemProvenance:
    """Where one stem file comes from.

    Attributes:
        stem: the stem's name (``"violin"``, ``"residual"``).
        source: the file it was separated from ("" for an array).
        start_sample: first sample of the separated range in ``source`` (its position on the
            source's timeline), at ``sample_rate``.
        sample_rate: Hz (of the source and the stem).
        model: the model's registry name or checkpoint file name ("" if unknown).
        model_sha256: the first 16 hex digits of the checkpoint's sha256 ("" if unknown).
        box: the crop box ``(x, y, w, h)`` of the stem's visual query (None: whole frame).
        offset: the query's video offset in seconds.
        preset: the name of the stem's preset.
        version: the avpc-plugin version that wrote it.
    """

    stem: str
    source: str = ""
    start_sample: int = 0
    sample_rate: int = 0
    model: str = ""
    model_sha256: str = ""
    box: tuple[float, float, float, float] | None = None
    offset: float = 0.0
    preset: str = ""
    version: str = ""

    @property
    def start_seconds(self) -> float:
        """The start in seconds (0 when the rate is unknown)."""
        return self.start_sample / self.sample_rate if self.sample_rate else 0.0

    def fields(self) -> dict[str, str]:
        """The record as ``AVPC_*`` text fields (the tags of FLAC / AIFF, the iXML ``USER``)."""
        box = "" if self.box is None else ",".join(f"{v:.6g}" for v in self.box)
        return {
            "AVPC_STEM": self.stem,
            "AVPC_SOURCE": self.source,
            "AVPC_START_SAMPLE": str(self.start_sample),
            "AVPC_START_SECONDS": f"{self.start_seconds:.9g}",
            "AVPC_SAMPLE_RATE": str(self.sample_rate),
            "AVPC_MODEL": self.model,
            "AVPC_MODEL_SHA256": self.model_sha256,
            "AVPC_BOX": box,
            "AVPC_OFFSET": f"{self.offset:.9g}",
            "AVPC_PRESET": self.preset,
            "AVPC_VERSION": self.version,
        }

    def description(self) -> str:
        """One line for ``bext`` Description / FLAC DESCRIPTION."""
        source = Path(self.source).name if self.source else "an array"
        model = f" by {self.model}" if self.model else ""
        return f"avpc stem {self.stem} of {source} from {self.start_seconds:.6g} s{model}"


def embed_provenance(path: str | os.PathLike[str], record: StemProvenance) -> None:
    """Write ``record`` into the finished audio file ``path`` (in place; the samples unchanged).

    The file's extension picks how: ``.wav`` bext + iXML chunks, ``.flac`` Vorbis comments,
    ``.aif`` / ``.aiff`` an ID3 chunk. Other formats are left alone.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".wav":
        _embed_wav(path, record)
    elif suffix == ".flac":
        _embed_flac(path, record)
    elif suffix in (".aif", ".aiff"):
        _embed_aiff(path, record)


# --------------------------------------------------------------------------------------------- WAV


def _fixed(text: str, size: int) -> bytes:
    """ASCII text in a NUL-padded field of ``size`` bytes (non-ASCII as ``?``, cut to fit)."""
    return text.encode("ascii", "replace")[:size].ljust(size, b"\0")


def _origination() -> tuple[str, str]:
    """Date ``yyyy-mm-dd`` and time ``hh-mm-ss`` of the writing (``SOURCE_DATE_EPOCH`` if set,
    for reproducible files), UTC."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    stamp = time.gmtime(int(epoch)) if epoch and epoch.isdigit() else time.gmtime()
    return time.strftime("%Y-%m-%d", stamp), time.strftime("%H-%M-%S", stamp)


def bext_chunk(record: StemProvenance, channels: int, bits: int) -> bytes:
    """The ``bext`` chunk (header included, padded to an even length) for ``record``."""
    date, clock = _origination()
    mode = {1: "mono", 2: "stereo"}.get(channels)
    history = (
        f"A=PCM,F={record.sample_rate},W={bits}"
        + (f",M={mode}" if mode else "")
        + f",T={ORIGINATOR} {record.version}\r\n"
    ).encode("ascii", "replace")
    reference = f"{record.model_sha256 or 'avpc'}-{record.stem}"
    body = b"".join(
        [
            _fixed(record.description(), 256),
            _fixed(ORIGINATOR, 32),
            _fixed(reference, 32),
            _fixed(date, 10),
            _fixed(clock, 8),
            struct.pack("<II", record.start_sample & 0xFFFFFFFF, record.start_sample >> 32),
            struct.pack("<H", BEXT_VERSION),
            bytes(64),  # UMID: none
            struct.pack("<5h", *[_LOUDNESS_UNSET] * 5),  # loudness: not computed
            bytes(180),  # reserved
            history,
        ]
    )
    assert len(body) == _BEXT_FIXED + len(history)
    return _chunk(b"bext", body)


def ixml_chunk(record: StemProvenance) -> bytes:
    """An ``iXML`` chunk with the start (``SPEED`` timestamp) and the provenance lines."""
    root = ET.Element("BWFXML")
    ET.SubElement(root, "IXML_VERSION").text = "2.10"
    ET.SubElement(root, "PROJECT").text = Path(record.source).stem if record.source else ""
    ET.SubElement(root, "NOTE").text = record.description()
    speed = ET.SubElement(root, "SPEED")
    ET.SubElement(speed, "TIMESTAMP_SAMPLE_RATE").text = str(record.sample_rate)
    ET.SubElement(speed, "TIMESTAMP_SAMPLES_SINCE_MIDNIGHT_HI").text = str(
        record.start_sample >> 32
    )
    ET.SubElement(speed, "TIMESTAMP_SAMPLES_SINCE_MIDNIGHT_LO").text = str(
        record.start_sample & 0xFFFFFFFF
    )
    track_list = ET.SubElement(root, "TRACK_LIST")
    ET.SubElement(track_list, "TRACK_COUNT").text = "1"
    ET.SubElement(root, "USER").text = "\n".join(f"{k}={v}" for k, v in record.fields().items())
    text = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")
    return _chunk(b"iXML", text)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("<I", len(body)) + body + (b"\0" if len(body) & 1 else b"")


def _wav_layout(handle: BinaryIO) -> tuple[bytes, list[tuple[bytes, int, int]]]:
    """The RIFF form (``RIFF`` / ``RF64``) and its chunks ``(id, offset of header, size)``, up to
    and including ``data``."""
    head = handle.read(12)
    if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64") or head[8:] != b"WAVE":
        raise ValueError("not a RIFF WAVE file")
    chunks: list[tuple[bytes, int, int]] = []
    offset = 12
    while True:
        handle.seek(offset)
        header = handle.read(8)
        if len(header) < 8:
            return head[:4], chunks
        kind, size = header[:4], struct.unpack("<I", header[4:])[0]
        chunks.append((kind, offset, size))
        if kind == b"data":  # the samples run to the end (RF64: its size is in ds64)
            return head[:4], chunks
        offset += 8 + size + (size & 1)


def _embed_wav(path: Path, record: StemProvenance) -> None:
    with path.open("rb") as handle:
        form, chunks = _wav_layout(handle)
        kinds = [c[0] for c in chunks]
        if b"data" not in kinds or b"fmt " not in kinds:
            raise ValueError(f"{path}: no fmt / data chunk")
        fmt = chunks[kinds.index(b"fmt ")]
        handle.seek(fmt[1] + 8)
        fmt_body = handle.read(fmt[2])
    channels, bits = struct.unpack("<H", fmt_body[2:4])[0], struct.unpack("<H", fmt_body[14:16])[0]
    extra = bext_chunk(record, channels, bits) + ixml_chunk(record)
    data_at = chunks[kinds.index(b"data")][1]
    size = path.stat().st_size
    if form == b"RIFF" and size - 8 + len(extra) > _MAX_RIFF:
        warnings.warn(
            f"{path}: too large for a RIFF header with a bext chunk; written without provenance",
            ProvenanceWarning,
            stacklevel=3,
        )
        return
    rewritten = path.with_name(path.name + ".bext")
    try:
        with path.open("rb") as src, rewritten.open("wb") as dst:
            head = bytearray(src.read(data_at))
            if form == b"RIFF":
                struct.pack_into("<I", head, 4, size - 8 + len(extra))
            else:  # RF64: the real RIFF size is the ds64 chunk's first field
                ds64 = next(c for c in chunks if c[0] == b"ds64")
                riff_size = struct.unpack_from("<Q", head, ds64[1] + 8)[0]
                struct.pack_into("<Q", head, ds64[1] + 8, riff_size + len(extra))
            dst.write(head)
            dst.write(extra)
            shutil.copyfileobj(src, dst, 1 << 20)  # the data chunk, byte for byte
        os.replace(rewritten, path)
    except BaseException:
        with contextlib.suppress(OSError):
            rewritten.unlink(missing_ok=True)
        raise


def read_bext(path: str | os.PathLike[str]) -> dict[str, object] | None:
    """The ``bext`` fields of a WAV file (``time_reference`` in samples, ``description``,
    ``originator``, ``originator_reference``, ``coding_history``, ``version``); None if it has
    none."""
    with Path(path).open("rb") as handle:
        try:
            _, chunks = _wav_layout(handle)
        except ValueError:
            return None
        found = [c for c in chunks if c[0] == b"bext"]
        if not found or found[0][2] < _BEXT_FIXED:
            return None
        handle.seek(found[0][1] + 8)
        body = handle.read(found[0][2])

    def text(lo: int, hi: int) -> str:
        return body[lo:hi].split(b"\0", 1)[0].decode("ascii", "replace")

    low, high = struct.unpack_from("<II", body, 338)
    return {
        "description": text(0, 256),
        "originator": text(256, 288),
        "originator_reference": text(288, 320),
        "time_reference": low | (high << 32),
        "version": struct.unpack_from("<H", body, 346)[0],
        "coding_history": body[_BEXT_FIXED:].split(b"\0", 1)[0].decode("ascii", "replace"),
    }


def _read_ixml_user(path: Path) -> dict[str, str]:
    with path.open("rb") as handle:
        try:
            _, chunks = _wav_layout(handle)
        except ValueError:
            return {}
        found = [c for c in chunks if c[0] == b"iXML"]
        if not found:
            return {}
        handle.seek(found[0][1] + 8)
        body = handle.read(found[0][2])
    try:
        user = ET.fromstring(body.rstrip(b"\0")).findtext("USER") or ""
    except ET.ParseError:
        return {}
    return dict(line.split("=", 1) for line in user.splitlines() if "=" in line)


# ------------------------------------------------------------------------------------ FLAC / AIFF


def _tag_fields(record: StemProvenance) -> dict[str, str]:
    return {TIME_REFERENCE_TAG: str(record.start_sample), **record.fields()}


def _embed_flac(path: Path, record: StemProvenance) -> None:
    from mutagen.flac import FLAC, VCFLACDict  # deferred: mutagen only to tag a FLAC stem

    audio = FLAC(str(path))
    if audio.tags is None:
        audio.add_tags()
    tags = audio.tags
    assert isinstance(tags, VCFLACDict)
    tags["TITLE"] = record.stem
    tags["DESCRIPTION"] = record.description()
    tags["ENCODER"] = f"{ORIGINATOR} {record.version}"
    for key, value in _tag_fields(record).items():
        tags[key] = value
    audio.save()


def _embed_aiff(path: Path, record: StemProvenance) -> None:
    from mutagen.aiff import AIFF  # deferred: mutagen only to tag an AIFF stem
    from mutagen.id3 import COMM, TIT2, TXXX  # deferred: as above

    audio = AIFF(str(path))
    if audio.tags is None:
        audio.add_tags()
    tags = audio.tags
    assert tags is not None
    tags.add(TIT2(encoding=3, text=[record.stem]))
    tags.add(COMM(encoding=3, lang="eng", desc="", text=[record.description()]))
    for key, value in _tag_fields(record).items():
        tags.add(TXXX(encoding=3, desc=key, text=[value]))
    audio.save()


def _read_tags(path: Path) -> dict[str, str]:
    suffix = path.suffix.lower()
    if suffix == ".flac":
        from mutagen.flac import FLAC, VCFLACDict  # deferred: mutagen only to read FLAC tags

        tags = FLAC(str(path)).tags
        return (
            {}
            if not isinstance(tags, VCFLACDict)
            else {k.upper(): v[0] for k, v in tags.as_dict().items() if v}
        )
    if suffix in (".aif", ".aiff"):
        from mutagen.aiff import AIFF  # deferred: mutagen only to read an AIFF stem's tags

        id3 = AIFF(str(path)).tags
        if id3 is None:
            return {}
        return {
            frame.desc.upper(): str(frame.text[0]) for frame in id3.getall("TXXX") if frame.text
        }
    return {}


# ------------------------------------------------------------------------------------------ reading


def read_provenance(path: str | os.PathLike[str]) -> dict[str, str]:
    """The provenance fields stored in a stem file (``TIME_REFERENCE`` and ``AVPC_*``); empty
    when it holds none (or cannot be read: a :class:`ProvenanceWarning` says why)."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".wav":
            fields = _read_ixml_user(path)
            bext = read_bext(path)
            if bext is not None:
                fields[TIME_REFERENCE_TAG] = str(bext["time_reference"])
            return fields
        return _read_tags(path)
    except Exception as err:  # a damaged header or tag block: no provenance, said once
        warnings.warn(f"{path}: cannot read its provenance ({err})", ProvenanceWarning, 2)
        return {}


def read_time_reference(path: str | os.PathLike[str]) -> int | None:
    """The start of a stem on its source's timeline in samples (at the file's own rate): the
    bext TimeReference of a WAV, the ``TIME_REFERENCE`` tag of a FLAC / AIFF; None if absent."""
    value = read_provenance(path).get(TIME_REFERENCE_TAG)
    try:
        return None if value is None else int(value)
    except ValueError:
        return None


def provenance_from_fields(fields: Mapping[str, str]) -> StemProvenance | None:
    """A :class:`StemProvenance` from the fields :func:`read_provenance` returns (None if they
    lack the stem's name)."""
    if "AVPC_STEM" not in fields:
        return None
    box_text = fields.get("AVPC_BOX", "")
    box = tuple(float(v) for v in box_text.split(",")) if box_text else None
    return StemProvenance(
        stem=fields["AVPC_STEM"],
        source=fields.get("AVPC_SOURCE", ""),
        start_sample=int(fields.get("AVPC_START_SAMPLE", "0") or 0),
        sample_rate=int(fields.get("AVPC_SAMPLE_RATE", "0") or 0),
        model=fields.get("AVPC_MODEL", ""),
        model_sha256=fields.get("AVPC_MODEL_SHA256", ""),
        box=box if box is None or len(box) == 4 else None,
        offset=float(fields.get("AVPC_OFFSET", "0") or 0),
        preset=fields.get("AVPC_PRESET", ""),
        version=fields.get("AVPC_VERSION", ""),
    )
