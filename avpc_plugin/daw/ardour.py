"""Add stems as new audio tracks to an existing Ardour 7/8 session (``.ardour`` XML), offline.

Ardour has no headless import call, so this edits the session file the way Ardour's own importer
would leave it (checked against sessions written by Ardour 7.3 itself):

* every channel of a stem is copied into ``interchange/<session>/audiofiles`` as its own mono
  32-bit float wav (``bass.wav``; ``bass%L.wav`` / ``bass%R.wav`` for stereo; ``bass%a.wav``,
  ``bass%b.wav``... beyond), resampled to the session rate where the stem's rate differs, and
  described by one ``<Source>`` per channel;
* one whole-file ``<Region>`` per stem under ``<Regions>``, and one region on a new ``<Playlist>``
  at the stem's position, with region fades off (stems must add up to the mix, sample for
  sample);
* one new audio ``<Route>`` per stem (inputs = the stem's channels, outputs connected to the master
  bus inputs), with the processors, controls and automation lists Ardour writes for a new track;
  the elements come from a packaged template (:data:`TRACK_TEMPLATE`, an Ardour 7.3 save's
  layout) filled with ids, names and positions, so only the per-stem parts are built here;
* ids are taken above both the session's ``id-counter`` and every id in the file, and the counter
  is moved past them; the session range is created or widened to cover the stems.

Times in Ardour 7 sessions are ``timepos_t`` strings: ``a<superclock>`` for audio time, with
``superclocks-per-second`` (282240000 by default) read from the session's tempo map; a region's
``length`` is a ``timecnt_t``, ``a<distance>@a<position>``, which is where its position lives.
Ardour 6 sessions (version < 7000) count in samples and are refused with a clear error.

The session must be closed in Ardour while it is edited (Ardour would overwrite the file on its
next save). The old file is kept as ``<name>.ardour.bak`` (Ardour's own backup name) and the new
one replaces it atomically (temporary file + rename). Audio files are never overwritten: a stem
whose file name is taken gets a ``-1``, ``-2``... suffix, as Ardour does.
"""

from __future__ import annotations

import copy
import functools
import os
import re
import shutil
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template
from typing import Literal

from avpc_plugin.atomic import write_text_atomically
from avpc_plugin.audio.io import AtomicAudioWriter, AudioReader, resample_ratio, resample_span
from avpc_plugin.daw.stems import StemPlacement

MIN_SESSION_VERSION = 7000
"""Oldest session format written with superclock time (Ardour 7.0)."""
DEFAULT_SUPERCLOCK_RATE = 282240000
"""Ardour 7's superclock ticks per second, used when the tempo map does not say."""
_COPY_BLOCK = 1 << 18  # samples per channel copied at a time
_STEREO_TAGS = ("%L", "%R")
TRACK_TEMPLATE = "templates/ardour_track.xml"
"""What a new track adds to a session, laid out as in a ``.ardour`` file (package data of
:mod:`avpc_plugin.daw`; its header comment says which Ardour save it follows and what is filled)."""


Existing = Literal["refuse", "replace", "add"]
"""What :func:`add_stems_to_session` does with a stem whose track name the session already has."""


class ArdourSessionError(Exception):
    """A session file that cannot be read or edited; the message names the file and the reason."""


@dataclass(frozen=True)
class AddedTrack:
    """What :func:`add_stems_to_session` added for one stem.

    Attributes:
        name: the new track's name (the stem name, made unique in the session).
        position: region start on the timeline, in session samples.
        length: region length, in session samples.
        files: the per-channel audio files copied into the session.
        replaced: the track was there already and its region was replaced (``existing="replace"``).
    """

    name: str
    position: int
    length: int
    files: tuple[Path, ...]
    replaced: bool = False


def find_session_file(session: str | os.PathLike[str]) -> Path:
    """The ``.ardour`` file of ``session``: the file itself, or a session folder holding one.

    A folder must hold ``<folder name>.ardour`` or exactly one ``.ardour`` file.

    Raises:
        ArdourSessionError: no such file, or a folder with none or several snapshots.
    """
    path = Path(session)
    if path.is_file():
        if path.suffix != ".ardour":
            raise ArdourSessionError(f"--session {path}: expected an .ardour file")
        return path
    if path.is_dir():
        own = path / f"{path.name}.ardour"
        if own.is_file():
            return own
        found = sorted(path.glob("*.ardour"))
        if len(found) == 1:
            return found[0]
        if not found:
            raise ArdourSessionError(f"--session {path}: the folder holds no .ardour file")
        raise ArdourSessionError(
            f"--session {path}: several snapshots ({', '.join(p.name for p in found)}); "
            "name the .ardour file"
        )
    raise ArdourSessionError(f"--session {path}: no such session file or folder")


