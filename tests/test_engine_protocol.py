"""Engine protocol without a process: request signatures, job descriptions, OSC framing."""

from __future__ import annotations

import functools
import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pythonosc import slip

from avpc_plugin.audio.io import write_audio
from avpc_plugin.engine.protocol import (
    MAX_JOB_JSON_BYTES,
    PROTOCOL_VERSION,
    Address,
    ErrorCode,
    ProtocolError,
    parse_job,
    parse_request,
)
from avpc_plugin.engine.transport import (
    Double,
    StreamDeframer,
    decode_packet,
    encode_message,
)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from helpers_engine import make_video

    root = tmp_path_factory.mktemp("protocol")
    wav = write_audio(root / "take.wav", np.zeros((1, 8000), np.float32), 8000)
    text = root / "notes.txt"
    text.write_text("not media")
    return {"root": root, "wav": wav, "video": make_video(root / "cam.mp4", 2.0), "text": text}


def job(media: dict[str, Path], **changes: Any) -> str:
    description: dict[str, Any] = {
        "source": str(media["wav"]),
        "video": str(media["video"]),
        "stems": [{"name": "violin", "box": [0, 0, 0.5, 1]}, {"name": "cello", "offset": -0.25}],
        "out_dir": str(media["root"] / "out"),
    }
    description.update(changes)
    return json.dumps({k: v for k, v in description.items() if v is not ...})


def refused(text: str, code: str, *words: str, **kwargs: Any) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_job(text, **kwargs)
    assert caught.value.code == code, caught.value.message
    for word in words:
        assert word in caught.value.message


# ----------------------------------------------------------------------------------- requests


def test_requests_take_their_signature() -> None:
    assert parse_request(Address.PING, []).reply_port is None
    assert parse_request(Address.PING, [9100]).reply_port == 9100
    submit = parse_request(Address.SUBMIT, ["{}", 9001])
    assert submit.args == {"job": "{}"} and submit.reply_port == 9001
    assert parse_request(Address.STATUS, [9002]).reply_port == 9002  # a lone int is the port
    status = parse_request(Address.STATUS, ["abc", 9002])
    assert status.args == {"job_id": "abc"} and status.reply_port == 9002


