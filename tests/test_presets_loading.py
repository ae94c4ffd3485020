"""Stem presets: shipped files, inheritance, search path, validation messages, TOML writing, CLI."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from pathlib import Path

import pedalboard
import pytest
from click.testing import CliRunner

from avpc_plugin.presets import (
    PRESETS_PATH_ENV,
    EffectSpec,
    Preset,
    PresetError,
    find_preset_file,
    list_presets,
    load_preset,
    load_preset_file,
    preset_search_path,
    shipped_presets_dir,
)
from avpc_plugin.presets.cli import presets_group
from avpc_plugin.presets.writer import child_preset_toml, preset_to_toml
from avpc_plugin.stem_settings import build_post_chain

MUSIC_INSTRUMENTS = (
    "accordion",
    "acoustic_guitar",
    "cello",
    "clarinet",
    "erhu",
    "flute",
    "saxophone",
    "trumpet",
    "tuba",
    "violin",
    "xylophone",
)


@pytest.fixture(autouse=True)
def isolated_search_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """An empty env folder and user config folder ahead of the shipped presets."""
    env, config = tmp_path / "env", tmp_path / "config"
    env.mkdir()
    monkeypatch.setenv(PRESETS_PATH_ENV, str(env))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    return {"env": env, "user": config / "avpc" / "presets"}


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.toml"
    path.write_text(text)
    return path


def test_every_shipped_preset_validates_and_builds_its_chain() -> None:
    shipped = sorted(p.stem for p in shipped_presets_dir().glob("*.toml"))
    assert shipped == sorted(("default", *MUSIC_INSTRUMENTS))
    for name in shipped:
        preset = load_preset(name)
        assert preset.name == name and preset.description
        assert isinstance(build_post_chain(preset.post), pedalboard.Pedalboard)
        if name != "default":
            assert preset.inherits == "default"
            # a gentle highpass just under the band's low edge starts every instrument chain
            assert preset.post[0].effect == "HighpassFilter"
            assert dict(preset.post[0].params)["cutoff_frequency_hz"] <= preset.band.low_hz
            assert 0 < preset.band.low_hz < preset.band.high_hz < math.inf


def test_default_preset_is_the_neutral_code_default() -> None:
    loaded = load_preset("default")
    neutral = Preset()
    for section in ("mask", "smoothing", "band", "residual", "visual"):
        assert getattr(loaded, section) == getattr(neutral, section)
    assert loaded.post == () and loaded.inherits is None


def test_search_path_order_env_then_user_then_shipped(
    isolated_search_path: dict[str, Path],
) -> None:
    env, user = isolated_search_path["env"], isolated_search_path["user"]
    assert preset_search_path()[:3] == [env, user, shipped_presets_dir()]
    assert find_preset_file("violin") == shipped_presets_dir() / "violin.toml"
    write(user, "violin", 'description = "user violin"\n')
    assert load_preset("violin").description == "user violin"
    write(env, "violin", 'description = "env violin"\n')
    assert load_preset("violin").description == "env violin"
    write(user, "mine", "")
    assert {"mine", "violin", "default"} <= set(list_presets())


def test_inheritance_merges_tables_and_replaces_the_chain(
    isolated_search_path: dict[str, Path],
) -> None:
    env = isolated_search_path["env"]
    write(env, "brighter", 'inherits = "violin"\n[band]\nhigh_hz = 18000\n')
    brighter = load_preset("brighter")
    violin = load_preset("violin")
    assert brighter.band.high_hz == 18000.0 and brighter.band.low_hz == violin.band.low_hz
    assert brighter.mask == violin.mask and brighter.post == violin.post
    assert brighter.inherits == "violin" and brighter.description == ""
    write(env, "dry", 'inherits = "brighter"\npost = []\n[mask]\ncycles = 6\n')
    dry = load_preset("dry")
    assert dry.post == () and dry.mask.cycles == 6 and dry.band.high_hz == 18000.0
    write(env, "gain", 'inherits = "dry"\n[[post]]\neffect = "Gain"\ngain_db = -3\n')
    assert load_preset("gain").post == (EffectSpec("Gain", params=(("gain_db", -3),)),)


def test_a_preset_may_extend_the_one_it_shadows(isolated_search_path: dict[str, Path]) -> None:
    write(isolated_search_path["user"], "cello", 'inherits = "cello"\n[mask]\nthreshold = 0.3\n')
    cello = load_preset("cello")
    assert cello.mask.threshold == 0.3
    assert cello.band == load_preset_file(shipped_presets_dir() / "cello.toml").band


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[mask]\nthreshhold = 0.2\n",
            "mask]: unknown key 'threshhold'; did you mean 'threshold'?",
        ),
        ("[smooth]\ntime_ms = 3\n", "unknown key 'smooth'; did you mean 'smoothing'?"),
        ('[mask]\ncycles = "four"\n', "mask.cycles: expected an integer in [0, 64], got 'four'"),
        ("[mask]\ncycles = 2.5\n", "mask.cycles: expected an integer"),
        ("[mask]\nthreshold = 1.5\n", "mask.threshold: expected a number in [0, 1), got 1.5"),
        ('[mask]\nmode = "hard"\n', "mask.mode: expected one of 'soft', 'binary', got 'hard'"),
        ("[band]\nlow_hz = -5\n", "band.low_hz: expected a number in [0, 384000], got -5"),
        ("[band]\nlow_hz = 500\nhigh_hz = 400\n", "band.low_hz: expected below band.high_hz"),
        ('[mask]\nmode = "binary"\n', "binary masks need a threshold in (0, 1)"),
        ("[visual]\nframes_per_window = 0\n", "visual.frames_per_window: expected an integer"),
        (
            '[[post]]\neffect = "Compresor"\n',
            "unknown effect 'Compresor'; did you mean 'Compressor'",
        ),
        (
            '[[post]]\neffect = "Compressor"\nratoi = 2\n',
            "post[0]: Compressor: unknown parameter 'ratoi'; did you mean 'ratio'?",
        ),
        ('[[post]]\neffect = "Compressor"\nratio = 0.5\n', "ratio must be a value >= 1.0"),
        ('[[post]]\neffect = "Gain"\ngain_db = [1]\n', "Gain.gain_db: expected a number"),
        ('[[post]]\nplugin = "/nowhere/Reverb.vst3"\n', "plugin: no such plug-in"),
        ('[[post]]\nplugin = "reverb.dll"\n', "expected a path ending in .vst3"),
        ("[[post]]\ngain_db = 1\n", "expected exactly one of 'effect'"),
        ('inherits = "no_such"\n', "unknown preset 'no_such'"),
        ("inherits = 3\n", "inherits: expected a preset name"),
        ("[mask\n", "not valid TOML"),
    ],
)
def test_invalid_presets_name_file_key_and_expectation(
    isolated_search_path: dict[str, Path], text: str, message: str
) -> None:
    path = write(isolated_search_path["env"], "broken", text)
    with pytest.raises(PresetError) as info:
        load_preset("broken")
    assert message in str(info.value)
    assert str(path) in str(info.value) or "unknown preset" in message


def test_encodings_a_text_editor_may_save(isolated_search_path: dict[str, Path]) -> None:
    folder = isolated_search_path["env"]
    (folder / "latin.toml").write_bytes('description = "Geige, für Konzerte"\n'.encode("latin-1"))
    with pytest.raises(PresetError, match=r"latin\.toml: not UTF-8 text \(byte 0xfc"):
        load_preset_file(folder / "latin.toml")
    (folder / "bom.toml").write_bytes(b"\xef\xbb\xbf" + b'inherits = "nosuch"\n')  # Notepad
    with pytest.raises(PresetError, match=r"bom\.toml: inherits: unknown preset 'nosuch'"):
        load_preset_file(folder / "bom.toml")


def test_cyclic_inheritance_is_named(isolated_search_path: dict[str, Path]) -> None:
    env = isolated_search_path["env"]
    write(env, "a", 'inherits = "b"\n')
    write(env, "b", 'inherits = "c"\n')
    write(env, "c", 'inherits = "a"\n')
    with pytest.raises(PresetError, match=r"inherits: inheritance loop a -> b -> c -> a"):
        load_preset("a")
    write(env, "selfish", 'inherits = "selfish"\n')  # no other 'selfish' further down the path
    with pytest.raises(PresetError, match="inherits itself \\('selfish'\\)") as caught:
        load_preset("selfish")
    assert "did you mean 'selfish'" not in str(caught.value)
    write(env, "x", 'inherits = "y"\n')
    write(env, "y", 'inherits = "x"\n')
    with pytest.raises(PresetError, match=r"inheritance loop x -> y -> x"):
        load_preset("x")


def test_validate_reports_every_error_of_a_file(tmp_path: Path) -> None:
    bad = write(
        tmp_path,
        "many",
        'colour = "red"\n[mask]\nthreshold = 2\ncycles = -1\n[band]\nlow_hz = "x"\n'
        '[[post]]\neffect = "Gian"\n',
    )
    result = CliRunner().invoke(presets_group, ["validate", str(bad)])
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.startswith("INVALID")]
    for part in ("'colour'", "mask.threshold", "mask.cycles", "band.low_hz", "'Gian'"):
        assert sum(part in line for line in lines) == 1, (part, result.output)
    assert len(lines) == 5


def test_an_error_in_a_parent_names_the_parent_file(isolated_search_path: dict[str, Path]) -> None:
    env = isolated_search_path["env"]
    parent = write(env, "parent", "[mask]\ncycles = -1\n")
    write(env, "child", 'inherits = "parent"\n')
    with pytest.raises(PresetError, match=f"{parent}: mask.cycles"):
        load_preset("child")


def test_toml_writer_round_trips_every_shipped_preset(tmp_path: Path) -> None:
    for name in list_presets():
        preset = load_preset(name)
        path = tmp_path / f"{name}.toml"
        path.write_text(preset_to_toml(preset, header="a header"))
        back = load_preset_file(path)
        for field in ("description", "mask", "smoothing", "band", "residual", "visual", "post"):
            assert getattr(back, field) == getattr(preset, field), (name, field)


def test_child_template_inherits_and_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "my_violin.toml"
    path.write_text(child_preset_toml("my_violin", load_preset("violin")))
    child, violin = load_preset_file(path), load_preset("violin")
    assert child.inherits == "violin"
    assert (child.mask, child.band, child.post) == (violin.mask, violin.band, violin.post)


def test_cli_list_show_validate_new(isolated_search_path: dict[str, Path], tmp_path: Path) -> None:
    runner = CliRunner()
    listed = runner.invoke(presets_group, ["list"])
    assert listed.exit_code == 0
    assert all(name in listed.output for name in MUSIC_INSTRUMENTS)

    shown = runner.invoke(presets_group, ["show", "tuba"])
    assert shown.exit_code == 0 and 'above_model = "zero"' in shown.output
    assert "inherits 'default'" in shown.output
    assert runner.invoke(presets_group, ["show", "tubaa"]).exit_code != 0

    good = shipped_presets_dir() / "flute.toml"
    bad = write(tmp_path, "bad", "[mask]\nthreshold = 2\n")
    checked = runner.invoke(presets_group, ["validate", str(good), str(bad)])
    assert checked.exit_code != 0
    assert f"ok      {good}" in checked.output and "mask.threshold" in checked.output

    made = runner.invoke(presets_group, ["new", "my_cello", "--from", "cello"])
    assert made.exit_code == 0, made.output
    assert load_preset("my_cello").inherits == "cello"  # written to the user folder
    again = runner.invoke(presets_group, ["new", "my_cello", "--from", "cello"])
    assert again.exit_code != 0 and "already exists" in again.output


def test_settings_changed_in_code_obey_the_files_rules() -> None:
    violin = load_preset("violin")
    refusals = [
        (violin.mask, {"threshold": 7.0}, "mask.threshold: expected a number in [0, 1), got 7.0"),
        (violin.mask, {"mode": "sofft"}, "mask.mode: expected one of 'soft', 'binary'"),
        (
            violin.band,
            {"low_hz": 2e4, "high_hz": 100.0},
            "band.low_hz: expected below band.high_hz",
        ),
        (violin.visual, {"frames_per_window": 2.5}, "visual.frames_per_window: expected an int"),
    ]
    for settings, change, message in refusals:
        with pytest.raises(PresetError, match=re.escape(message)):
            replace(settings, **change)
    assert replace(violin.mask, threshold=0).threshold == 0.0  # an int widened, as from a file