def add_stems_to_session(
    session: str | os.PathLike[str],
    placements: Sequence[StemPlacement],
    existing: Existing = "refuse",
) -> list[AddedTrack]:
    """Add every stem as a new track to a closed Ardour 7/8 session.

    Args:
        session: the ``.ardour`` file or the session folder.
        placements: the stems, in track order; positions are converted to the session's rate.
        existing: a stem whose track the session has already (an earlier export of the same
            stems): ``"refuse"`` (an error naming the tracks, before anything is copied),
            ``"replace"`` (copy the stem again and make it the track's only region; the track
            keeps its fader, plug-ins and place, the old copies stay in ``audiofiles`` until
            Ardour's Session > Clean-up), or ``"add"`` (a second track, ``"violin 2"``).

    Returns:
        One :class:`AddedTrack` per stem, in order.

    Raises:
        ArdourSessionError: the session is missing, malformed, or older than Ardour 7; it has
            tracks of these stems already and ``existing`` is ``"refuse"``; a track to replace
            has another channel count than its stem.
        AudioFileError: a stem cannot be read, or a copy cannot be written (no copied file is left
            behind and the session file is untouched).
    """
    if not placements:
        raise ValueError("placements: expected at least one stem")
    session_file = find_session_file(session)
    root = _parse(session_file)
    editor = _SessionEditor(session_file, root)
    taken = [p.name for p in placements if _track_name(p.name) in editor.route_names]
    if taken and existing == "refuse":
        raise ArdourSessionError(
            f"{session_file}: already has track(s) {', '.join(taken)} (an earlier export of these "
            "stems?); pass --replace (existing='replace') to put these stems in those tracks, or "
            "delete or rename the tracks in Ardour first"
        )
    copied: list[Path] = []
    try:
        added = [
            editor.add_stem(placement, copied, replace=existing == "replace")
            for placement in placements
        ]
        editor.finish()
        _write_atomically(root, session_file)
    except BaseException:
        for file in copied:
            file.unlink(missing_ok=True)
        raise
    return added


# ------------------------------------------------------------------------------------ internals


def _parse(session_file: Path) -> ET.Element:
    try:
        tree = ET.parse(session_file)
    except ET.ParseError as err:
        raise ArdourSessionError(f"{session_file}: not a readable session file ({err})") from None
    root = tree.getroot()
    if root is None or root.tag != "Session":
        raise ArdourSessionError(f"{session_file}: the root element is not <Session>")
    version = root.get("version", "")
    if not version.isdigit() or int(version) < MIN_SESSION_VERSION:
        raise ArdourSessionError(
            f"{session_file}: session format {version or '?'} is older than Ardour 7 "
            f"({MIN_SESSION_VERSION}); open and save it in Ardour 7 or later first"
        )
    return root


def _child(parent: ET.Element, tag: str) -> ET.Element:
    """``parent``'s ``<tag>``, created (at the end) where the session has none."""
    found = parent.find(tag)
    if found is None:
        found = ET.SubElement(parent, tag)
    return found


@functools.cache
def _track_template() -> ET.Element:
    """The parsed :data:`TRACK_TEMPLATE`, layout whitespace dropped (the writer indents)."""
    root = ET.fromstring(resources.files("avpc_plugin.daw").joinpath(TRACK_TEMPLATE).read_bytes())
    for element in root.iter():
        if element.text is not None and not element.text.strip():
            element.text = None
        element.tail = None
    return root


def _prototype(path: str) -> ET.Element:
    """A fresh copy of the template element at ``path`` (e.g. ``"Routes/Route"``)."""
    found = _track_template().find(path)
    assert found is not None, f"{TRACK_TEMPLATE}: no {path}"
    return copy.deepcopy(found)


def _legal_file_name(name: str) -> str:
    """``name`` with only characters safe in file names (as Ardour's legalize_for_path)."""
    legal = re.sub(r"[^A-Za-z0-9 _.+-]", "_", name).strip(" .")
    return legal or "stem"


