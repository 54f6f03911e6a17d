"""The daemon's side of `quorate why`: picks what a name means and hands the node core's live state to the pure
explanations of `quorate.core.explain`.

Theory of operation: a name is a service first (with or without ``service:``), then a configured node (short
names accepted, as everywhere); no name asks about quorum. The edge adds the two things the core must not know:
the wall clock (monotonic times become the ``HH:MM:SS`` an administrator compares with the logs) and the fence
methods of each node, read from the running cluster.conf.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from quorate.core.explain import Explanation, FenceMethods, UnknownName, explain_node, explain_quorum, explain_service
from quorate.node import protocol

if TYPE_CHECKING:
    from quorate.config.model import ClusterConfig
    from quorate.core.node_core import NodeCore


def fence_methods(config: ClusterConfig) -> FenceMethods:
    """Each node's fence methods in order, as (method, agents of its devices joined by "+")."""
    out: dict[int, list[tuple[str, str]]] = {}
    for node in config.nodes:
        for method in node.fence:
            agents = []
            for ref in method.devices:
                device = config.fencedevice(ref.name)
                agents.append(device.agent if device is not None else ref.name)
            out.setdefault(node.nodeid, []).append((method.name, "+".join(agents)))
    return out


def answer_why(
    core: NodeCore, config: ClusterConfig, name: str | None, now: float, *, raw: bool = False
) -> protocol.Answer | protocol.WhyAnswer:
    """The explanation `name` asks for, or a refusal listing every valid name. ``raw``: the sentence alone, as
    plain text (what the command prints without ``--json``, fetched without decoding any JSON)."""
    offset = time.time() - now

    def when(t: float) -> str:
        return time.strftime("%H:%M:%S", time.localtime(t + offset))

    status = core.membership.status(now)
    result: Explanation
    kind = "quorum"
    try:
        if name is None:
            result = explain_quorum(status, qdisk_votes=core.membership.qdisk_votes, when=when, now=now)
        elif name.removeprefix("service:") in core.services.specs:
            kind = "service"
            result = explain_service(core.services, core.fencing, name, fence_methods=fence_methods(config))
        else:
            node = config.node_by_name(name)
            if node is None:
                services = ", ".join(sorted(core.services.specs)) or "none"
                nodes = ", ".join(n.name for n in config.nodes)
                return protocol.Answer(
                    False, error=f"unknown service or node {name!r} (services: {services}; nodes: {nodes})",
                    code="invalid",
                )  # fmt: skip
            kind = "node"
            result = explain_node(status, core.fencing, node.nodeid, fence_methods=fence_methods(config),
                                  when=when, now=now)  # fmt: skip
    except UnknownName as exc:
        return protocol.Answer(False, error=str(exc), code="invalid")
    if raw:
        return protocol.Answer(True, text=result.sentence + "\n")
    return protocol.WhyAnswer(True, kind, result.subject, result.sentence, result.facts)
