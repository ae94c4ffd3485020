"""Self-describing checkpoints: save / load round trips, naming, hashing and clear failures."""

from __future__ import annotations

import hashlib
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from avpc_plugin.checkpoints.files import CheckpointError, sha256_file
from avpc_plugin.checkpoints.format import (
    FORMAT_NAME,
    FORMAT_VERSION,
    build_model,
    checkpoint_payload,
    count_parameters,
    load_checkpoint,
    read_checkpoint_metadata,
    read_state_dict_file,
    save_checkpoint,
)
from avpc_plugin.nets import build_net
from avpc_plugin.nets.registry import register_net

TINY = "test-checkpoints-tiny"


@register_net(TINY)
class TinyNet(nn.Module):
    """(B, 1, H, W) -> (B, channels, H - 2, W - 2): a conv and a BatchNorm (running stats)."""

    def __init__(self, channels: int = 3) -> None:
        super().__init__()
        self.config: dict[str, Any] = {"channels": channels}
        self.conv = nn.Conv2d(1, channels, 3)
        self.norm = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(x))


def trained_tiny(channels: int = 3, seed: int = 0) -> TinyNet:
    """A TinyNet whose weights and BatchNorm statistics differ from a fresh one's."""
    torch.manual_seed(seed)
    net = TinyNet(channels)
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.add_(torch.randn_like(parameter))
        net.norm.running_mean.normal_()
        net.norm.running_var.uniform_(0.5, 2.0)
        net.norm.num_batches_tracked.fill_(3)
    return net.eval()


@pytest.fixture
def saved(tmp_path: Path) -> tuple[TinyNet, Path]:
    net = trained_tiny()
    return net, save_checkpoint(net, tmp_path, "tiny", summary={"steps": 3, "metrics": {"l": 0.5}})


def rewrite_payload(source: Path, target: Path, **changes: Any) -> Path:
    """Save a copy of a checkpoint payload with some entries changed (None deletes them)."""
    payload = torch.load(source, weights_only=True)
    for key, value in changes.items():
        if value is None:
            del payload[key]
        else:
            payload[key] = value
    torch.save(payload, target)
    return target


def test_round_trip_gives_identical_outputs_and_state(saved: tuple[TinyNet, Path]) -> None:
    net, path = saved
    loaded = load_checkpoint(path)
    assert isinstance(loaded.model, TinyNet)
    assert not loaded.model.training
    assert loaded.arch == TINY and loaded.config == {"channels": 3}
    assert loaded.summary == {"steps": 3, "metrics": {"l": 0.5}}
    expected_state, actual_state = net.state_dict(), loaded.model.state_dict()
    assert list(actual_state) == list(expected_state)
    for key, tensor in expected_state.items():
        assert torch.equal(actual_state[key], tensor), key
    x = torch.randn(2, 1, 9, 7)
    with torch.no_grad():
        assert torch.equal(loaded.model(x), net(x))


def test_file_name_is_name_and_sha256_prefix(saved: tuple[TinyNet, Path]) -> None:
    _, path = saved
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert re.fullmatch(r"tiny-[0-9a-f]{8}\.pt", path.name)
    assert path.name == f"tiny-{digest[:8]}.pt"
    assert sha256_file(path) == digest
    assert load_checkpoint(path).sha256 == digest


def test_plain_torch_load_weights_only_reads_the_file(saved: tuple[TinyNet, Path]) -> None:
    net, path = saved
    payload = torch.load(path, weights_only=True)
    assert payload["format"] == FORMAT_NAME and payload["format_version"] == FORMAT_VERSION
    assert payload["arch"] == TINY
    assert set(payload["versions"]) == {"avpc_plugin", "torch", "python"}
    assert payload["versions"]["torch"] == str(torch.__version__)
    assert torch.equal(payload["state_dict"]["conv.weight"], net.conv.weight)


def test_saving_twice_gives_the_same_file_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    net = trained_tiny()
    first = save_checkpoint(net, tmp_path, "tiny")
    second = save_checkpoint(net, tmp_path, "tiny")
    assert first == second
    assert sorted(p.name for p in tmp_path.iterdir()) == [first.name]


