"""rgmanager types with no agent on a Debian machine: the configuration loads, orders and simulates, and a
start fails at once with what to install or use instead.

Theory of operation: `hint_for` knows, per type, the nearest equivalent (an OCF agent of resource-agents
used through ``<ocf agent=...>``, or another package); `UnavailableAgent` is `MissingAgent` with that hint
in its message: "resource type oracledb: no agent on this machine: install ...". A stop succeeds (nothing
of that type can have been started here) and a status check fails, as for any type without an agent.
"""

from __future__ import annotations

from collections.abc import Callable

from quorate.config.rgtree import Node
from quorate.resources.agents.base import OCF_ERR_INSTALLED, AgentContext, AgentOutcome, MissingAgent, failure


def _attr(res: Node, name: str, placeholder: str) -> str:
    return (res.attrs.get(name) or "").strip() or placeholder


HINTS: dict[str, Callable[[Node], str]] = {
    "oracledb": lambda res: (
        'install Oracle\'s agent or use <ocf agent="ocf:heartbeat:oracle" sid=...> '
        'with <ocf agent="ocf:heartbeat:oralsnr"> for its listener'
    ),
    "orainstance": lambda res: 'install Oracle\'s agent or use <ocf agent="ocf:heartbeat:oracle" sid=...>',
    "oralistener": lambda res: 'install Oracle\'s agent or use <ocf agent="ocf:heartbeat:oralsnr" sid=...>',
    "oradg": lambda res: "install Oracle's agent (resource-agents has none for Data Guard)",
    "ASEHAagent": lambda res: (
        'use <ocf agent="ocf:heartbeat:sybaseASE" sybase_home=... server_name=...> (Sybase\'s own agent)'
    ),
    "drbd": lambda res: 'install the Debian package drbd-utils and use <ocf agent="ocf:linbit:drbd">',
    "bind-mount": lambda res: (
        f'use <ocf agent="ocf:heartbeat:Filesystem" device="{_attr(res, "source", "SOURCE")}" '
        f'directory="{_attr(res, "mountpoint", "MOUNTPOINT")}" fstype="none" options="bind">'
    ),
    "netfs": lambda res: (
        f'use <ocf agent="ocf:heartbeat:Filesystem" device="{_attr(res, "host", "HOST")}:'
        f'{_attr(res, "export", "/EXPORT")}" directory="{_attr(res, "mountpoint", "MOUNTPOINT")}" '
        f'fstype="{_attr(res, "fstype", "nfs")}">'
    ),
    "clusterfs": lambda res: (
        "GFS2 and OCFS2 need the kernel DLM of corosync, which quorate does not run: use an <fs> "
        "that one node mounts at a time"
    ),
    "vm": lambda res: (
        'install the Debian package libvirt-daemon-system and use <ocf agent="ocf:heartbeat:VirtualDomain" '
        f'config="/etc/libvirt/qemu/{_attr(res, "name", "NAME")}.xml">'
    ),
    "db2": lambda res: 'use <ocf agent="ocf:heartbeat:db2" instance=...> (IBM\'s Db2 must be installed)',
}


class UnavailableAgent(MissingAgent):
    """A known rgmanager type that nothing on this machine runs; the message says what to do instead."""

    def _message(self, res: Node) -> str:
        hint = HINTS.get(self.type)
        advice = hint(res) if hint is not None else "no equivalent is known"
        return f"resource type {self.type}: no agent on this machine: {advice}"

    async def _start(self, res: Node, ctx: AgentContext) -> AgentOutcome:
        return failure(OCF_ERR_INSTALLED, self._message(res))

    async def _status(self, res: Node, depth: int, ctx: AgentContext) -> AgentOutcome:
        return failure(OCF_ERR_INSTALLED, self._message(res))


def hint_for(rtype: str) -> UnavailableAgent | None:
    return UnavailableAgent(rtype) if rtype in HINTS else None
