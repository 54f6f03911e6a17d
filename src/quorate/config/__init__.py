"""cluster.conf: parse, check and model the cluster's configuration.

Theory of operation: `load_config` / `parse_config` are the only entry points. They either return a frozen
`ClusterConfig` holding the *effective* values (defaults and derivations applied, warnings attached) or raise
`ConfigError` with every located `Problem` found in one pass. Nothing here performs network or cluster I/O;
reading the file is the only side effect.
"""

from quorate.config.derive import cluster_id_from_name, derived_multicast
from quorate.config.files import MAX_BYTES
from quorate.config.model import (
    Action,
    AltName,
    ClusterConfig,
    ClusterNode,
    DomainNode,
    FailoverDomain,
    FenceDaemon,
    FenceDevice,
    FenceDeviceRef,
    FenceMethod,
    Heuristic,
    Quorumd,
    Resource,
    ResourceManager,
    Service,
)
from quorate.config.parser import DEFAULT_PATH, load_config, parse_config
from quorate.config.problems import ConfigError, ConfigReadError, Problem

__all__ = [
    "DEFAULT_PATH",
    "MAX_BYTES",
    "Action",
    "AltName",
    "ClusterConfig",
    "ClusterNode",
    "ConfigError",
    "ConfigReadError",
    "DomainNode",
    "FailoverDomain",
    "FenceDaemon",
    "FenceDevice",
    "FenceDeviceRef",
    "FenceMethod",
    "Heuristic",
    "Problem",
    "Quorumd",
    "Resource",
    "ResourceManager",
    "Service",
    "cluster_id_from_name",
    "derived_multicast",
    "load_config",
    "parse_config",
]
