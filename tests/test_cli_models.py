"""``avpc models``: list, info, verify and convert through click's test runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner, Result
from helpers_nets import TINY_LINEAR as TINY
from helpers_nets import TinyLinear
from torch import nn

from avpc_plugin.checkpoints import format as checkpoint_format
from avpc_plugin.checkpoints import registry
from avpc_plugin.checkpoints.convert import to_reference_state_dicts
from avpc_plugin.checkpoints.format import load_checkpoint, save_checkpoint
from avpc_plugin.checkpoints.registry import find_model, register_model
from avpc_plugin.cli import main
from avpc_plugin.nets import build_net
from avpc_plugin.paths import project_root


@pytest.fixture
def models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty index folder that is the only one on the search path."""
    folder = tmp_path / "models"
    monkeypatch.setenv("AVPC_MODELS_PATH", str(folder))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(registry, "project_models_dir", lambda: tmp_path / "project")
    return folder


@pytest.fixture
def two_models(models_dir: Path) -> dict[str, Path]:
    """``small`` (4 features, default) and ``wide`` (1000 features) registered in models_dir."""
    paths = {}
    for name, features, default in (("small", 4, True), ("wide", 1000, False)):
        torch.manual_seed(features)
        paths[name] = save_checkpoint(
            TinyLinear(features), models_dir, name, summary={"steps": 12, "data": "unit test"}
        )
        register_model(paths[name], models_dir, description=f"{name} net", default=default)
    return paths


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, ["models", *args])


def assert_user_error(result: Result, *fragments: str) -> None:
    """Exit status 1, a one-line 'Error: ...' message, no traceback."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output, result.output


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[300] ^= 0xFF
    path.write_bytes(bytes(data))


def test_list_without_models_says_where_it_looked(models_dir: Path) -> None:
    result = invoke("list")
    assert result.exit_code == 0
    assert "no models registered" in result.output and str(models_dir) in result.output


def test_list_shows_a_table(two_models: dict[str, Path]) -> None:
    result = invoke("list")
    assert result.exit_code == 0, result.output
    header, small, wide = result.output.splitlines()
    assert header.split() == ["NAME", "ARCH", "PARAMS", "SIZE", "DEFAULT", "VERIFIED"]
    assert small.split()[:3] == ["small", TINY, "10"] and small.split()[-2:] == ["*", "ok"]
    assert wide.split()[:3] == ["wide", TINY, "2.0K"] and wide.split()[-1] == "ok"
    assert small.split()[3:5] == [f"{two_models['small'].stat().st_size / 1000:.1f}", "KB"]


def test_list_flags_modified_and_missing_files(two_models: dict[str, Path]) -> None:
    two_models["small"].write_bytes(two_models["small"].read_bytes() + b"\0")
    wide_size = human_size(two_models["wide"])
    two_models["wide"].unlink()
    result = invoke("list")
    assert result.exit_code == 0
    small, wide = result.output.splitlines()[1:]
    assert small.split()[-1] == "MODIFIED" and wide.split()[-1] == "missing"
    assert wide.split()[2:5] == ["2.0K", *wide_size.split()]  # the index's size of the file


def human_size(path: Path) -> str:
    """The SIZE column for a file: decimal units as ``avpc models list`` prints them."""
    size = path.stat().st_size
    return f"{size} B" if size < 1000 else f"{size / 1000:.1f} KB"


def drop_listing_keys(models_dir: Path, name: str) -> None:
    """Make ``name``'s index entry look written before the index recorded parameters and size."""
    index = models_dir / "index.json"
    raw = json.loads(index.read_text())
    for record in raw["models"]:
        if record["name"] == name:
            del record["parameters"], record["size_bytes"]
    index.write_text(json.dumps(raw))


def listing_columns(output: str) -> dict[str, list[str]]:
    """NAME -> [PARAMS, SIZE, VERIFIED] from ``avpc models list``'s table (SIZE as one cell)."""
    rows: dict[str, list[str]] = {}
    for line in output.splitlines()[1:]:
        cells = line.split()
        rows[cells[0]] = [cells[2], f"{cells[3]} {cells[4]}", cells[-1]]
    return rows


