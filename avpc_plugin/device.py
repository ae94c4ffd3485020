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
