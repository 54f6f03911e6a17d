"""Helpers for the application-agent tests: trees built straight from model objects (no validator), a fake
view of the machine's files for the mappings, and the environment an agent would run with (nothing runs
but the OCF agent's ``meta-data``)."""

from __future__ import annotations

import asyncio
import fnmatch
from collections.abc import Iterable

import pytest

from quorate.config import Resource, Service
from quorate.config.rgtree import Node, ServiceTree, build_tree
from quorate.resources.agents import AgentContext
from quorate.resources.agents.app import AppAgent, AppMapping, Host
from quorate.resources.agents.ocf import OcfCall


def tree_of(*children: Resource, name: str = "web") -> ServiceTree:
    tree = build_tree(Service(name, attrs=(("name", name),), children=children))
    assert not tree.errors, tree.errors
    return tree


def res(rtype: str, *children: Resource, **attrs: str) -> Resource:
    return Resource(rtype, tuple(attrs.items()), children)


def node_of(rtype: str, service: str = "web", **attrs: str) -> Node:
    return tree_of(res(rtype, **attrs), name=service).root.children[0]


def fake_host(files: dict[str, str] | None = None, present: Iterable[str] = ()) -> Host:
    """A machine holding ``files`` (path → text) and the paths in ``present`` (programs, directories)."""
    texts = dict(files or {})
    paths = set(texts) | set(present)
    return Host(
        exists=lambda path: path in paths,
        matching=lambda pattern: sorted(p for p in paths if fnmatch.fnmatch(p, pattern)),
        read=texts.get,
    )


def ctx(timeout: float = 300.0, rsctmp: str = "/run/resource-agents") -> AgentContext:
    return AgentContext(timeout=timeout, node_name="balthasar.localdomain", rsctmp=rsctmp)


def plan(agent: AppAgent, node: Node, action: str = "start", depth: int = 0, timeout: float = 300.0) -> OcfCall:
    call = asyncio.run(agent.plan(node, action, ctx(timeout), depth))
    if not isinstance(call, OcfCall):
        pytest.fail(f"{node.label} {action}: no call planned: {call.message}", pytrace=False)
    return call


def reskeys(call: OcfCall) -> dict[str, str]:
    """The instance parameters of a call, without the OCF_RESKEY_ prefix (and without Pacemaker's meta keys)."""
    prefix = "OCF_RESKEY_"
    return {
        k[len(prefix) :]: v
        for k, v in call.env.items()
        if k.startswith(prefix) and not k.startswith(("OCF_RESKEY_CRM_meta_", "OCF_RESKEY_RGMANAGER_meta_"))
    }


def agent(mapping: AppMapping, host: Host | None = None, ocf_root: str | None = None) -> AppAgent:
    return AppAgent(mapping, host=host or fake_host()) if ocf_root is None else AppAgent(mapping, ocf_root, host)
