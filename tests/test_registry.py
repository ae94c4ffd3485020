"""The model registry: index search path, precedence, lookup, verification, registration."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import pytest
import torch
from helpers_nets import TINY_LINEAR as TINY
from helpers_nets import TinyLinear

from avpc_plugin.checkpoints import registry
from avpc_plugin.checkpoints.files import CheckpointError, sha256_file
from avpc_plugin.checkpoints.format import (
    checkpoint_payload,
    count_parameters,
    read_checkpoint_metadata,
    save_checkpoint,
)
from avpc_plugin.checkpoints.registry import (
    RegistryError,
    default_model,
    find_model,
    index_search_path,
    list_models,
    load_model,
    project_models_dir,
    read_index,
    register_model,
    resolve_model,
    user_models_dir,
    verify_model,
)


@pytest.fixture
def search_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Two AVPC_MODELS_PATH folders, a user folder and a project folder, all empty, in tmp_path."""
    folders = {name: tmp_path / name for name in ("first", "second", "project")}
    env_path = os.pathsep.join([str(folders["first"]), str(folders["second"])])
    monkeypatch.setenv("AVPC_MODELS_PATH", env_path)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(registry, "project_models_dir", lambda: folders["project"])
    folders["user"] = tmp_path / "xdg" / "avpc" / "models"
    return folders


def add_model(folder: Path, name: str, seed: int = 0, default: bool = False) -> Path:
    """Save a TinyLinear under ``folder`` and register it there; return the checkpoint path."""
    torch.manual_seed(seed)
    path = save_checkpoint(TinyLinear(), folder, name, summary={"seed": seed})
    register_model(path, folder, description=f"{name} seed {seed}", default=default)
    return path


def test_search_path_order(search_path: dict[str, Path]) -> None:
    assert index_search_path() == [
        search_path["first"],
        search_path["second"],
        search_path["user"],
        search_path["project"],
    ]
    assert user_models_dir() == search_path["user"]


