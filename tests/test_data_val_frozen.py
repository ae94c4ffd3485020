"""The val split is frozen: the same pictures and random draws as before the train pictures grew.

Val corpora, the benchmark set (``avpc data bench``) and the demo scene are all rendered from the
val split with fixed seeds, and published figures (README demo table, benchmark JSONs, the
regression history) were made from them. So the val split must give, seed for seed, the same
picture list, the same pixels and the same clips as it did at commit a72e2e5 (before the train
pictures grew). The digests below were computed with a72e2e5's code on the same machine image:
the val picture list and per-source ``load_picture(source, 64)`` bytes; a 3-clip val corpus
(seed 5, 2 s, 8 fps, 64 px) as its ``index.jsonl``, wav samples and decoded mp4 frames (not
container bytes, which hold encoder strings); and the scene test's val solos (seed 5) before
encoding.

They depend on the installed rasteriser, fonts and soundfonts (cairosvg/cairo, Pillow/FreeType,
Noto Color Emoji, Openclipart, TimGM6mb), as set up by ``.ci/system-deps.sh``. If an upgrade of
one of those changes them, recompute with a72e2e5's code (a ``git worktree`` of it) before
touching a digest: this code and that one must agree.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from avpc_plugin.data.instruments import INSTRUMENT_NAMES
from avpc_plugin.data.pictures import load_picture, picture_sources
from avpc_plugin.data.render import find_soundfonts

_MUSIC = "openclipart:recreation/music/"

VAL_PICTURES: dict[str, list[tuple[str, str]]] = {
    "accordion": [
        ("noto_emoji:1FA97", "6ab15d80e9ba9021f8b2a3c7559c628f2ae2f3ee2d6f0002b1e5fea4cd9f3c3c"),
    ],
    "acoustic_guitar": [
        ("noto_emoji:1F3B8", "7e4cd748cb5019a0b7ed06813b942a8df4eca8ccc95ac7ae37fbbe73cc8404e0"),
        (
            _MUSIC + "guitar_ganson.svg",
            "93cde6f33297b6e65e5b6687b8f2cdd6c2739c7fb8d145116edaffcb150345c0",
        ),
    ],
    "cello": [
        (
            _MUSIC + "cello_ganson.svg",
            "20f6c8fc3a65a23ee3c194c3f9148e806d881b515396f03674ba9f77fc9dd242",
        ),
        ("procedural:outline", "a755640ded6e36b4526606f0fabffe24a2c76dd41ad49a7fc945f6f3e5ed0625"),
    ],
    "clarinet": [
        ("procedural:outline", "863754c87e441b5d212b6b22ad9510ac1e1ecb7b7e613d23f2d1a0ca3fc1b477"),
    ],
    "erhu": [
        ("procedural:outline", "2c029f58084734a7cdf0cbeb1a12434cfe8e100bb3452ace53f3188f0ee1dbc6"),
    ],
    "flute": [
        ("noto_emoji:1FA88", "404e6d4c131de8b773614cd256db8e9f17d5627cf76666e4774e2a17220aba86"),
    ],
    "saxophone": [
        ("noto_emoji:1F3B7", "95226a261443b5a82365213118438e9936a2145ec6417bb60d5dedb8b30bd4c4"),
    ],
    "trumpet": [
        ("noto_emoji:1F3BA", "77bfe9d6d9af5ecc5fe6f60565fe83f5c51c762e778ceaf9c97dce29fb0a57ef"),
        (
            _MUSIC + "trumpet_b_flat_colour_ganso.svg",
            "9a3521a3a42f09439bf1c25921a69b57acb65519c544259f9a0f8b85f689402f",
        ),
    ],
    "tuba": [
        ("procedural:outline", "03c53c35d89515e0ebf79f3801333d75e00a5edb238a47e1b73a6bcb0f250b9d"),
    ],
    "violin": [
        ("noto_emoji:1F3BB", "d77dc71b39464eadad2d376b7bd62a53ece57c96868be4f561585249685819a5"),
        (
            _MUSIC + "violin_colour_ganson.svg",
            "d44689ecf99337e0a67f683882d8c2700ca54c6ec0cf435c5615bc0da998dd31",
        ),
    ],
    "xylophone": [
        ("procedural:outline", "91b481fdd4bccb45866b15786bca4385dd62ca8d15c666fbe640ad8c8c2e4cf6"),
    ],
}
"""Per class: the val sources in order, and the sha256 of ``load_picture(source, 64)``."""

VAL_CORPUS: dict[str, str] = {
    "index.jsonl": "a3a633ec5cc28a60ca889cb6d8393c7b9d0f062c276d6afa75d0707e5387e641",
    "audio/val_000000.wav": "f13f19d1667c07f889144096093f7b737bc1b184a9cf52999b292655508f1e93",
    "video/val_000000.mp4": "4cf1a8afd643ff561038f1451d948941defea97ae61d27ed40b21715ac706e76",
    "audio/val_000001.wav": "5f10db20573374b62b98927ce01d72f31017d33c60bfd2af727585bd29652f1e",
    "video/val_000001.mp4": "4d2e1fd5a55cbf2a6da0fa706bfcfc06ceaca29cb3eab5003301ab2c6f4f7943",
    "audio/val_000002.wav": "981b9bb75a533059cb5187ec626edf7a478ea610f0f786dff0018e5d4b960b4f",
    "video/val_000002.mp4": "6724111db687d63239cb161190d010298bc53e0f40abe4c125a64b29d6ef1e84",
}
"""A 3-clip val corpus (seed 5): sha256 of index.jsonl's records (sorted-key JSON, without the
keys added since a72e2e5: :data:`NEW_INDEX_KEYS`), and of each clip's wav samples (float32) and
decoded frames (rgb24)."""

NEW_INDEX_KEYS = ("family", "sound")
"""Index keys a72e2e5 did not write (the sound family of each clip)."""

VAL_SOLOS: dict[str, tuple[str, str, str]] = {
    "0:violin": (
        "openclipart:recreation/music/violin_colour_ganson.svg",
        "1ba8a2707cdb7b04c1a5408b0272dd67ba046855e311a20c48f849d2c788104c",
        "8e5b8c403672337d743ea32e2a309de2053f87201f3a92aa11d3218ad3d56d36",
    ),
    "1:trumpet": (
        "noto_emoji:1F3BA",
        "b9fc00d1d1a5229a45d4deba46c98d2e14c1355556c47cd4c485fde757e19998",
        "b6004be78103cd68a492acb0a2cf11356d57480f0510c5c926dc76a0fb7b8e3a",
    ),
    "2:cello": (
        "procedural:outline",
        "03e8bfc7b749544d94f5ac25bbf13104da66f939f0907ad4992129fb79b81f77",
        "9a35f4aaa881ef927bab2f1fda48514ed3278a8f5375468773aebf23c19dca72",
    ),
    "3:acoustic_guitar": (
        "openclipart:recreation/music/guitar_ganson.svg",
        "30e4a4070c87ddb92d9c33db1a7929c4f90b9fe654d4350677ae3b32769ae2ef",
        "a4507e6419a24cc47980ec321be842a6f5cf1482826150afe2e4670fe64ce76c",
    ),
}
"""The scene test's val solos (seed 5, performer k): picture key, sha256 of frames and audio."""


