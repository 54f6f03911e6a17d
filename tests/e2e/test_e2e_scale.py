"""Sixteen testbed nodes and twenty services: one quorate view, every service started, and a node lost.

The cluster is `quorate testbed up --nodes 16 --services 20 --token 3000` (see quorate.testbed.scale): unicast
heartbeats, fence_netns through the testbed's power switch, one ordered failover domain per node with the
rest of its group of four behind it, services whose status check tests a flag file in the node's /run. A
3 s token keeps the test short while leaving 16 daemons on two shared cores room to breathe.

The test prints how long each phase took (run pytest with -s to see them); it asserts generous bounds only.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import pytest
from e2e_helpers import status, wait_for

from quorate.testbed import Testbed
from quorate.testbed.scale import FLAG_DIR, ScaleShape, domain_members, node_name, services_of
from quorate.testbed.scale_bed import up_scale
from quorate.testbed.support import unique_prefix

NODES, SERVICES, TOKEN_MS = 16, 20, 3000
VICTIM = node_name(3)  # owns svc0003 and svc0019; not the coordinator (the lowest nodeid coordinates)
OBSERVER = node_name(1)
TAKER = domain_members(3, NODES)[1]  # node04: next in the victim's domains
CLUSVCADM = [sys.executable, "-m", "quorate.cli.clusvcadm"]


def _bare(name: str) -> str:
    return name.split(":", 1)[-1]


def _started(doc: dict[str, Any]) -> dict[str, str]:
    return {_bare(s["name"]): s["owner"] for s in doc["services"] if s["state"] == "started"}


def one_view_everything_started(tb: Testbed) -> Any:
    """Every node quorate with all 16 members in the same generation, and all services started."""

    def probe() -> tuple[int, dict[str, str]] | None:
        docs = [status(tb, node) for node in tb.nodes]
        if any(doc is None or not doc["quorate"] or len(doc["members"]) != NODES for doc in docs):
            return None
        generations = {doc["generation"] for doc in docs if doc is not None}
        first = docs[0]
        assert first is not None
        started = _started(first)
        if len(generations) != 1 or len(started) != SERVICES:
            return None
        return generations.pop(), started

    probe.testbed = tb  # type: ignore[attr-defined]
    return probe


def settled_home(tb: Testbed, preferred: dict[str, str]) -> Any:
    """One view of every node with every service started on its preferred node."""
    everything = one_view_everything_started(tb)

    def probe() -> tuple[int, dict[str, str]] | None:
        seen = everything()
        return seen if seen is not None and seen[1] == preferred else None

    probe.testbed = tb  # type: ignore[attr-defined]
    return probe


@pytest.fixture
def scale_bed(require_root: None) -> Any:
    prefix = unique_prefix()
    bed: Testbed | None = None
    try:
        bed = up_scale(ScaleShape(nodes=NODES, services=SERVICES, token_ms=TOKEN_MS), prefix=prefix)
        yield bed
    finally:
        if bed is not None:
            bed.down()
        Testbed.down_prefix(prefix)


@pytest.mark.timeout(300)
def test_sixteen_nodes_form_one_view_and_recover_a_powered_off_node(scale_bed: Testbed) -> None:
    tb = scale_bed
    t0 = time.monotonic()
    what = f"{NODES} members in one quorate view, {SERVICES} services started"
    generation, owners = wait_for(what, one_view_everything_started(tb), 90)
    formed = time.monotonic() - t0
    preferred = {f"svc{index:04d}": node_name((index - 1) % NODES + 1) for index in range(1, SERVICES + 1)}
    # The domains spread the services, one per node first; a node that joined late (16 daemons on two cores)
    # leaves its services on the next node of their domains, where nofailback keeps them: an administrator
    # moves them home, as the test does, so that what follows is the same on every run.
    astray = sorted(name for name, owner in owners.items() if owner != preferred[name])
    for name in astray:
        moved = tb.exec(OBSERVER, [*CLUSVCADM, "-r", name, "-m", preferred[name]], timeout=60)
        assert moved.returncode == 0, moved.stdout + moved.stderr
    if astray:
        generation, owners = wait_for("every service on its preferred node", settled_home(tb, preferred), 60)
    assert owners == preferred, owners
    victims = services_of(VICTIM, SERVICES, NODES)
    assert victims == ["svc0003", "svc0019"]
    for name in victims:  # the service really runs there: its flag file exists on the victim only
        assert tb.exec(VICTIM, ["test", "-e", f"{FLAG_DIR}/{name}"]).returncode == 0
        assert tb.exec(TAKER, ["test", "-e", f"{FLAG_DIR}/{name}"]).returncode != 0

    t1 = time.monotonic()
    tb.power_off(VICTIM)

    def recovered() -> dict[str, Any] | None:
        doc = status(tb, OBSERVER)
        if doc is None or len(doc["members"]) != NODES - 1 or not doc["quorate"]:
            return None
        fenced = [h for h in doc["fencing"]["history"] if h["name"] == VICTIM and h["ok"]]
        started = _started(doc)
        if not fenced or any(started.get(name) != TAKER for name in victims):
            return None
        return doc

    recovered.testbed = tb  # type: ignore[attr-defined]
    doc = wait_for(f"{VICTIM} evicted and fenced, its services started on {TAKER}", recovered, 60)
    failover = time.monotonic() - t1
    assert generation < doc["generation"]
    assert 3 not in doc["members"]
    assert len(_started(doc)) == SERVICES  # nothing else moved or stopped
    assert {name: owner for name, owner in _started(doc).items() if name not in victims} == {
        name: owner for name, owner in owners.items() if name not in victims
    }
    for name in victims:
        assert tb.exec(TAKER, ["test", "-e", f"{FLAG_DIR}/{name}"]).returncode == 0
    # The rest agree: every surviving node sees the same 15 members in the same generation.
    views = {(d["generation"], tuple(d["members"])) for d in (status(tb, n) for n in tb.nodes if n != VICTIM) if d}
    assert len(views) == 1
    print(f"\n{NODES} nodes, {SERVICES} services: one view with every service started {formed:.1f} s after up; "
          f"power-off to services started elsewhere (token {TOKEN_MS} ms, fence included) {failover:.1f} s")
