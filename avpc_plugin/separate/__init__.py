"""Stem separation: the :class:`Separator` (the one inference path) and its stem queries."""

from avpc_plugin.separate.query import StemQuery, parse_stem_spec
from avpc_plugin.separate.separator import (
    SeparationCancelled,
    SeparationResult,
    Separator,
    SilentResidualWarning,
)

__all__ = [
    "SeparationCancelled",
    "SeparationResult",
    "Separator",
    "SilentResidualWarning",
    "StemQuery",
    "parse_stem_spec",
]