def test_list_reads_the_index_not_the_checkpoints(
    two_models: dict[str, Path], models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drop_listing_keys(models_dir, "wide")

    def no_loading(*args: object, **kwargs: object) -> None:
        raise AssertionError("avpc models list loaded a checkpoint")

    monkeypatch.setattr(torch, "load", no_loading)
    monkeypatch.setattr(checkpoint_format, "read_checkpoint_metadata", no_loading)
    result = invoke("list")
    assert result.exit_code == 0, result.output
    assert listing_columns(result.output) == {
        "small": ["10", human_size(two_models["small"]), "ok"],
        "wide": ["?", human_size(two_models["wide"]), "ok"],  # an older entry: no count
    }


def test_list_in_a_fresh_interpreter_imports_no_torch(
    two_models: dict[str, Path], models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drop_listing_keys(models_dir, "wide")
    source = str(project_root())
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [source, os.getenv("PYTHONPATH")]))
    )
    runner = (
        "import sys; from avpc_plugin.cli import main; sys.argv[1:] = ['models', 'list']; main()"
    )
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", runner],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert "avpc_plugin.checkpoints.registry" in imported  # -X importtime did report imports
    assert "torch" not in imported
    rows = listing_columns(done.stdout)
    assert rows["small"] == ["10", human_size(two_models["small"]), "ok"]
    assert rows["wide"] == ["?", human_size(two_models["wide"]), "ok"]


def test_info_by_name(two_models: dict[str, Path]) -> None:
    result = invoke("info", "small")
    assert result.exit_code == 0, result.output
    assert f"arch:        {TINY}" in result.output
    assert str(two_models["small"].resolve()) in result.output
    assert '"features": 4' in result.output and '"data": "unit test"' in result.output
    assert "name:        small (default)" in result.output
    assert f"torch {torch.__version__}" in result.output


