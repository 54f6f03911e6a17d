"""What a configuration change does, in words for administrators: ``quorate config diff``, pushes, ``ccs_tool
--dry-run``. One line per change, computed from a `ConfigChange` (`describe`).
"""

from __future__ import annotations

from collections.abc import Iterable

from quorate.config.change_model import ConfigChange, Field, ServiceChange, WitnessChange


def _joined(fields: Iterable[Field]) -> str:
    return ", ".join(str(f) for f in fields)


def _describe(change: ConfigChange) -> Iterable[str]:
    yield f"config_version {change.version_before} -> {change.version_after}"
    v = change.votes
    for node in change.nodes:
        if node.kind == "added":
            yield f"node {node.name}: added (nodeid {node.nodeid}, votes {node.votes_after})"
        elif node.kind == "removed":
            yield f"node {node.name}: removed (nodeid {node.nodeid}, votes {node.votes_before})"
        else:
            yield f"node {node.name} (nodeid {node.nodeid}): {_joined(node.fields)}"
    if v.changed or change.nodes:
        explicit = " (explicit)" if v.expected_explicit_after else " (sum of node votes)"
        disk = f", quorum disk votes {v.qdisk_votes_before} -> {v.qdisk_votes_after}" if v.qdisk_votes_after else ""
        yield (
            f"votes: expected {v.expected_before} -> {v.expected_after}{explicit}, node votes {v.node_votes_before} -> "
            f"{v.node_votes_after}{disk}; quorum with every node up {v.quorum_before} -> {v.quorum_after}"
        )
    for item in change.cluster:
        yield f"cluster: {item}"
    for item in change.totem:
        yield f"totem: {item}"
    for device in change.fence_devices:
        users = f" (used by {', '.join(device.used_by)})" if device.used_by else ""
        details = f": {_joined(device.fields)}" if device.fields else ""
        yield f"fence device {device.name}: {device.kind}{details}{users}"
    for item in change.fence_daemon:
        yield f"fence_daemon: {item}"
    if change.quorumd is not None:
        q = change.quorumd
        details = f": {_joined(q.fields)}" if q.fields else ""
        restart = f" (restarts the disk service: {', '.join(q.restart_fields)})" if q.restart_fields else ""
        yield f"quorum disk: {q.kind}{details}{restart}"
    if change.witness is not None:
        yield _describe_witness(change.witness)
    for domain in change.domains:
        details = f": {_joined(domain.fields)}" if domain.fields else ""
        services = f" (places {', '.join(domain.services)})" if domain.services else ""
        yield f"failover domain {domain.name}: {domain.kind}{details}{services}"
    for item in change.rm:
        yield f"rm: {item}"
    for service in change.services:
        yield _describe_service(service)


def _describe_witness(w: WitnessChange) -> str:
    if w.kind == "added":
        text = "witness: added, applied live: every node asks it for its vote"
        if w.two_node_flips:
            text += "; two_node now yields to it (only the half holding its vote stays quorate)"
        return text
    if w.kind == "removed":
        text = "witness: removed, applied live: every node gives its vote back and counts the nodes' votes alone"
        if w.two_node_flips:
            text += "; two_node applies again (each half quorate, the fence race decides)"
        return text
    return (
        f"witness: {_joined(w.fields)}, applied live: each node restarts its witness link with the new settings "
        "(its vote is given back and asked for again)"
    )


def _describe_service(service: ServiceChange) -> str:
    head = f"service {service.name}: "
    placement = f"; placement: {_joined(service.placement)}" if service.placement else ""
    if service.action == "add":
        return head + f"added, stays stopped until `clusvcadm -e {service.name}`"
    if service.action == "remove":
        return head + "removed, stopped first" + (f" ({', '.join(service.stop)})" if service.stop else "")
    if service.action == "restart":
        why = f" ({'; '.join(service.causes)})" if service.causes else ""
        if service.whole:
            return head + f"restart{why}" + placement
        parts = []
        if service.stop:
            parts.append(f"stops {', '.join(service.stop)}")
        if service.start:
            parts.append(f"starts {', '.join(service.start)}")
        return head + f"restart{why}: {', then '.join(parts)}; the rest of the service keeps running" + placement
    if service.action == "reconfigure":
        return head + f"reconfigured in place ({', '.join(service.reconfigure)}), nothing stops" + placement
    return head + f"placement: {_joined(service.placement)}, nothing stops"


def describe(change: ConfigChange) -> list[str]:
    """One line per change, for administrators (``quorate config diff``, pushes, ``ccs_tool --dry-run``)."""
    return list(_describe(change))