def test_different_weights_give_a_different_file(tmp_path: Path) -> None:
    first = save_checkpoint(trained_tiny(seed=0), tmp_path, "tiny")
    second = save_checkpoint(trained_tiny(seed=1), tmp_path, "tiny")
    assert first != second and first.exists() and second.exists()


def test_refuses_to_overwrite_a_different_file_under_the_same_name(tmp_path: Path) -> None:
    net = trained_tiny()
    scratch = save_checkpoint(net, tmp_path / "scratch", "tiny")
    squatter = tmp_path / scratch.name
    squatter.write_bytes(b"something else")
    with pytest.raises(CheckpointError, match="refusing to overwrite"):
        save_checkpoint(net, tmp_path, "tiny")
    assert squatter.read_bytes() == b"something else"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scratch", scratch.name]


@pytest.mark.parametrize("name", ["", ".hidden", "../escape", "a/b", "with space", "ü"])
def test_bad_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="checkpoint name"):
        save_checkpoint(trained_tiny(), tmp_path, name)
    assert list(tmp_path.iterdir()) == []


def test_dotted_and_underscored_names_are_allowed(tmp_path: Path) -> None:
    path = save_checkpoint(trained_tiny(), tmp_path, "avpc_v1.2-synth")
    assert path.name.startswith("avpc_v1.2-synth-")


def test_a_flipped_byte_is_reported_as_a_hash_mismatch(saved: tuple[TinyNet, Path]) -> None:
    _, path = saved
    expected = path.name[-11:-3]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    actual = hashlib.sha256(bytes(data)).hexdigest()[:8]
    for read in (load_checkpoint, read_checkpoint_metadata):
        with pytest.raises(CheckpointError) as info:
            read(path)
        message = str(info.value)
        assert path.name in message and "corrupted or modified" in message
        assert f"expected {expected}" in message and f"actual {actual}" in message


def test_a_truncated_file_is_reported_with_its_name(saved: tuple[TinyNet, Path]) -> None:
    _, path = saved
    unhashed = path.with_name("plain.pt")  # no hash in the name: the load itself must fail
    unhashed.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=r"plain\.pt: .*truncated / corrupted"):
        load_checkpoint(unhashed)
    with pytest.raises(CheckpointError, match=r"plain\.pt"):
        read_checkpoint_metadata(unhashed)
    path.write_bytes(path.read_bytes()[:100])  # hashed name: caught before loading
    with pytest.raises(CheckpointError, match="corrupted or modified"):
        load_checkpoint(path)


def test_not_a_torch_file_and_missing_file(tmp_path: Path) -> None:
    text = tmp_path / "notes.pt"
    text.write_text("just some text\n")
    with pytest.raises(CheckpointError, match=r"notes\.pt: not a torch file"):
        load_checkpoint(text)
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_checkpoint(tmp_path / "absent-0123abcd.pt")


def test_objects_weights_only_refuses_are_named(tmp_path: Path) -> None:
    with_numpy = tmp_path / "numpy.pt"
    torch.save({"format": FORMAT_NAME, "values": np.zeros(3)}, with_numpy)
    with pytest.raises(CheckpointError, match=r"numpy\.pt: holds a numpy\.\S+ object"):
        load_checkpoint(with_numpy)


def test_hash_check_can_be_skipped_for_a_renamed_but_intact_file(
    saved: tuple[TinyNet, Path],
) -> None:
    _, path = saved
    misnamed = path.with_name("tiny-00000000.pt")
    misnamed.write_bytes(path.read_bytes())
    with pytest.raises(CheckpointError, match="expected 00000000"):
        load_checkpoint(misnamed)
    assert load_checkpoint(misnamed, verify=False).arch == TINY


