"""Resource agents: one class per resource type, all following `Agent`'s async start/stop/status contract.

Theory of operation: `default_agents` maps each type quorate can run on this node to an agent instance
(script, fs, ip, lvm, ocf, systemd, and the no-op ``service`` root); `agent_for` returns that agent or a
`MissingAgent` that fails every start with "no agent for resource type X" (apache, mysql... are known to the
tree for ordering, but not runnable). Agents hold no per-resource state; the runner owns timing and counts.
"""

from __future__ import annotations

from collections.abc import Mapping

from quorate.resources.agents.base import (
    Agent,
    AgentContext,
    AgentOutcome,
    MissingAgent,
    ServiceAgent,
)
from quorate.resources.agents.fs import FsAgent
from quorate.resources.agents.ip import IpAgent
from quorate.resources.agents.lvm import LvmAgent
from quorate.resources.agents.ocf import OcfAgent
from quorate.resources.agents.script import ScriptAgent
from quorate.resources.agents.systemd import SystemdAgent


def default_agents() -> dict[str, Agent]:
    """A fresh agent per runnable type."""
    agents: list[Agent] = [ServiceAgent(), ScriptAgent(), FsAgent(), IpAgent(), LvmAgent(), OcfAgent(), SystemdAgent()]
    return {agent.type: agent for agent in agents}


RUNNABLE = frozenset(default_agents())


def agent_for(rtype: str, agents: Mapping[str, Agent] | None = None) -> Agent:
    table = default_agents() if agents is None else agents
    return table.get(rtype) or MissingAgent(rtype)


__all__ = [
    "RUNNABLE",
    "Agent",
    "AgentContext",
    "AgentOutcome",
    "FsAgent",
    "IpAgent",
    "LvmAgent",
    "MissingAgent",
    "OcfAgent",
    "ScriptAgent",
    "ServiceAgent",
    "SystemdAgent",
    "agent_for",
    "default_agents",
]