def _track_name(name: str) -> str:
    """``name`` as a track (and port) name: Ardour takes UTF-8 names ("Violoncelle é", "二胡"),
    so only what breaks a port name (``:``; control characters) is replaced."""
    legal = re.sub(r"[:\x00-\x1f\x7f]", "_", name).strip()
    return legal or "stem"


def _channel_tags(channels: int) -> list[str]:
    """Ardour's per-channel file suffixes: none for mono, %L/%R for stereo, %a, %b... beyond."""
    if channels == 1:
        return [""]
    if channels == 2:
        return list(_STEREO_TAGS)
    return [f"%{chr(ord('a') + c)}" for c in range(channels)]


class _IdAllocator:
    """Hands out Ardour object ids above every id already in the session."""

    def __init__(self, root: ET.Element) -> None:
        counter = root.get("id-counter", "0")
        used = [
            int(v) for el in root.iter() for k, v in el.attrib.items() if k == "id" and v.isdigit()
        ]
        self._next = max([int(counter) if counter.isdigit() else 0, *(u + 1 for u in used)])

    def __call__(self) -> str:
        value = self._next
        self._next += 1
        return str(value)

    @property
    def counter(self) -> int:
        """The next free id (what ``id-counter`` must hold)."""
        return self._next


class _SessionEditor:
    """Adds tracks to one parsed session tree; :meth:`finish` updates counters and the range."""

    def __init__(self, session_file: Path, root: ET.Element) -> None:
        self.file = session_file
        self.root = root
        rate = root.get("sample-rate", "")
        if not rate.isdigit() or int(rate) <= 0:
            raise ArdourSessionError(
                f"{session_file}: <Session sample-rate> is missing or not a rate"
            )
        self.rate = int(rate)
        tempo_map = root.find("TempoMap")
        ticks = tempo_map.get("superclocks-per-second") if tempo_map is not None else None
        self.superclock_rate = int(ticks) if ticks and ticks.isdigit() else DEFAULT_SUPERCLOCK_RATE
        self.ids = _IdAllocator(root)
        self.audio_dir = _interchange_folder(session_file, root) / "audiofiles"
        self.sources = _child(root, "Sources")
        self.regions = _child(root, "Regions")
        self.playlists = _child(root, "Playlists")
        self.routes = _child(root, "Routes")
        self.master_inputs = self._master_input_ports()
        self.route_names = {r.get("name", "") for r in self.routes.iter("Route")}
        self.playlist_names = {
            p.get("name", "") for p in root.iter("Playlist") if p.get("name") is not None
        }
        orders = [
            int(p.get("order", "0"))
            for p in self.routes.iter("PresentationInfo")
            if p.get("order", "").isdigit()
        ]
        self.next_order = max(orders, default=0) + 1
        self.range_start: int | None = None
        self.range_end: int | None = None

    # -------------------------------------------------------------------------------- helpers

    def _master_input_ports(self) -> list[str]:
        for route in self.routes.iter("Route"):
            info = route.find("PresentationInfo")
            if info is not None and "MasterOut" in info.get("flags", ""):
                for io in route.iter("IO"):
                    if io.get("direction") == "Input":
                        return [p.get("name", "") for p in io.iter("Port")]
        return []

    def timepos(self, samples: int) -> str:
        """Audio-time ``timepos_t`` string for a sample position at the session rate."""
        ticks, rest = divmod(samples * self.superclock_rate, self.rate)
        return f"a{ticks + (2 * rest >= self.rate)}"

    def _unique(self, wanted: str, taken: set[str]) -> str:
        name, n = wanted, 1
        while name in taken:
            n += 1
            name = f"{wanted} {n}"
        taken.add(name)
        return name

    def _free_file_base(self, base: str, tags: list[str]) -> str:
        candidate, n = base, 0
        while any((self.audio_dir / f"{candidate}{tag}.wav").exists() for tag in tags):
            n += 1
            candidate = f"{base}-{n}"
        return candidate

    # -------------------------------------------------------------------------------- copying

    def _copy_channels(
        self, placement: StemPlacement, copied: list[Path]
    ) -> tuple[list[Path], int]:
        """Split the stem into mono float wavs at the session rate; returns them and the length."""
        tags = _channel_tags(placement.channels)
        base = self._free_file_base(_legal_file_name(placement.path.stem), tags)
        paths = [self.audio_dir / f"{base}{tag}.wav" for tag in tags]
        up, down = resample_ratio(placement.sample_rate, self.rate)
        length = -(-placement.frames * up // down)
        writers = [AtomicAudioWriter(p, self.rate, 1, bit_depth="32f") for p in paths]
        try:
            with AudioReader(placement.path) as reader:
                for start in range(0, length, _COPY_BLOCK):
                    block = resample_span(
                        reader.read,
                        placement.sample_rate,
                        self.rate,
                        start,
                        min(start + _COPY_BLOCK, length),
                        placement.frames,
                    )
                    for channel, writer in enumerate(writers):
                        writer.write(block[channel : channel + 1])
            for writer in writers:
                copied.append(writer.commit())
        except BaseException:
            for writer in writers:
                writer.abort()
            raise
        return paths, length

    # ------------------------------------------------------------------------------- elements

    def _existing_track(self, name: str, channels: int) -> tuple[ET.Element, ET.Element] | None:
        """The track called ``name`` and its playlist, to replace; None if there is none."""
        for route in self.routes.iter("Route"):
            if route.get("name") != name or route.get("audio-playlist") is None:
                continue
            playlist = next(
                (
                    p
                    for p in self.root.iter("Playlist")
                    if p.get("id") == route.get("audio-playlist")
                ),
                None,
            )
            inputs = next((io for io in route.iter("IO") if io.get("direction") == "Input"), None)
            ports = len(inputs.findall("Port")) if inputs is not None else 0
            if playlist is None:
                raise ArdourSessionError(f"{self.file}: track {name!r} has no playlist to replace")
            if ports != channels:
                raise ArdourSessionError(
                    f"{self.file}: track {name!r} has {ports} input(s), the stem {channels} "
                    "channel(s): delete the track in Ardour, or export the stem under a new name"
                )
            return route, playlist
        return None

    def add_stem(
        self, placement: StemPlacement, copied: list[Path], replace: bool = False
    ) -> AddedTrack:
        """Copy one stem into the session and add its sources, regions, playlist and track (or,
        with ``replace``, make its region the only one of the track of the same name)."""
        wanted = _track_name(placement.name)
        target = self._existing_track(wanted, placement.channels) if replace else None
        paths, length = self._copy_channels(placement, copied)
        position = round(placement.position * self.rate / placement.sample_rate)
        channels = len(paths)
        if target is not None:
            track_name, playlist_name = wanted, target[1].get("name", wanted)
        else:
            track_name = self._unique(wanted, self.route_names)
            playlist_name = self._unique(track_name, self.playlist_names)

        source_ids = []
        for path in paths:
            source = self._fill(
                _prototype("Sources/Source"), file=path.name, position=self.timepos(position)
            )
            self.sources.append(source)
            source_ids.append(source.get("id", ""))
        region_name = paths[0].stem.split("%")[0]
        whole = self._region(_prototype("Regions/Region"), region_name, source_ids, 0, length)
        self.regions.append(whole)

        if target is not None:
            old = target[1]
            for previous in old.findall("Region"):
                old.remove(previous)
            fresh = _prototype("Playlists/Playlist/Region")
            self._region(fresh, f"{region_name}.1", source_ids, position, length)
            old.append(fresh)
        else:
            route_id = self.ids()
            playlist_id = self.ids()
            ids = {"route_id": route_id, "playlist_id": playlist_id}
            playlist = _prototype("Playlists/Playlist")
            region = playlist.find("Region")
            assert region is not None, f"{TRACK_TEMPLATE}: <Playlist> without <Region>"
            self._region(region, f"{region_name}.1", source_ids, position, length)
            self.playlists.append(self._fill(playlist, **ids, playlist_name=playlist_name))
            self.routes.append(self._route(ids, track_name, channels))

        end = position + length
        self.range_start = position if self.range_start is None else min(self.range_start, position)
        self.range_end = end if self.range_end is None else max(self.range_end, end)
        return AddedTrack(track_name, position, length, tuple(paths), target is not None)

    def _fill(self, element: ET.Element, **fields: str) -> ET.Element:
        """``element`` with every ``$id`` attribute (in document order) given a new id and the
        other ``$field`` placeholders filled from ``fields``; a missing field is an error."""
        for el in element.iter():
            for key, value in list(el.attrib.items()):
                if value == "$id":
                    el.set(key, self.ids())
                elif "$" in value:
                    el.set(key, Template(value).substitute(fields))
        return element

    def _region(
        self, region: ET.Element, name: str, source_ids: list[str], position: int, length: int
    ) -> ET.Element:
        """Fill a template ``<Region>`` and append its per-channel source attributes."""
        timecnt = f"{self.timepos(length)}@{self.timepos(position)}"
        self._fill(region, region=name, length=timecnt)
        for prefix in ("source", "master-source"):
            for channel, source_id in enumerate(source_ids):
                region.set(f"{prefix}-{channel}", source_id)
        region.set("channels", str(len(source_ids)))
        return region

    def _ports(self, io: ET.Element, name: str, count: int, targets: list[str]) -> None:
        """Replace the template ``<Port>`` of ``io`` by ``count`` numbered ports, port ``n``
        connected to ``targets[n]`` where there is one."""
        prototype = io.find("Port")
        assert prototype is not None, f"{TRACK_TEMPLATE}: <IO> without <Port>"
        io.remove(prototype)
        for index in range(count):
            target = targets[index] if index < len(targets) else ""
            port = self._fill(copy.deepcopy(prototype), name=name, n=str(index + 1), other=target)
            connection = port.find("Connection")
            if connection is not None and not target:
                port.remove(connection)
            io.append(port)

    def _route(self, ids: dict[str, str], name: str, channels: int) -> ET.Element:
        """A new audio track as Ardour 7 saves one (controls, I/O, processors, automation)."""
        route = _prototype("Routes/Route")
        inputs, outputs = route.findall("IO")
        self._ports(inputs, name, channels, [])
        self._ports(outputs, name, len(self.master_inputs) or 2, self.master_inputs)
        automation = route.find("Automation")
        if automation is not None:  # its lists take their ids first, as they always have
            self._fill(automation)
        self._fill(
            route,
            **ids,
            name=name,
            version=self.root.get("version", str(MIN_SESSION_VERSION)),
            order=str(self.next_order),
            phase_invert="0" * channels,
            pan_width="1" if channels == 2 else "0",
        )
        self.next_order += 1
        return route

    # -------------------------------------------------------------------------------- finish

    def finish(self) -> None:
        """Widen the session range over the new regions and move the id counter past new ids."""
        if self.range_start is not None and self.range_end is not None:
            self._widen_session_range(self.range_start, self.range_end)
        self.root.set("id-counter", str(self.ids.counter))

    def _widen_session_range(self, start: int, end: int) -> None:
        locations = _child(self.root, "Locations")
        for location in locations.iter("Location"):
            if "IsSessionRange" in location.get("flags", "").split(","):
                old_start = _timepos_samples(location.get("start", ""), self)
                old_end = _timepos_samples(location.get("end", ""), self)
                if old_start is not None:
                    start = min(start, old_start)
                if old_end is not None:
                    end = max(end, old_end)
                location.set("start", self.timepos(start))
                location.set("end", self.timepos(end))
                return
        location = self._fill(
            _prototype("Locations/Location"),
            start=self.timepos(start),
            end=self.timepos(end),
            timestamp=str(int(time.time())),
        )
        locations.append(location)


def _interchange_folder(session_file: Path, root: ET.Element) -> Path:
    """The session's one ``interchange/<name>`` folder. Ardour names it after the session, not
    after a snapshot's ``.ardour`` file, and refuses a session whose interchange holds a second
    folder ("tainted"): use the folder that is there, else the session's name."""
    interchange = session_file.parent / "interchange"
    folders = sorted(p for p in interchange.iterdir() if p.is_dir()) if interchange.is_dir() else []
    named = root.get("name") or session_file.parent.name
    if len(folders) == 1:
        return folders[0]
    return interchange / named


def _timepos_samples(value: str, editor: _SessionEditor) -> int | None:
    """Session samples of an audio-time ``a<superclock>`` string; None for other time domains."""
    if not value.startswith("a") or not value[1:].lstrip("-").isdigit():
        return None
    return round(int(value[1:]) * editor.rate / editor.superclock_rate)


def _write_atomically(root: ET.Element, session_file: Path) -> None:
    """Keep the old file as ``.ardour.bak`` and rename a complete temporary file over it."""
    tree = ET.ElementTree(root)
    ET.indent(tree, space="  ")
    xml = ET.tostring(root, encoding="unicode")
    try:
        shutil.copy2(session_file, session_file.with_name(session_file.name + ".bak"))
        write_text_atomically(session_file, f'<?xml version="1.0" encoding="UTF-8"?>\n{xml}\n')
    except OSError as err:
        raise ArdourSessionError(f"{session_file}: cannot write the session ({err})") from err
