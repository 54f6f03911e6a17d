"""``<samba>`` and ``<smb>`` → Debian's ``smbd.service``, through systemd (the ``systemd`` agent).

Debian has no OCF agent that runs Samba's daemons (resource-agents' ``smb-share`` edits shares of a running
smbd), so the element starts, stops and checks the unit Debian's samba package installs:

    rgmanager attribute  equivalent here (rgmanager's default)
    name                 the resource's name; the unit is always smbd.service
    config_file          no equivalent: smbd reads /etc/samba/smb.conf (/etc/samba/smb.conf)
    smbd_options,        no equivalent: set them in the unit (systemctl edit smbd)
    nmbd_options
    workgroup (<smb>)    no equivalent: workgroup in smb.conf
    shutdown_wait        no equivalent: the unit's TimeoutStopSec

Differences an administrator sees: rgmanager ran one smbd and one nmbd per service, each with its own
configuration file (so two Samba services could run on one node); here there is one smbd per node, and nmbd
(NetBIOS names) is not started: add ``<systemd name="nmbd" unit="nmbd.service"/>`` when clients need it.
Disable the units at boot (``systemctl disable smbd nmbd``): the cluster must be the only one starting them.
Like every ``systemd`` resource this needs systemd as PID 1, and says so when it is not.
"""

from __future__ import annotations

from collections.abc import Callable

from quorate.config.rgtree import Node
from quorate.resources.agents.systemd import SystemdAgent, systemd_is_init

UNIT = "smbd.service"


class SambaAgent(SystemdAgent):
    def __init__(self, rtype: str, booted: Callable[[], bool] = systemd_is_init) -> None:
        super().__init__(booted)
        self.type = rtype

    def unit(self, res: Node) -> str:
        return UNIT
