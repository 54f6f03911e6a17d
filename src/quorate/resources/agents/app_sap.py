"""``<SAPInstance>`` and ``<SAPDatabase>`` → ``ocf:heartbeat:SAPInstance`` and ``ocf:heartbeat:SAPDatabase``.

rgmanager's two SAP agents were copies of these OCF agents, with the same parameter names (``InstanceName``,
``DIR_EXECUTABLE``, ``START_PROFILE``..., and ``SID``, ``DBTYPE``...), so every attribute passes through
unchanged and nothing is derived. The agents need SAP's own programs (``sapstartsrv``, ``sapcontrol``,
``saphostctrl``); without them they fail with their own message. Timeouts are the agents' (SAPInstance
starts in up to 180 s, SAPDatabase in up to 1800 s); ``shutdown_wait``, if given, sets the stop timeout.
"""

from __future__ import annotations

from quorate.config.rgtree import Node
from quorate.resources.agents.app import AppMapping, Host


def unchanged(res: Node, host: Host) -> dict[str, str]:
    return {}


MAPPINGS = (
    AppMapping("SAPInstance", "SAPInstance", unchanged),
    AppMapping("SAPDatabase", "SAPDatabase", unchanged),
)