def test_expected_full_sha256_is_checked(saved: tuple[TinyNet, Path]) -> None:
    _, path = saved
    digest = sha256_file(path)
    assert load_checkpoint(path, expected_sha256=digest).sha256 == digest
    wrong = ("0" if digest[0] != "0" else "1") + digest[1:]
    with pytest.raises(CheckpointError, match=f"expected {wrong}"):
        load_checkpoint(path, expected_sha256=wrong)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format_version": 2}, r"format_version 2 was written by a newer avpc-plugin.*upgrade"),
        ({"format_version": "1"}, r"unknown format_version '1'"),
        ({"format": "something-else"}, r"unknown format 'something-else'"),
        ({"summary": None}, r"missing checkpoint keys \['summary'\]"),
        ({"arch": "no-such-net"}, r"unknown arch: unknown network 'no-such-net'; known networks"),
        ({"config": {"channels": 3, "width": 2}}, r"config does not fit arch"),
        (
            {"config": {"channels": 5}},
            r"key 'conv.weight' has shape \(3, 1, 3, 3\), the config builds \(5, 1, 3, 3\)",
        ),
        ({"state_dict": {"conv.weight": torch.zeros(3, 1, 3, 3)}}, r"missing key 'conv.bias'"),
    ],
)
def test_bad_contents_give_clear_errors(
    saved: tuple[TinyNet, Path], tmp_path: Path, changes: dict[str, Any], message: str
) -> None:
    _, path = saved
    bad = rewrite_payload(path, tmp_path / "bad.pt", **changes)
    with pytest.raises(CheckpointError, match=message) as info:
        load_checkpoint(bad)
    assert "bad.pt" in str(info.value)


def test_an_unexpected_state_dict_key_is_named(saved: tuple[TinyNet, Path], tmp_path: Path) -> None:
    net, path = saved
    state = {**net.state_dict(), "head.weight": torch.zeros(1)}
    bad = rewrite_payload(path, tmp_path / "bad.pt", state_dict=state)
    with pytest.raises(CheckpointError, match=r"unexpected key 'head\.weight'"):
        load_checkpoint(bad)


def test_a_bare_state_dict_points_to_the_converter(tmp_path: Path) -> None:
    bare = tmp_path / "sound_best.pth"
    torch.save(trained_tiny().state_dict(), bare)
    with pytest.raises(CheckpointError, match=r"bare state dict.*avpc models convert"):
        load_checkpoint(bare)
    assert set(read_state_dict_file(bare)) == set(trained_tiny().state_dict())


def test_read_state_dict_file_refuses_non_state_dicts(tmp_path: Path) -> None:
    odd = tmp_path / "odd.pth"
    torch.save({"weight": torch.zeros(2), "step": 3}, odd)
    with pytest.raises(CheckpointError, match=r"odd\.pth: expected a state dict"):
        read_state_dict_file(odd)


def test_extra_state_round_trips_for_exact_resume(tmp_path: Path) -> None:
    net = trained_tiny()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    net(torch.randn(2, 1, 8, 8)).sum().backward()
    optimizer.step()
    random.seed(7)
    extra = {
        "optimizer": optimizer.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "python_rng": random.getstate(),
        "epoch": 4,
    }
    path = save_checkpoint(net, tmp_path, "resume", extra=extra)
    loaded = load_checkpoint(path)
    assert loaded.extra["epoch"] == 4
    assert torch.equal(loaded.extra["torch_rng"], extra["torch_rng"])
    resumed = torch.optim.Adam(loaded.model.parameters(), lr=1e-3)
    resumed.load_state_dict(loaded.extra["optimizer"])
    first_moment = resumed.state_dict()["state"][0]["exp_avg"]
    assert torch.equal(first_moment, optimizer.state_dict()["state"][0]["exp_avg"])
    expected_draws = [random.random() for _ in range(3)]
    random.setstate(loaded.extra["python_rng"])
    assert [random.random() for _ in range(3)] == expected_draws
    extra_keys = read_checkpoint_metadata(path).extra_keys
    assert extra_keys == ["epoch", "optimizer", "python_rng", "torch_rng"]


