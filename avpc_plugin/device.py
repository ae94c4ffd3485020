"""Choosing the torch device: CUDA when present, else CPU, unless the user names one."""

from __future__ import annotations

import torch


def resolve_device(spec: str | torch.device | None = None) -> torch.device:
    """Return the device to run on.

    Args:
        spec: ``None`` or ``"auto"`` picks CUDA when available, else CPU; otherwise any string
            torch understands (``"cpu"``, ``"cuda"``, ``"cuda:1"``) or a ``torch.device``.

    Raises:
        ValueError: the spec is not a device name, or names CUDA on a machine without it.
    """
    if spec is None or spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError as err:
        raise ValueError(
            f"--device: {spec!r} is not a device name (expected cpu, cuda or cuda:N)"
        ) from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device: {spec!r} asks for CUDA, but no CUDA device is available")
    return device


MEASURE_CHOICES: tuple[str, ...] = ("cpu", "cuda", "all")
"""What a benchmark's ``--device`` accepts: one device type, or ``all`` (CPU, plus CUDA when
present)."""


def devices_to_measure(choice: str) -> list[torch.device]:
    """The devices a benchmark times, in order, for its ``--device`` choice.

    Args:
        choice: ``"cpu"``, ``"cuda"`` or ``"all"`` (CPU, then CUDA when present).

    Raises:
        ValueError: the choice is not one of :data:`MEASURE_CHOICES`, or it is ``"cuda"`` on a
            machine without CUDA (a GPU row asked for must not silently come back empty).
    """
    if choice not in MEASURE_CHOICES:
        raise ValueError(f"--device: expected one of {', '.join(MEASURE_CHOICES)}, got {choice!r}")
    cuda = torch.cuda.is_available()
    if choice == "cuda" and not cuda:
        raise ValueError("--device cuda: no CUDA device is available to torch")
    devices = [torch.device("cpu")] if choice != "cuda" else []
    if choice != "cpu" and cuda:
        devices.append(torch.device("cuda"))
    return devices
