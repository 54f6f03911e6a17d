"""The resource-type catalogue, as the resource side sees it: the same table as `quorate.config.rgcatalogue`.

Theory of operation: the catalogue lives in the configuration layer so that the validator, the schema check and
the tree engine read one table (configuration may not import this package; this package may import
configuration). This module re-exports it under its older name for the agents and tools that import it here.
"""

from quorate.config.rgcatalogue import (
    HOUR,
    MAX_LEVEL,
    ROOT_TYPES,
    SPECIAL_ATTRIBUTES,
    TYPES,
    ActionSpec,
    ChildSpec,
    ParamSpec,
    TypeSpec,
    start_level,
    stop_level,
    type_spec,
)

__all__ = [
    "HOUR",
    "MAX_LEVEL",
    "ROOT_TYPES",
    "SPECIAL_ATTRIBUTES",
    "TYPES",
    "ActionSpec",
    "ChildSpec",
    "ParamSpec",
    "TypeSpec",
    "start_level",
    "stop_level",
    "type_spec",
]
