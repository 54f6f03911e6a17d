"""qdiskd's ``status_file``: the node's view of the quorum disk, rewritten every cycle, for an administrator's `cat`.

Theory of operation: qdiskd dumped its internal state to the file named by ``<quorumd status_file=...>`` so
that someone debugging a cluster could see, without any tool, what the disk looked like from that node. The
layout below keeps qdiskd's headings (time stamp, node id, score, state, initializing/visible/quorate sets,
master) so that notes written for the original still read right, then adds one line per node with what
quorate knows beyond that. The file is replaced as every file quorate writes (`quorate.system.files`), so a
reader never sees half of it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from quorate.system.files import write_atomically


def _set(ids: Iterable[int]) -> str:
    inside = " ".join(str(i) for i in sorted(ids))
    return f"{{ {inside} }}" if inside else "{ }"


def render(status: dict[str, Any], *, wall_time: float | None = None) -> str:
    """The file's text from ``QdiskStatus.as_dict()`` (the same data as ``quorate status --json``)."""
    stamp = time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(wall_time))
    nodes = status.get("nodes", ())
    initializing = [n["nodeid"] for n in nodes if n.get("state") == "Initializing"]
    visible = [n["nodeid"] for n in nodes if n.get("local") or n.get("belief") == "online"]
    master = status.get("master")
    lines = [
        f"Time Stamp: {stamp}",
        f"Node ID: {status['nodeid']}",
        f"Score: {status['score']}/{status['score_max']} (Minimum required = {status['score_required']})",
        f"Current state: {status['state']}",
        f"Initializing Set: {_set(initializing)}",
        f"Visible Set: {_set(visible)}",
        f"Master Node ID: {master if master else 'none'}",
        f"Quorate Set: {_set(status.get('master_mask', ()))}",
        f"Votes counted here: {status['votes']} ({status['reason']})",
        "",
    ]
    for n in nodes:
        age = n.get("last_write_age")
        lines.append(
            f"node {n['nodeid']}: state {n.get('state')}"
            + ("" if n.get("local") else f", belief {n.get('belief')}, misses {n.get('misses')}")
            + (f", last write {age:.1f} s ago" if age is not None else ", never written")
            + (", granted" if n.get("in_master_mask") else "")
        )
    return "\n".join(lines) + "\n"


def write(path: str | Path, status: dict[str, Any]) -> None:
    """Replace ``path`` by the rendered status in one rename; errors are the caller's to log."""
    write_atomically(path, render(status, wall_time=time.time()).encode(), mode=0o644)