def test_user_dir_defaults_to_local_share(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert user_models_dir() == tmp_path / ".local" / "share" / "avpc" / "models"


def test_empty_search_path_lists_nothing(search_path: dict[str, Path]) -> None:
    assert list_models() == []
    assert default_model() is None


def test_earlier_index_wins_a_name_clash(search_path: dict[str, Path]) -> None:
    add_model(search_path["project"], "shared", seed=3)
    add_model(search_path["user"], "shared", seed=2)
    second = add_model(search_path["second"], "shared", seed=1)
    add_model(search_path["second"], "only-second", seed=4)
    assert find_model("shared").file == second
    assert {entry.name for entry in list_models()} == {"shared", "only-second"}
    first = add_model(search_path["first"], "shared", seed=0)
    assert find_model("shared").file == first
    assert find_model("shared").index == search_path["first"] / "index.json"
    assert [entry.name for entry in list_models()].count("shared") == 1


def test_registering_a_name_another_index_holds_warns(search_path: dict[str, Path]) -> None:
    add_model(search_path["project"], "avpc-synth", seed=3)  # the shipped default's name
    with pytest.warns(registry.RegistryWarning, match=r"'avpc-synth' in .*first now hides"):
        add_model(search_path["first"], "avpc-synth", seed=0)
    with pytest.warns(registry.RegistryWarning, match=r"'avpc-synth' in .*xdg.* is hidden by"):
        add_model(search_path["user"], "avpc-synth", seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        add_model(search_path["first"], "avpc-synth", seed=2)  # the same index: an update
        add_model(search_path["second"], "mine", seed=4)


def test_default_model_follows_precedence(search_path: dict[str, Path]) -> None:
    add_model(search_path["project"], "shipped", default=True)
    add_model(search_path["project"], "other", seed=2)
    assert default_model() == find_model("shipped")
    add_model(search_path["user"], "mine", seed=1, default=True)
    assert default_model() == find_model("mine")


def test_register_writes_relative_paths_and_one_default(search_path: dict[str, Path]) -> None:
    folder = search_path["first"]
    a = add_model(folder, "a", seed=0, default=True)
    card = folder / "cards" / "b.md"
    card.parent.mkdir()
    card.write_text("# b\n")
    torch.manual_seed(1)
    b = save_checkpoint(TinyLinear(), folder / "weights", "b")
    register_model(b, folder, description="model b", card=card, default=True)
    raw = json.loads((folder / "index.json").read_text())
    assert raw["models"] == [
        {
            "name": "a",
            "file": a.name,
            "sha256": sha256_file(a),
            "arch": TINY,
            "parameters": 10,
            "size_bytes": a.stat().st_size,
            "description": "a seed 0",
            "card": None,
            "default": False,
        },
        {
            "name": "b",
            "file": f"weights/{b.name}",
            "sha256": sha256_file(b),
            "arch": TINY,
            "parameters": 10,
            "size_bytes": b.stat().st_size,
            "description": "model b",
            "card": "cards/b.md",
            "default": True,
        },
    ]
    assert find_model("b").card == card.resolve()
    assert (find_model("b").parameters, find_model("b").size_bytes) == (10, b.stat().st_size)
    listing = sorted(p.name for p in folder.iterdir())
    assert listing == sorted([a.name, "cards", "weights", "index.json"])  # no temporary files


def test_register_again_updates_the_entry_in_place(search_path: dict[str, Path]) -> None:
    folder = search_path["first"]
    add_model(folder, "a", seed=0)
    add_model(folder, "b", seed=1)
    newer = add_model(folder, "a", seed=2)
    entries = read_index(folder / "index.json")
    assert [entry.name for entry in entries] == ["a", "b"]
    assert entries[0].file == newer.resolve() and entries[0].sha256 == sha256_file(newer)


def test_an_index_without_parameters_and_size_still_loads(search_path: dict[str, Path]) -> None:
    folder = search_path["first"]
    path = add_model(folder, "old")
    index = folder / "index.json"
    raw = json.loads(index.read_text())
    for record in raw["models"]:
        del record["parameters"], record["size_bytes"]
    index.write_text(json.dumps(raw))
    entry = find_model("old")
    assert (entry.parameters, entry.size_bytes) == (None, None)
    assert entry.sha256 == sha256_file(path)
    verify_model(entry)


def test_register_a_net_this_machine_cannot_build(search_path: dict[str, Path]) -> None:
    folder = search_path["first"]
    payload = checkpoint_payload(TinyLinear())
    payload["arch"] = "no-such-net"
    path = folder / "foreign.pt"
    folder.mkdir()
    torch.save(payload, path)
    entry = register_model(path, folder, description="from a newer avpc-plugin")
    assert (entry.arch, entry.parameters, entry.size_bytes) == (
        "no-such-net",
        None,
        path.stat().st_size,
    )
    assert json.loads((folder / "index.json").read_text())["models"][0]["parameters"] is None


def test_register_refuses_a_modified_checkpoint(search_path: dict[str, Path]) -> None:
    torch.manual_seed(0)
    path = save_checkpoint(TinyLinear(), search_path["first"], "a")
    with path.open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(CheckpointError, match="corrupted or modified"):
        register_model(path, search_path["first"], description="a")
    assert not (search_path["first"] / "index.json").exists()


def test_resolve_model_by_name_or_path(search_path: dict[str, Path], tmp_path: Path) -> None:
    path = add_model(search_path["first"], "tiny-alpha")
    assert resolve_model("tiny-alpha") == path.resolve()
    loose = save_checkpoint(TinyLinear(), tmp_path / "loose", "loose")
    assert resolve_model(loose) == loose and resolve_model(str(loose)) == loose
    with pytest.raises(FileNotFoundError, match="no checkpoint file"):
        resolve_model(tmp_path / "absent.pt")


def test_resolve_model_takes_a_training_run_folder(tmp_path: Path) -> None:
    run = tmp_path / "run"
    best = save_checkpoint(TinyLinear(), run, "best")
    last = save_checkpoint(TinyLinear(), run / "checkpoints", "last")
    state = {"best": best.name, "last": f"checkpoints/{last.name}"}
    (run / "state.json").write_text(json.dumps(state))
    assert resolve_model(run) == best
    (run / "state.json").write_text(json.dumps({**state, "best": None}))
    assert resolve_model(str(run)) == last  # no best yet: the last epoch checkpoint
    (run / "state.json").write_text(json.dumps({"best": None, "last": None}))
    with pytest.raises(FileNotFoundError, match=r"run folder .*run has no checkpoint yet"):
        resolve_model(run)


def test_unknown_name_suggests_a_close_one(search_path: dict[str, Path]) -> None:
    add_model(search_path["first"], "tiny-alpha")
    add_model(search_path["second"], "other", seed=1)
    with pytest.raises(KeyError, match=r"did you mean 'tiny-alpha'\?.* models: other, tiny-alpha"):
        resolve_model("tiny-alpah")
    with pytest.raises(KeyError) as info:
        resolve_model("zzzz")
    assert "did you mean" not in str(info.value) and "other, tiny-alpha" in str(info.value)


def test_verify_detects_a_modified_or_missing_file(search_path: dict[str, Path]) -> None:
    path = add_model(search_path["first"], "a")
    verify_model(find_model("a"))
    renamed = path.with_name("a.pt")  # the index's full hash still guards a file without one
    path.rename(renamed)
    with pytest.raises(RegistryError, match=r"model 'a': file .* listed in .* is missing"):
        verify_model(find_model("a"))
    renamed.rename(path)
    with path.open("r+b") as handle:
        handle.seek(200)
        byte = handle.read(1)
        handle.seek(200)
        handle.write(bytes([byte[0] ^ 1]))
    with pytest.raises(CheckpointError, match=rf"{path.name}: sha256 mismatch.*corrupted"):
        verify_model(find_model("a"))


def test_load_model_by_name_checks_the_full_hash(search_path: dict[str, Path]) -> None:
    torch.manual_seed(0)
    net = TinyLinear()
    path = save_checkpoint(net, search_path["first"], "a")
    plain = path.rename(path.with_name("a.pt"))  # no hash in the name: only the index can tell
    register_model(plain, search_path["first"], description="a")
    loaded = load_model("a", device="cpu")
    x = torch.randn(3, 4)
    with torch.no_grad():
        assert torch.equal(loaded.model(x), net(x))
    assert loaded.model.linear.weight.device == torch.device("cpu")
    with plain.open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(CheckpointError, match="corrupted or modified"):
        load_model("a")
    assert load_model(plain).arch == TINY  # a path is loaded as is (no hash to check)


def test_load_model_reports_a_missing_file(search_path: dict[str, Path]) -> None:
    add_model(search_path["first"], "a").unlink()
    with pytest.raises(RegistryError, match="is missing"):
        load_model("a")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "unreadable model index"),
        ('{"entries": []}', r'expected a JSON object \{"models": \[...\]\}'),
        ('{"models": [{"name": "a"}]}', r"models\[0\]: missing or empty string key 'file'"),
        (
            '{"models": [{"name": "a", "file": "a.pt", "sha256": "abc", "arch": "x"}]}',
            "'sha256' must be 64 hex digits",
        ),
        (
            '{"models": [{"name": "a", "file": "a.pt", "sha256": "' + "0" * 64 + '", '
            '"arch": "x", "colour": "red"}]}',
            r"unknown keys \['colour'\]",
        ),
        (
            '{"models": [{"name": "a", "file": "a.pt", "sha256": "' + "0" * 64 + '", '
            '"arch": "x", "parameters": -1}]}',
            r"'parameters' must be a whole number >= 0 or null",
        ),
        (
            '{"models": [{"name": "a", "file": "a.pt", "sha256": "' + "0" * 64 + '", '
            '"arch": "x", "size_bytes": "12 MB"}]}',
            r"'size_bytes' must be a whole number >= 0 or null",
        ),
    ],
)
def test_malformed_index_names_the_file_and_key(
    search_path: dict[str, Path], content: str, message: str
) -> None:
    index = search_path["second"] / "index.json"
    index.parent.mkdir()
    index.write_text(content)
    with pytest.raises(RegistryError, match=message) as info:
        list_models()
    assert str(index) in str(info.value)


def test_the_project_index_is_valid() -> None:
    index = project_models_dir() / "index.json"
    assert index.is_file()
    names = [entry.name for entry in read_index(index)]  # raises on a malformed index
    assert len(names) == len(set(names))


def test_the_project_index_records_what_the_listing_shows() -> None:
    for entry in read_index(project_models_dir() / "index.json"):
        metadata = read_checkpoint_metadata(entry.file, verify=False)
        assert entry.size_bytes == metadata.size_bytes, entry.name
        assert entry.parameters == count_parameters(metadata.arch, metadata.config), entry.name
