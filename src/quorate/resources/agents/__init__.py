"""Resource agents: one class per resource type, all following `Agent`'s async start/stop/status contract.

Theory of operation: `default_agents` maps each type quorate can run on this node to an agent instance
(script, fs, ip, lvm, ocf, systemd, lvs with its realserver rows, the no-op ``service`` root, and rgmanager's
application types, which run Debian's OCF agents: apache, mysql, postgres-8, tomcat-5/6, named, nfsserver,
nfsexport, nfsclient, samba, smb, openldap, SAPInstance, SAPDatabase; see `quorate.resources.agents.app`).
`agent_for` returns that agent, or for the rgmanager types nothing here runs (oracledb, drbd, netfs, vm...) an
`UnavailableAgent` whose start fails with what to install or use instead, or for any other type a
`MissingAgent` ("no agent for resource type X"). Agents hold no per-resource state; the runner owns timing and
counts. The one exception is ``lvs``, whose director keeps its health-check task and live table in the node
process (`quorate.resources.agents.lvs`).
"""

from __future__ import annotations

from collections.abc import Mapping

from quorate.resources.agents import (
    app_apache,
    app_mysql,
    app_named,
    app_nfs,
    app_openldap,
    app_pgsql,
    app_sap,
    app_tomcat,
)
from quorate.resources.agents.app import AppAgent, AppMapping
from quorate.resources.agents.app_nfs import NfsExportAgent
from quorate.resources.agents.app_samba import SambaAgent
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
from quorate.resources.agents.lvs import LvsAgent, RealServerAgent
from quorate.resources.agents.ocf import OcfAgent
from quorate.resources.agents.script import ScriptAgent
from quorate.resources.agents.systemd import SystemdAgent
from quorate.resources.agents.unavailable import UnavailableAgent, hint_for

APP_MAPPINGS: tuple[AppMapping, ...] = (
    app_apache.MAPPING,
    app_mysql.MAPPING,
    app_pgsql.MAPPING,
    *app_tomcat.MAPPINGS,
    app_named.MAPPING,
    *app_nfs.MAPPINGS,
    app_openldap.MAPPING,
    *app_sap.MAPPINGS,
)


def default_agents() -> dict[str, Agent]:
    """A fresh agent per runnable type."""
    agents: list[Agent] = [ServiceAgent(), ScriptAgent(), FsAgent(), IpAgent(), LvmAgent(), OcfAgent(), SystemdAgent()]
    agents += [AppAgent(mapping) for mapping in APP_MAPPINGS]
    agents += [NfsExportAgent(), SambaAgent("samba"), SambaAgent("smb"), LvsAgent(), RealServerAgent()]
    return {agent.type: agent for agent in agents}


RUNNABLE = frozenset(default_agents())


def agent_for(rtype: str, agents: Mapping[str, Agent] | None = None) -> Agent:
    table = default_agents() if agents is None else agents
    return table.get(rtype) or hint_for(rtype) or MissingAgent(rtype)


__all__ = [
    "APP_MAPPINGS",
    "RUNNABLE",
    "Agent",
    "AgentContext",
    "AgentOutcome",
    "AppAgent",
    "AppMapping",
    "FsAgent",
    "IpAgent",
    "LvmAgent",
    "LvsAgent",
    "MissingAgent",
    "NfsExportAgent",
    "OcfAgent",
    "RealServerAgent",
    "SambaAgent",
    "ScriptAgent",
    "ServiceAgent",
    "SystemdAgent",
    "UnavailableAgent",
    "agent_for",
    "default_agents",
]
