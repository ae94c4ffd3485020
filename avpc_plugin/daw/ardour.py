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

import os
import re
import shutil
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from avpc_plugin.atomic import write_text_atomically
from avpc_plugin.audio.io import AtomicAudioWriter, AudioReader, resample_ratio, resample_span
from avpc_plugin.daw.stems import StemPlacement

MIN_SESSION_VERSION = 7000
"""Oldest session format written with superclock time (Ardour 7.0)."""
DEFAULT_SUPERCLOCK_RATE = 282240000
"""Ardour 7's superclock ticks per second, used when the tempo map does not say."""
_COPY_BLOCK = 1 << 18  # samples per channel copied at a time
_STEREO_TAGS = ("%L", "%R")
_TRACK_CONTROLS = (
    "solo",
    "solo-iso",
    "solo-safe",
    "mute",
    "rec-enable",
    "rec-safe",
    "phase",
    "monitor",
)
_TRIGGER_SLOTS = 16  # a track's cue slots; Ardour 7 crashes loading a TriggerBox without them
_EMPTY_TRIGGER = {
    "name": "",
    "gain": "1",
    "color": "3200171775",
    "follow-count": "1",
    "use-follow-length": "0",
    "follow-length": "1|0|0",
    "legato": "0",
    "velocity-effect": "0",
    "follow-action-probability": "0",
    "quantization": "1|0|0",
    "launch-style": "OneShot",
    "follow-action-0": "Again:0",
    "follow-action-1": "Stop:0",
    "stretchable": "1",
    "cue_isolated": "0",
    "allow_patch_changes": "1",
    "stretch_mode": "Crisp",
    "segment-tempo": "0",
    "start": "a0",
}


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
    """

    name: str
    position: int
    length: int
    files: tuple[Path, ...]


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
    session: str | os.PathLike[str], placements: Sequence[StemPlacement]
) -> list[AddedTrack]:
    """Add every stem as a new track to a closed Ardour 7/8 session.

    Args:
        session: the ``.ardour`` file or the session folder.
        placements: the stems, in track order; positions are converted to the session's rate.

    Returns:
        One :class:`AddedTrack` per stem, in order.

    Raises:
        ArdourSessionError: the session is missing, malformed, or older than Ardour 7.
        AudioFileError: a stem cannot be read, or a copy cannot be written (no copied file is left
            behind and the session file is untouched).
    """
    if not placements:
        raise ValueError("placements: expected at least one stem")
    session_file = find_session_file(session)
    root = _parse(session_file)
    editor = _SessionEditor(session_file, root)
    copied: list[Path] = []
    try:
        added = [editor.add_stem(placement, copied) for placement in placements]
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


def _legal_file_name(name: str) -> str:
    """``name`` with only characters safe in file and port names (as Ardour's legalize_for_path)."""
    legal = re.sub(r"[^A-Za-z0-9 _.+-]", "_", name).strip(" .")
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

    def add_stem(self, placement: StemPlacement, copied: list[Path]) -> AddedTrack:
        """Copy one stem into the session and add its sources, regions, playlist and track."""
        paths, length = self._copy_channels(placement, copied)
        position = round(placement.position * self.rate / placement.sample_rate)
        track_name = self._unique(_legal_file_name(placement.name), self.route_names)
        playlist_name = self._unique(track_name, self.playlist_names)
        channels = len(paths)

        source_ids = []
        for path in paths:
            source_id = self.ids()
            source_ids.append(source_id)
            ET.SubElement(
                self.sources,
                "Source",
                {
                    "name": path.name,
                    "type": "audio",
                    "flags": "",
                    "id": source_id,
                    "natural-position": self.timepos(position),
                    "captured-for": "",
                    "channel": "0",
                    "origin": "",
                    "gain": "1",
                },
            )
        whole = self._region_attributes(
            paths[0].stem.split("%")[0], source_ids, 0, length, whole_file=True
        )
        ET.SubElement(self.regions, "Region", whole)

        route_id = self.ids()
        playlist_id = self.ids()
        playlist = ET.SubElement(
            self.playlists,
            "Playlist",
            {
                "id": playlist_id,
                "name": playlist_name,
                "type": "audio",
                "orig-track-id": route_id,
                "pgroup-id": "",
                "shared-with-ids": "",
                "frozen": "0",
                "combine-ops": "0",
            },
        )
        on_track = self._region_attributes(
            f"{whole['name']}.1", source_ids, position, length, whole_file=False
        )
        region = ET.SubElement(playlist, "Region", on_track)
        ET.SubElement(region, "Envelope", {"default": "yes"})
        self.routes.append(self._route(route_id, track_name, channels, playlist_id))

        end = position + length
        self.range_start = position if self.range_start is None else min(self.range_start, position)
        self.range_end = end if self.range_end is None else max(self.range_end, end)
        return AddedTrack(track_name, position, length, tuple(paths))

    def _region_attributes(
        self, name: str, source_ids: list[str], position: int, length: int, whole_file: bool
    ) -> dict[str, str]:
        flag = "1" if whole_file else "0"
        attributes = {
            "name": name,
            "muted": "0",
            "opaque": "1",
            "locked": "0",
            "video-locked": "0",
            "automatic": "0",
            "whole-file": flag,
            "import": flag,
            "external": "0",
            "sync-marked": "0",
            "left-of-split": "0",
            "right-of-split": "0",
            "hidden": "0",
            "position-locked": "0",
            "valid-transients": "0",
            "start": "a0",
            "length": f"{self.timepos(length)}@{self.timepos(position)}",
            "sync-position": "a0",
            "ancestral-start": "a0",
            "ancestral-length": "a0@a0",
            "stretch": "1",
            "shift": "1",
            "layering-index": "0",
            "tags": "",
            "contents": "0",
            "envelope-active": "0",
            "default-fade-in": "0",
            "default-fade-out": "0",
            "fade-in-active": "0",
            "fade-out-active": "0",
            "scale-amplitude": "1",
            "id": self.ids(),
            "type": "audio",
            "first-edit": "nothing",
        }
        for channel, source_id in enumerate(source_ids):
            attributes[f"source-{channel}"] = source_id
        for channel, source_id in enumerate(source_ids):
            attributes[f"master-source-{channel}"] = source_id
        attributes["channels"] = str(len(source_ids))
        return attributes

    def _automation_list(
        self, parent: ET.Element, automation_id: str, style: str, beat: bool = False
    ) -> str:
        list_id = self.ids()
        ET.SubElement(
            parent,
            "AutomationList",
            {
                "automation-id": automation_id,
                "id": list_id,
                "interpolation-style": style,
                "time-domain": "BeatTime" if beat else "AudioTime",
                "state": "Off",
            },
        )
        return list_id

    def _io(
        self, route: ET.Element, name: str, direction: str, ports: list[str], targets: list[str]
    ) -> None:
        io = ET.SubElement(
            route,
            "IO",
            {"name": name, "id": self.ids(), "direction": direction, "default-type": "audio"},
        )
        for index, port in enumerate(ports):
            port_el = ET.SubElement(io, "Port", {"type": "audio", "name": port})
            if index < len(targets) and targets[index]:
                ET.SubElement(port_el, "Connection", {"other": targets[index]})

    def _route(self, route_id: str, name: str, channels: int, playlist_id: str) -> ET.Element:
        """A new audio track as Ardour 7 saves one (controls, I/O, processors, automation)."""
        route = ET.Element(
            "Route",
            {
                "version": self.root.get("version", str(MIN_SESSION_VERSION)),
                "id": route_id,
                "name": name,
                "default-type": "audio",
                "strict-io": "1",
                "active": "1",
                "denormal-protection": "0",
                "meter-point": "MeterPostFader",
                "disk-io-point": "DiskIOPreFader",
                "meter-type": "MeterPeak",
                "audio-playlist": playlist_id,
                "saved-meter-point": "MeterPostFader",
                "alignment-choice": "Automatic",
                "mode": "Normal",
            },
        )
        ET.SubElement(
            route,
            "PresentationInfo",
            {"order": str(self.next_order), "flags": "AudioTrack,OrderSet", "color": "0"},
        )
        self.next_order += 1
        automation = ET.Element("Automation")
        for control in _TRACK_CONTROLS:
            self._automation_list(automation, control, "Discrete")
        ET.SubElement(
            route,
            "Controllable",
            {
                "name": "solo",
                "id": self.ids(),
                "flags": "Toggle,RealTime",
                "value": "0",
                "self-solo": "0",
                "soloed-by-upstream": "0",
                "soloed-by-downstream": "0",
            },
        )
        ET.SubElement(
            route,
            "Controllable",
            {
                "name": "solo-iso",
                "id": self.ids(),
                "flags": "Toggle,RealTime",
                "value": "0",
                "solo-isolated": "0",
            },
        )
        ET.SubElement(
            route,
            "Controllable",
            {
                "name": "solo-safe",
                "id": self.ids(),
                "flags": "Toggle",
                "value": "0",
                "solo-safe": "0",
            },
        )
        n_out = len(self.master_inputs) or 2
        self._io(route, name, "Input", [f"{name}/audio_in {i + 1}" for i in range(channels)], [])
        self._io(
            route,
            name,
            "Output",
            [f"{name}/audio_out {i + 1}" for i in range(n_out)],
            self.master_inputs,
        )
        ET.SubElement(route, "MuteMaster", {"mute-point": "PostFader,Listen,Main", "muted": "0"})
        ET.SubElement(
            route,
            "Controllable",
            {"name": "mute", "id": self.ids(), "flags": "Toggle,RealTime", "value": "0"},
        )
        ET.SubElement(
            route,
            "Controllable",
            {
                "name": "phase",
                "id": self.ids(),
                "flags": "Toggle",
                "value": "0",
                "phase-invert": "0" * channels,
            },
        )
        route.append(automation)

        pannable = ET.SubElement(route, "Pannable")
        pan_values = {
            "pan-azimuth": "0.5",
            "pan-width": "1" if channels == 2 else "0",
            "pan-elevation": "0",
            "pan-frontback": "0",
            "pan-lfe": "0",
        }
        for control, value in pan_values.items():
            ET.SubElement(
                pannable,
                "Controllable",
                {"name": control, "id": self.ids(), "flags": "", "value": value},
            )
        pan_automation = ET.SubElement(pannable, "Automation")
        for control in pan_values:
            self._automation_list(pan_automation, control, "Linear", beat=True)

        def processor(attributes: dict[str, str]) -> ET.Element:
            base = {
                "id": self.ids(),
                "name": "",
                "active": "1",
                "user-latency": "0",
                "use-user-latency": "0",
            }
            return ET.SubElement(route, "Processor", {**base, **attributes})

        processor({"name": f"meter-{name}", "type": "meter"})
        processor({"name": f"recorder:{name}", "type": "diskwriter", "record-safe": "0"})
        processor({"name": f"player:{name}", "type": "diskreader"})
        triggers = ET.SubElement(
            processor(
                {"name": "TriggerBox", "type": "triggerbox", "data-type": "audio", "order": "0"}
            ),
            "Triggers",
        )
        for slot in range(_TRIGGER_SLOTS):
            ET.SubElement(triggers, "Trigger", {**_EMPTY_TRIGGER, "index": str(slot)})
        processor({"name": "Polarity", "type": "polarity"})
        for kind, automation_id, control, style in (
            ("trim", "trim", "trimcontrol", "Logarithmic"),
            ("amp", "gain", "gaincontrol", "Exponential"),
        ):
            amp = processor({"name": "Amp", "type": kind})
            amp_automation = ET.SubElement(amp, "Automation")
            self._automation_list(amp_automation, automation_id, style)
            ET.SubElement(
                amp,
                "Controllable",
                {"name": control, "id": self.ids(), "flags": "GainLike", "value": "1"},
            )
        outs = processor(
            {
                "name": name,
                "own-input": "1",
                "own-output": "0",
                "output": name,
                "type": "main-outs",
                "role": "Main",
            }
        )
        ET.SubElement(
            outs, "PannerShell", {"bypassed": "0", "user-panner": "", "linked-to-route": "1"}
        )
        ET.SubElement(route, "Slavable")
        ET.SubElement(
            route,
            "Controllable",
            {
                "name": "monitor",
                "id": self.ids(),
                "flags": "RealTime",
                "value": "0",
                "monitoring": "",
            },
        )
        ET.SubElement(
            route,
            "Controllable",
            {"name": "rec-safe", "id": self.ids(), "flags": "Toggle,RealTime", "value": "0"},
        )
        ET.SubElement(
            route,
            "Controllable",
            {"name": "rec-enable", "id": self.ids(), "flags": "Toggle,RealTime", "value": "0"},
        )
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
        ET.SubElement(
            locations,
            "Location",
            {
                "id": self.ids(),
                "name": "session",
                "start": self.timepos(start),
                "end": self.timepos(end),
                "flags": "IsSessionRange",
                "locked": "0",
                "timestamp": str(int(time.time())),
                "cue": "0",
            },
        )


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
