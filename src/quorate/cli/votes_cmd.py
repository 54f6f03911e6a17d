"""``cman_tool votes -v N [-n NODE]``: change a node's votes for the whole cluster (spec Q-7).

cman changed the votes in memory only: a node that restarted read the old value from cluster.conf and could
count the cluster differently from the others, which is how two partitions can both believe they are quorate.
quorate makes the same command a configuration change instead: the running cluster.conf with the node's
``votes`` changed and ``config_version`` bumped, pushed to every member all or nothing (as ``ccs_tool
update``), so every node, including one that restarts or joins later, counts the same votes.

The original's validity check comes first: the change is refused when the votes present after it would not
reach the quorum it gives (the cluster would become inquorate).
"""

from __future__ import annotations

import sys
from typing import Any

from quorate.cli import client
from quorate.cli.config_push import push_bytes
from quorate.config import ClusterConfig, ConfigError, parse_config
from quorate.config.edit import Document, EditError
from quorate.config.files import read_config_bytes
from quorate.core.quorum import compute_quorum

PROG = "cman_tool"


def _fail(message: str) -> int:
    print(f"{PROG}: can't set votes: {message}", file=sys.stderr)
    return 1


def quorum_after(status: dict[str, Any], new: ClusterConfig, nodeid: int, votes: int) -> tuple[int, int]:
    """(votes present, quorum) once node ``nodeid`` has ``votes``: what every member computes when it activates
    the new file (its expected votes, recomputed with decrease allowed) for the members of the current view."""
    present = sum(votes if n["nodeid"] == nodeid else n["votes"] for n in status["nodes"] if n["member"])
    present += int(status.get("qdisk_votes") or 0)
    return present, compute_quorum(new.expected_votes, present)


def change_votes(votes: int, node: str | None) -> int:
    if not 1 <= votes <= 255:
        return _fail(f"{votes} is out of range (1 to 255, as cluster.conf allows)")
    try:
        status = client.status()
    except client.NotRunning:
        print(f"{PROG}: Cannot open connection to cman, is it running ?", file=sys.stderr)
        return 1
    path = str(status["config_file"])
    try:
        data = read_config_bytes(path, regular_only=True)
        running = parse_config(data, path)
    except ConfigError as exc:
        return _fail("; ".join(str(p) for p in exc.problems))
    target = running.node_by_name(node) if node else running.node_by_name(str(status["node_name"]))
    if target is None:
        return _fail(f"unknown node {node!r} (nodes: {', '.join(n.name for n in running.nodes)})")
    if not status["quorate"]:
        return _fail("the cluster is not quorate")
    document = Document.parse(data)
    try:
        document.bump_version()
        before = document.set_node_votes(target.name, votes)
        new = parse_config(document.to_bytes(), path)
    except EditError as exc:
        return _fail(str(exc))
    except ConfigError as exc:
        return _fail("; ".join(str(p) for p in exc.problems if p.severity == "error"))
    if before == votes:
        print(f"{target.name} already has {votes} vote(s): nothing to change")
        return 0
    present, quorum = quorum_after(status, new, target.nodeid, votes)
    if present < quorum:
        return _fail(f"the cluster would lose quorum ({present} votes present, quorum would be {quorum})")
    status_code = push_bytes(document.to_bytes(), prog=PROG)
    if status_code == 0:
        print(f"{target.name}: votes {before} -> {votes} (config_version {document.version()}, kept across restarts)")
    return status_code