@pytest.mark.parametrize(
    ("address", "args", "code", "word"),
    [
        ("/avpc/nope", [], ErrorCode.UNKNOWN_ADDRESS, "/avpc/ping"),
        (Address.PING, ["9000"], ErrorCode.BAD_ARGUMENTS, "reply_port"),
        (Address.PING, [True], ErrorCode.BAD_ARGUMENTS, "bool"),
        (Address.PING, [1, 2], ErrorCode.BAD_ARGUMENTS, "2 argument"),
        (Address.PING, [70000], ErrorCode.BAD_ARGUMENTS, "1..65535"),
        (Address.SUBMIT, [], ErrorCode.BAD_ARGUMENTS, "job:s"),
        (Address.SUBMIT, [b"\x00"], ErrorCode.BAD_ARGUMENTS, "blob"),
        (Address.CANCEL, [3.5], ErrorCode.BAD_ARGUMENTS, "job_id"),
    ],
)
def test_bad_requests_name_the_problem(address: str, args: list[Any], code: str, word: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_request(address, args)
    assert caught.value.code == code and word in caught.value.message


# ---------------------------------------------------------------------------------------- jobs


def test_a_valid_job(media: dict[str, Path]) -> None:
    spec = parse_job(job(media, start=0.25, end=0.75, format="flac", bit_depth="16", ref="r1"))
    assert [s.name for s in spec.stems] == ["violin", "cello"]
    assert spec.stems[0].video == media["video"] and spec.stems[0].box == (0, 0, 0.5, 1)
    assert spec.stems[1].offset == -0.25
    out = (media["root"] / "out").resolve()
    assert spec.outputs == {
        "violin": out / "take" / "violin.flac",
        "cello": out / "take" / "cello.flac",
    }
    assert (spec.start, spec.end, spec.bit_depth, spec.ref) == (0.25, 0.75, "16", "r1")


def test_residual_gets_an_output(media: dict[str, Path]) -> None:
    spec = parse_job(job(media, residual=True, template="{stem}.{ext}"))
    assert list(spec.outputs) == ["violin", "cello", "residual"]
    assert spec.outputs["residual"].name == "residual.wav"


def test_malformed_descriptions(media: dict[str, Path]) -> None:
    refused("{not json", ErrorCode.BAD_JSON, "not valid JSON")
    refused("[1, 2]", ErrorCode.BAD_JSON, "JSON object")
    refused("[" * 100000 + "]" * 100000, ErrorCode.TOO_LARGE)
    refused(json.dumps({"x": "a" * MAX_JOB_JSON_BYTES}), ErrorCode.TOO_LARGE, "limit")
    refused(job(media, colour="red"), ErrorCode.INVALID_JOB, "job.colour", "unknown key")
    refused(job(media, source=...), ErrorCode.INVALID_JOB, "job.source", "missing")
    refused(job(media, source="take.wav"), ErrorCode.INVALID_JOB, "relative")
    refused(job(media, stems=[]), ErrorCode.INVALID_JOB, "job.stems")
    refused(job(media, stems=[{"name": "a/b"}]), ErrorCode.INVALID_JOB, "stems[0]", "'a/b'")
    refused(job(media, stems=[{"name": "a"}, {"name": "a"}]), ErrorCode.INVALID_JOB, "duplicate")
    refused(job(media, stems=[{"name": "a", "box": [0, 0, 2, 1]}]), ErrorCode.INVALID_JOB, "box")
    refused(job(media, stems=[{"name": "a", "offset": "x"}]), ErrorCode.INVALID_JOB, "offset")
    refused(job(media, start=-1), ErrorCode.INVALID_JOB, "job.start")
    refused(job(media, start=2, end=1), ErrorCode.INVALID_JOB, "job.end")
    refused(job(media, overwrite="yes"), ErrorCode.INVALID_JOB, "job.overwrite")
    refused(job(media, format="mp3"), ErrorCode.INVALID_JOB, "mp3")
    refused(job(media, cycles=0), ErrorCode.INVALID_JOB, "job.cycles")
    refused(job(media, cycles=400), ErrorCode.INVALID_JOB, "job.cycles", "1 to 64")
    refused(job(media, stems=[{"name": "v" * 101}]), ErrorCode.INVALID_JOB, "up to 100")
    refused(job(media, template="{stem}"), ErrorCode.INVALID_JOB, "job.template", "end in .wav")
    refused(job(media, format="flac", template="{stem}.wav"), ErrorCode.INVALID_JOB, ".flac")
    assert parse_job(job(media, format="aiff", template="{stem}.aif")).outputs["violin"].suffix
    refused(job(media, protocol="2.0"), ErrorCode.VERSION_MISMATCH, PROTOCOL_VERSION)


def test_strings_a_reply_or_a_file_name_cannot_carry_are_refused(media: dict[str, Path]) -> None:
    # a client that cuts its ref to 200 UTF-16 units may split an emoji; a NUL would end the
    # string in every OSC reply that echoes it
    refused(job(media, ref="\ud800x"), ErrorCode.INVALID_JOB, "job.ref", "surrogate")
    refused(job(media, ref="a\x00b"), ErrorCode.INVALID_JOB, "job.ref", "NUL")
    refused(job(media, stems=[{"name": "a", "preset": "x\x00"}]), ErrorCode.INVALID_JOB,
            "job.stems[0].preset", "NUL")  # fmt: skip
    assert parse_job(job(media, ref="take \U0001f3bb")).ref == "take \U0001f3bb"


def test_a_bad_preset_is_refused_before_the_job_is_queued(media: dict[str, Path]) -> None:
    spec = parse_job(job(media, stems=[{"name": "violin", "preset": "violin"}]))
    assert spec.stems[0].preset is not None
    refused(
        job(media, stems=[{"name": "violin", "preset": "violn"}]),
        ErrorCode.INVALID_JOB,
        "stems[0]",
        "violn",
        "violin",  # the did-you-mean suggestion
    )


def test_sources_must_be_media_files(media: dict[str, Path]) -> None:
    refused(
        job(media, source=str(media["root"] / "gone.wav")), ErrorCode.BAD_SOURCE, "no such file"
    )
    refused(job(media, source=str(media["text"])), ErrorCode.BAD_SOURCE, "not a media file")
    refused(job(media, video=str(media["wav"])), ErrorCode.BAD_SOURCE, "job.video")
    refused(job(media, video=None), ErrorCode.INVALID_JOB, "needs a video")


def test_outputs_stay_inside_the_output_folder(media: dict[str, Path]) -> None:
    refused(job(media, template="../{stem}.{ext}"), ErrorCode.PATH_ESCAPE, "inside the output")
    refused(job(media, template="/tmp/{stem}.{ext}"), ErrorCode.PATH_ESCAPE)
    out = media["root"] / "linked"
    out.mkdir(exist_ok=True)
    link = out / "up"
    if not link.exists():
        link.symlink_to(media["root"].parent)
    refused(job(media, out_dir=str(out), template="up/{stem}.{ext}"), ErrorCode.PATH_ESCAPE)
    root = media["root"] / "allowed"
    refused(job(media), ErrorCode.PATH_ESCAPE, "outside", output_root=root)
    inside = parse_job(job(media, out_dir=str(root / "a" / ".." / "b")), output_root=root)
    assert inside.out_dir == (root / "b").resolve()


def test_existing_outputs_need_overwrite(media: dict[str, Path]) -> None:
    target = media["root"] / "kept" / "take" / "violin.wav"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"keep me")
    refused(job(media, out_dir=str(media["root"] / "kept")), ErrorCode.OUTPUT_EXISTS, "overwrite")
    assert parse_job(job(media, out_dir=str(media["root"] / "kept"), overwrite=True)).overwrite


