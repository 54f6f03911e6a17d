"""What one node's core needs to know of cluster.conf, in the core's own terms.

Theory of operation: the core may not import the configuration package (layers: config sits above core), so
the configuration layer converts a parsed cluster.conf into this one value (`quorate.config.to_core`), and
the daemon, the simulators and `quorate simulate` all build a `NodeCore` from it. A new configuration is a new
`NodeSettings`, handed over whole when it is activated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from quorate.core.fencing import FencingConfig
from quorate.core.membership import MembershipConfig
from quorate.core.placement import ServiceSpec
from quorate.core.qdisk_config import QdiskSettings
from quorate.core.witness_protocol import WitnessSettings

DEFAULT_STATUS_INTERVAL = 10.0
PUSH_TIMEOUT_FLOOR = 10.0


@dataclass(frozen=True)
class NodeSettings:
    """One node's view of the configuration: who it is, and the settings of each core.

    ``config_data`` is the exact file it runs (configuration distribution hands it to joining nodes and
    compares digests); ``status_interval`` is rgmanager's ``status_poll_interval``; ``rm_configured``: the
    file has an ``<rm>`` section (clustat then shows the resource manager on every member); ``witness``: the
    quorum witness (a quorate extension), asked in the name and id of the cluster.
    """

    local_id: int
    membership: MembershipConfig
    fencing: FencingConfig
    services: Mapping[str, ServiceSpec] = field(default_factory=dict)
    qdisk: QdiskSettings | None = None
    status_interval: float = DEFAULT_STATUS_INTERVAL
    config_data: bytes = b""
    rm_configured: bool = False
    witness: WitnessSettings | None = None
    cluster_name: str = ""
    cluster_id: int = 0

    @property
    def names(self) -> dict[int, str]:
        return {n.nodeid: n.name for n in self.membership.nodes}

    @property
    def token_ms(self) -> int:
        return round(self.membership.token * 1000)

    @property
    def push_timeout(self) -> float:
        """How long a configuration push may wait for an answer: 10 s, or two tokens when that is longer."""
        return max(PUSH_TIMEOUT_FLOOR, 2 * self.membership.token)

    @property
    def local_name(self) -> str:
        return self.names[self.local_id]
