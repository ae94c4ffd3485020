"""The network registry: names, rebuild from config, clear errors."""

import pytest
from torch import nn

from avpc_plugin.nets.registry import build_net, get_net_class, list_nets, register_net


@register_net("test-registry-linear")
class _Linear(nn.Module):
    def __init__(self, features: int = 3) -> None:
        super().__init__()
        self.config = {"features": features}
        self.linear = nn.Linear(features, features)


def test_registered_net_is_listed_and_rebuilt_from_its_config() -> None:
    assert "test-registry-linear" in list_nets()
    net = build_net("test-registry-linear", features=5)
    assert isinstance(net, _Linear)
    rebuilt = build_net("test-registry-linear", **net.config)
    assert rebuilt.linear.in_features == 5


def test_builtin_nets_are_registered() -> None:
    assert {"avpc", "pcnet", "visual", "sop", "rcop"} <= set(list_nets())


def test_unknown_name_lists_known_ones() -> None:
    with pytest.raises(KeyError, match=r"unknown network 'nope'.*pcnet"):
        get_net_class("nope")


def test_bad_config_key_names_the_net() -> None:
    with pytest.raises(TypeError, match="test-registry-linear"):
        build_net("test-registry-linear", width=3)


def test_a_name_cannot_be_taken_twice() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_net("test-registry-linear")(type("Other", (nn.Module,), {}))