# ------------------------------------------------------------------------------------ transport


def test_messages_round_trip_with_doubles() -> None:
    data = encode_message(
        "/avpc/stem", ["id", "violin", "/x.wav", Double(7200.000123), 345600006, 48000]
    )
    assert data[data.index(b",") :].startswith(b",sssdii")
    [(address, args)] = decode_packet(data)
    assert address == "/avpc/stem" and args[3] == 7200.000123 and args[4] == 345600006


TRUNCATED = encode_message("/avpc/submit", ["{}", 9000])[:-4]


def test_replies_never_fail_to_encode() -> None:
    # start_sample past int32 (12.4 h at 48 kHz) goes as int64; bad text is escaped, not raised
    data = encode_message("/avpc/stem", ["id", "a\x00b", "\ud800", 2**33, -5])
    [(_, args)] = decode_packet(data)
    assert args == ["id", "a\\x00b", "\\ud800", 2**33, -5]
    assert data[data.index(b",") :].startswith(b",ssshi")


def bundle(*elements: bytes) -> bytes:
    return b"#bundle\x00" + b"\x00" * 8 + b"".join(struct.pack(">i", len(e)) + e for e in elements)


PING = encode_message("/avpc/ping", [])


def test_bundles_are_checked_before_python_osc_walks_them() -> None:
    nested = bundle(PING, bundle(PING, bundle(PING)))
    assert [address for address, _ in decode_packet(nested)] == ["/avpc/ping"] * 3
    negative = b"#bundle\x00" + b"\x00" * 8 + struct.pack(">i", -4) + b"/avp"  # hung python-osc
    for data, word in [
        (negative, "claims -4 bytes"),
        (bundle(PING)[:-4], "within the"),
        (bundle(PING) + b"\x00\x00", "cut off"),
        (bundle(b"junk"), "neither"),
        (bundle(b""), "claims 0 bytes"),
        (functools.reduce(lambda inner, _: bundle(inner), range(20), PING), "nested deeper"),
    ]:
        with pytest.raises(ProtocolError, match=word) as caught:
            decode_packet(data)
        assert caught.value.code == ErrorCode.BAD_PACKET


@pytest.mark.parametrize("data", [b"", b"garbage!", TRUNCATED, b"#bundle\x00\x01"])
def test_garbage_is_a_bad_packet(data: bytes) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_packet(data)
    assert caught.value.code == ErrorCode.BAD_PACKET