def _sha(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def _sha_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _require_val_packages() -> None:
    from avpc_plugin.data.picture_sets import font_file, get_font_set, openclipart_root

    try:
        find_soundfonts("val")
    except FileNotFoundError as error:
        pytest.skip(str(error))
    noto = get_font_set("noto_emoji")
    if font_file(noto) is None or openclipart_root() is None:
        pytest.skip(f"val pictures not installed ({noto.package}, openclipart-svg)")


def val_picture_digests() -> dict[str, list[tuple[str, str]]]:
    return {
        name: [(s.key, _sha(load_picture(s, 64))) for s in picture_sources("val", name)]
        for name in INSTRUMENT_NAMES
    }


def val_corpus_digests(folder: Path) -> dict[str, str]:
    import av
    from pedalboard.io import AudioFile

    from avpc_plugin.data.corpus import SynthConfig, synthesize_corpus

    config = SynthConfig(duration=2.0, fps=8.0, size=64)
    records = synthesize_corpus(folder, "val", clips=3, seed=5, config=config, workers=1)
    rows = [json.loads(line) for line in (folder / "index.jsonl").read_text().splitlines()]
    old_rows = [{k: v for k, v in row.items() if k not in NEW_INDEX_KEYS} for row in rows]
    digests = {"index.jsonl": _sha_text(json.dumps(old_rows, sort_keys=True))}
    for record in records:
        with AudioFile(str(folder / record.audio)) as f:
            digests[record.audio] = _sha(f.read(f.frames).astype(np.float32))
        with av.open(str(folder / record.video)) as container:
            stream = container.streams.video[0]
            frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
        digests[record.video] = _sha(np.stack(frames))
    return digests


def val_solo_digests() -> dict[str, tuple[str, str, str]]:
    from avpc_plugin.data.corpus import SynthConfig, perform_solo

    config = SynthConfig(1.5, 22050, True, 8.0, 64)
    digests = {}
    for k, name in enumerate(["violin", "trumpet", "cello", "acoustic_guitar"]):
        solo = perform_solo(name, "val", np.random.default_rng([5, k]), config)
        digests[f"{k}:{name}"] = (solo.picture.key, _sha(solo.frames), _sha(solo.audio))
    return digests


def test_val_pictures_are_those_of_a72e2e5_pixel_for_pixel() -> None:
    _require_val_packages()
    assert val_picture_digests() == VAL_PICTURES


def test_val_corpus_clips_are_those_of_a72e2e5(tmp_path: Path) -> None:
    _require_val_packages()
    assert val_corpus_digests(tmp_path) == VAL_CORPUS


def test_val_solos_of_the_demo_scene_are_those_of_a72e2e5() -> None:
    _require_val_packages()
    assert val_solo_digests() == VAL_SOLOS