def test_info_json_by_path(two_models: dict[str, Path]) -> None:
    result = invoke("info", str(two_models["wide"]), "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["arch"] == TINY and info["config"] == {"features": 1000}
    assert info["summary"] == {"steps": 12, "data": "unit test"}
    assert info["parameters"] == "2.0K" and info["registry"] is None
    assert info["size_bytes"] == two_models["wide"].stat().st_size


def test_info_unknown_name_suggests_a_close_one(two_models: dict[str, Path]) -> None:
    assert_user_error(invoke("info", "smal"), "unknown model 'smal'", "did you mean 'small'?")
    assert_user_error(invoke("info", "nowhere/model.pt"), "no checkpoint file")


def test_info_on_a_modified_file_fails(two_models: dict[str, Path]) -> None:
    flip_a_byte(two_models["small"])
    assert_user_error(invoke("info", "small"), two_models["small"].name, "corrupted or modified")


def test_verify_all_models(two_models: dict[str, Path]) -> None:
    result = invoke("verify")
    assert result.exit_code == 0, result.output
    assert [line.split()[:2] for line in result.output.splitlines()] == [
        ["ok", "small"],
        ["ok", "wide"],
    ]


def test_verify_fails_on_a_modified_file_and_names_it(two_models: dict[str, Path]) -> None:
    flip_a_byte(two_models["wide"])
    result = invoke("verify")
    assert_user_error(result, "1 of 2 checkpoints failed verification")
    assert "ok      small" in result.stdout
    assert f"FAILED  wide: {two_models['wide'].resolve()}: sha256 mismatch" in result.stderr


def test_verify_named_models_and_paths(two_models: dict[str, Path], tmp_path: Path) -> None:
    unhashed = tmp_path / "copy.pt"
    unhashed.write_bytes(two_models["small"].read_bytes())
    result = invoke("verify", "wide", str(two_models["small"]), str(unhashed))
    assert result.exit_code == 0, result.output
    assert "no hash in its name" in result.output
    assert_user_error(invoke("verify", "wide", "wdie"), "did you mean 'wide'?")


def test_verify_without_models(models_dir: Path) -> None:
    result = invoke("verify")
    assert result.exit_code == 0 and "nothing to verify" in result.output


def write_reference_files(directory: Path) -> tuple[Path, Path, nn.Module]:
    """A small AVPC saved as the reference implementation's frame_best.pth / sound_best.pth."""
    torch.manual_seed(0)
    model = build_net("avpc", sound={"ngf": 4, "train_cycles": 1})
    net_frame, net_sound = to_reference_state_dicts(model.state_dict())
    directory.mkdir(parents=True, exist_ok=True)
    frame, sound = directory / "frame_best.pth", directory / "sound_best.pth"
    torch.save(net_frame, frame)
    torch.save(net_sound, sound)
    return frame, sound, model


def test_convert_and_register(models_dir: Path, tmp_path: Path) -> None:
    frame, sound, model = write_reference_files(tmp_path / "reference")
    result = invoke(
        "convert", "--frame", str(frame), "--sound", str(sound), "--name", "avpc-ref",
        "--out", str(models_dir), "--register", "--default",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    entry = find_model("avpc-ref")
    assert entry.default and entry.arch == "avpc"
    assert f"wrote {entry.file}" in result.output
    loaded = load_checkpoint(entry.file)
    assert loaded.config["sound"]["ngf"] == 4 and loaded.config["visual"]["freeze_trunk"]
    assert loaded.summary["converted_from"]["sound"]["file"] == "sound_best.pth"
    for key, tensor in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[key], tensor), key
    assert invoke("verify", "avpc-ref").exit_code == 0


def test_convert_errors(models_dir: Path, tmp_path: Path) -> None:
    frame, sound, _ = write_reference_files(tmp_path / "reference")
    out = tmp_path / "out"

    def convert(frame_file: Path | str, sound_file: Path | str, *options: str) -> Result:
        files = ["--frame", str(frame_file), "--sound", str(sound_file), "--out", str(out)]
        return invoke("convert", *files, *(options or ("--name", "x")))

    assert_user_error(convert(sound, frame), "cannot convert", "net_frame")
    text = tmp_path / "notes.pth"
    text.write_text("not torch\n")
    assert_user_error(convert(text, sound), "notes.pth: not a torch file")
    bad_name = convert(frame, sound, "--name", "a b")
    assert bad_name.exit_code == 2 and "checkpoint name 'a b'" in bad_name.output
    no_register = convert(frame, sound, "--name", "x", "--default")
    assert no_register.exit_code == 2 and "need --register" in no_register.output
    missing = convert("absent.pth", sound)
    assert missing.exit_code == 2 and "absent.pth" in missing.output
    assert not out.exists() or list(out.iterdir()) == []


def test_export_half_drops_resume_state_and_registers(models_dir: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_net("avpc", sound={"ngf": 4, "train_cycles": 1})
    state = {"optimizer": {"m": torch.randn(400_000)}}
    run_file = save_checkpoint(model, tmp_path / "run", "run", summary={"steps": 7}, extra=state)
    card = tmp_path / "card.md"
    card.write_text("# a card\n")
    result = invoke(
        "export", str(run_file), "--name", "avpc-small", "--out", str(models_dir), "--half",
        "--register", "--default", "--card", str(card), "--description", "exported net",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    entry = find_model("avpc-small")
    assert entry.default and entry.description == "exported net"
    assert entry.card is not None and entry.card.resolve() == card.resolve()
    assert entry.file.stat().st_size < run_file.stat().st_size / 2  # no optimizer, half weights
    raw = torch.load(entry.file, weights_only=True)
    assert raw["extra"] == {} and raw["summary"]["steps"] == 7
    assert raw["summary"]["exported_from"]["file"] == run_file.name
    floats = [t for t in raw["state_dict"].values() if t.is_floating_point()]
    assert floats and all(t.dtype == torch.float16 for t in floats)
    loaded = load_checkpoint(entry.file)
    for key, tensor in model.state_dict().items():
        got = loaded.model.state_dict()[key]
        assert got.dtype == tensor.dtype, key
        if tensor.is_floating_point():  # float16 keeps 11 significant bits
            assert torch.allclose(got, tensor, rtol=1e-3, atol=1e-4), key
        else:
            assert torch.equal(got, tensor), key


def test_export_full_keeps_the_weights_and_refuses_bad_input(
    models_dir: Path, tmp_path: Path
) -> None:
    model = build_net("avpc", sound={"ngf": 4, "train_cycles": 1})
    run_file = save_checkpoint(model, tmp_path / "run", "run")
    out = tmp_path / "release"
    result = invoke("export", str(run_file), "--name", "full", "--out", str(out))
    assert result.exit_code == 0, result.output
    (written,) = out.glob("full-*.pt")
    loaded = load_checkpoint(written)
    for key, tensor in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[key], tensor), key
    assert_user_error(invoke("export", "no-such-model", "--name", "x", "--out", str(out)),
                      "no-such-model")  # fmt: skip
    assert_user_error(invoke("export", "absent.pt", "--name", "x", "--out", str(out)), "absent.pt")
    needs = invoke("export", str(run_file), "--name", "x", "--out", str(out), "--card", __file__)
    assert needs.exit_code == 2 and "need --register" in needs.output


def test_export_trunk_starts_another_net_from_the_same_trunk(
    models_dir: Path, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    avpc = build_net("avpc", visual={"trunk_input_size": 32}, sound={"ngf": 4, "train_cycles": 1})
    source = save_checkpoint(avpc, tmp_path, "pretrained")
    out = tmp_path / "trunk.pth"
    result = invoke("export-trunk", str(source), str(out))
    assert result.exit_code == 0, result.output
    torch.manual_seed(1)
    sop = build_net("sop", ngf=4, trunk_weights=str(out), freeze_trunk=True)
    for key, value in avpc.visual_net.trunk.state_dict().items():
        assert torch.equal(sop.visual_net.trunk.state_dict()[key], value), key
    assert_user_error(invoke("export-trunk", str(source), str(out)), "already exists")
    assert invoke("export-trunk", str(source), str(out), "--overwrite").exit_code == 0
    assert_user_error(invoke("export-trunk", "nothing-here", str(tmp_path / "x.pth")), "nothing")
    tiny = save_checkpoint(TinyLinear(4), tmp_path, "tiny")
    assert_user_error(invoke("export-trunk", str(tiny), str(tmp_path / "y.pth")), "no visual trunk")
