"""Device choice: CUDA when present, else CPU, and clear errors for bad names."""

import pytest
import torch

from avpc_plugin.device import devices_to_measure, resolve_device


def test_auto_picks_cuda_only_when_available() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device(None).type == expected
    assert resolve_device("auto").type == expected


def test_explicit_cpu() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


def test_bad_name_is_named_in_the_error() -> None:
    with pytest.raises(ValueError, match="'gpu0'"):
        resolve_device("gpu0")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_is_refused() -> None:
    with pytest.raises(ValueError, match="no CUDA device"):
        resolve_device("cuda")


def test_measured_devices_follow_the_choice() -> None:
    cuda = [torch.device("cuda")] if torch.cuda.is_available() else []
    assert devices_to_measure("cpu") == [torch.device("cpu")]
    assert devices_to_measure("all") == [torch.device("cpu"), *cuda]
    with pytest.raises(ValueError, match="'tpu'"):
        devices_to_measure("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_measuring_cuda_without_cuda_is_refused() -> None:
    with pytest.raises(ValueError, match="no CUDA device"):
        devices_to_measure("cuda")