@pytest.mark.parametrize(
    ("summary", "extra", "message"),
    [
        (None, {"state": np.zeros(3)}, r"extra\['state'\]: a numpy.ndarray"),
        ({"metrics": {"sdr": np.float64(3.0)}}, None, r"summary\['metrics'\]\['sdr'\]: a numpy"),
        ({"torch": torch.__version__}, None, r"summary\['torch'\]: a torch.torch_version"),
        ({"weights": torch.zeros(2)}, None, r"summary\['weights'\]: a torch.Tensor"),
        ({1: "int key"}, None, r"summary: key 1 is a int, expected str"),
        (None, {"fn": print}, r"extra\['fn'\]"),
    ],
)
def test_values_weights_only_could_not_read_are_refused_on_save(
    tmp_path: Path, summary: Any, extra: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        save_checkpoint(trained_tiny(), tmp_path, "tiny", summary=summary, extra=extra)
    assert list(tmp_path.iterdir()) == []


def test_an_unregistered_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Linear is not a registered net"):
        save_checkpoint(nn.Linear(2, 2), tmp_path, "linear")


def test_a_subclass_of_a_registered_net_is_refused(tmp_path: Path) -> None:
    class Wider(TinyNet):
        pass

    with pytest.raises(ValueError, match="Wider is not a registered net"):
        save_checkpoint(Wider(), tmp_path, "wider")


def test_a_data_parallel_wrapper_is_unwrapped() -> None:
    net = trained_tiny()
    payload = checkpoint_payload(nn.DataParallel(net))
    assert payload["arch"] == TINY
    assert set(payload["state_dict"]) == set(net.state_dict())


def test_metadata_reads_without_building(saved: tuple[TinyNet, Path]) -> None:
    _, path = saved
    metadata = read_checkpoint_metadata(path)
    assert metadata.arch == TINY and metadata.config == {"channels": 3}
    assert metadata.summary["steps"] == 3 and metadata.format_version == FORMAT_VERSION
    assert metadata.tensor_shapes["conv.weight"] == (3, 1, 3, 3)
    assert metadata.tensor_shapes["norm.num_batches_tracked"] == ()
    assert metadata.size_bytes == path.stat().st_size
    assert metadata.sha256 == sha256_file(path) and metadata.extra_keys == []


def test_count_parameters_matches_a_built_net() -> None:
    # conv 5 * 1 * 3 * 3 + 5 bias, BatchNorm 5 weight + 5 bias (running stats are buffers)
    assert count_parameters(TINY, {"channels": 5}) == 45 + 5 + 10
    with pytest.raises(CheckpointError, match="unknown arch"):
        count_parameters("no-such-net", {})


def test_build_model_names_the_first_offending_key() -> None:
    state = trained_tiny(channels=3).state_dict()
    assert isinstance(build_model(TINY, {"channels": 3}, state), TinyNet)
    with pytest.raises(CheckpointError, match=r"source-x: .*'conv\.weight'"):
        build_model(TINY, {"channels": 4}, state, source="source-x")


def test_sha256_file_streams_a_known_answer(tmp_path: Path) -> None:
    file = tmp_path / "abc.bin"
    file.write_bytes(b"abc" * 1_000_000)  # several 1 MiB chunks
    assert sha256_file(file) == hashlib.sha256(b"abc" * 1_000_000).hexdigest()
    file.write_bytes(b"abc")
    assert sha256_file(file) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_small_avpc_round_trips_with_identical_outputs(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_net("avpc", sound={"ngf": 4, "train_cycles": 1}).eval()
    path = save_checkpoint(model, tmp_path, "avpc-small", summary={"steps": 0})
    loaded = load_checkpoint(path)
    assert loaded.arch == "avpc" and loaded.config == model.config
    for key, tensor in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[key], tensor), key
    mix_mag = torch.rand(1, 1, 256, 256)
    frames = torch.randn(1, 1, 3, 1, 224, 224)
    with torch.no_grad():
        assert torch.equal(loaded.model(mix_mag, frames), model(mix_mag, frames))
