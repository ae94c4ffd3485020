"""The background engine: an OSC server that keeps one model warm and runs separation jobs.

``protocol`` (addresses, signatures, the job description), ``transport`` (OSC packets, TCP framing,
reply channels), ``jobs`` (queue and worker), ``server`` (the :class:`Engine`), ``cli``
(``avpc engine``). The protocol is documented for clients in ``bridge/PROTOCOL.md``.
"""

from avpc_plugin.engine.protocol import PROTOCOL_VERSION, Address, ErrorCode, ProtocolError

__all__ = ["PROTOCOL_VERSION", "Address", "ErrorCode", "ProtocolError"]
