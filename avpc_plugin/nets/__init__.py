"""Networks: the PCNet sound net, the visual net, the AVPC model, RCoP heads and the
Sound-of-Pixels baseline. Importing this package registers them all by name."""

from avpc_plugin.nets import avpc, pcnet, rcop, sop, visual  # noqa: F401  (registers)
from avpc_plugin.nets.registry import build_net, get_net_class, list_nets, register_net

__all__ = ["build_net", "get_net_class", "list_nets", "register_net"]
