"""A registry of networks by name, so configs and checkpoints can rebuild any net.

Every registered class keeps the keyword arguments it was built with in ``self.config`` (a
JSON-friendly dict), so ``build_net(name, **net.config)`` rebuilds the same architecture.

The built-in nets are always registered before anyone can look them up: importing this module
imports its package first, and ``avpc_plugin/nets/__init__.py`` imports every built-in net module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

_NETS: dict[str, type[nn.Module]] = {}

NetT = TypeVar("NetT", bound=type[nn.Module])


def register_net(name: str) -> Callable[[NetT], NetT]:
    """Class decorator: register a network class under ``name``."""

    def decorate(cls: NetT) -> NetT:
        if name in _NETS and _NETS[name] is not cls:
            raise ValueError(f"a network named {name!r} is already registered ({_NETS[name]})")
        _NETS[name] = cls
        cls.registered_name = name  # type: ignore[attr-defined]
        return cls

    return decorate


def list_nets() -> list[str]:
    """Names of all registered networks, sorted."""
    return sorted(_NETS)


def get_net_class(name: str) -> type[nn.Module]:
    """The class registered under ``name``; a KeyError lists the known names."""
    try:
        return _NETS[name]
    except KeyError:
        known = ", ".join(sorted(_NETS)) or "(none)"
        raise KeyError(f"unknown network {name!r}; known networks: {known}") from None


def build_net(name: str, **config: Any) -> nn.Module:
    """Build the network registered under ``name`` with keyword ``config``.

    Raises:
        KeyError: no network of that name.
        TypeError: a config key the network does not take (the message names it).
    """
    cls = get_net_class(name)
    try:
        return cls(**config)
    except TypeError as err:
        raise TypeError(f"network {name!r}: bad config {sorted(config)}: {err}") from err