def test_deframer_reads_slip_and_length_prefixed_streams_in_any_pieces() -> None:
    packets = [encode_message("/avpc/ping", []), encode_message("/avpc/submit", ["x" * 300])]
    for framed in (
        b"".join(slip.encode(p) for p in packets),
        b"".join(struct.pack("!I", len(p)) + p for p in packets),
    ):
        deframer = StreamDeframer()
        got = [p for i in range(0, len(framed), 7) for p in deframer.feed(framed[i : i + 7])]
        assert got == packets
        assert deframer.frame(packets[0]) == framed[: len(deframer.frame(packets[0]))]


def test_deframer_goes_on_after_a_malformed_slip_frame() -> None:
    deframer = StreamDeframer()
    stream = slip.END + b"/avpc\xdb\x01ping" + slip.END + slip.encode(PING)
    with pytest.raises(ProtocolError, match="malformed SLIP"):
        list(deframer.feed(stream))
    assert list(deframer.feed(b"")) == [PING]  # what followed the bad frame is still there


def test_deframer_refuses_oversized_packets() -> None:
    with pytest.raises(ProtocolError) as caught:
        list(StreamDeframer(max_packet=100).feed(struct.pack("!I", 101)))
    assert caught.value.code == ErrorCode.TOO_LARGE
    with pytest.raises(ProtocolError):
        list(StreamDeframer(max_packet=100).feed(slip.END + b"a" * 200))


def test_overlong_path_names_are_invalid_jobs_naming_the_field(media: dict[str, Path]) -> None:
    long_name = "x" * 256
    refused(
        job(media, source=f"/tmp/{long_name}.wav"), ErrorCode.INVALID_JOB, "job.source", "260 bytes"
    )
    refused(job(media, out_dir=f"/tmp/{long_name}/out"), ErrorCode.INVALID_JOB, "job.out_dir")
    refused(job(media, video=f"/tmp/{'é' * 128}.mp4"), ErrorCode.INVALID_JOB, "job.video")
    refused(job(media, out_dir="/" + "a/" * 2100), ErrorCode.INVALID_JOB, "job.out_dir")


def test_start_and_end_are_checked_against_the_source(media: dict[str, Path]) -> None:
    # the source lasts 1 s
    refused(job(media, start=1e308), ErrorCode.INVALID_JOB, "job.start", "1.000 s long")
    refused(job(media, start=1.0), ErrorCode.INVALID_JOB, "job.start")
    refused(job(media, end=1e308), ErrorCode.INVALID_JOB, "job.end")
    refused(job(media, start=0.2, end=0.1), ErrorCode.INVALID_JOB, "job.end")
    spec = parse_job(job(media, start=0.5, end=1.5))  # an end just past the source is its end
    assert (spec.start, spec.end) == (0.5, 1.5)


def test_error_replies_bound_what_they_echo() -> None:
    from avpc_plugin.engine.server import Engine

    sent: list[tuple[Any, ...]] = []

    class Channel:
        def send(self, address: str, *args: Any) -> None:
            sent.append((address, *args))

        def describe(self) -> str:
            return "test"

    huge = "j" * 33_000
    Engine.reply_error(Channel(), ErrorCode.UNKNOWN_JOB, f"no job {huge!r}", huge, "r" * 500)
    [(address, code, message, job_id, ref)] = sent
    assert len(encode_message(address, [code, message, job_id, ref])) < 8000
    assert job_id.endswith("\u2026") and len(job_id) == 64
    assert message.endswith("\u2026") and len(ref) == 200


def test_video_tolerance_and_dither_are_job_keys(media: dict[str, Path]) -> None:
    spec = parse_job(job(media))
    assert (spec.video_tolerance, spec.dither) == (None, True)  # the engine's own, dithered
    spec = parse_job(job(media, video_tolerance=2, dither=False))
    assert (spec.video_tolerance, spec.dither) == (2.0, False)
    assert parse_job(job(media, video_tolerance=0.0)).video_tolerance == 0.0
    refused(job(media, video_tolerance=-0.1), ErrorCode.INVALID_JOB, "job.video_tolerance")
    refused(job(media, video_tolerance="1"), ErrorCode.INVALID_JOB, "job.video_tolerance")
    refused(job(media, video_tolerance=True), ErrorCode.INVALID_JOB, "job.video_tolerance")
    refused(job(media, dither="no"), ErrorCode.INVALID_JOB, "job.dither")
    refused(job(media, dither=0), ErrorCode.INVALID_JOB, "job.dither")
