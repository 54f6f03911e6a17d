"""Upgrading a running cluster from earlier releases to this one, as CHANGELOG.md says.

Each release's source is kept in ``releases/`` (a CI clone may lack the tags) and runs with this virtualenv's
Python; the testbed, the LUN and the commands that drive it are this release's.

From the previous release (``PREVIOUS``), which speaks this one's wire protocol: a rolling upgrade, one node at a
time, in a live cluster that stays quorate, fences nobody and never mounts the shared disk twice.

From ``WIRE_CHANGE_FROM``, the last release of the older wire protocol, three steps, each checked as an
administrator would:

1. the article's cluster (service ``test``: the init script writing on an ext3 LUN) runs under that release,
   and the service starts on balthasar;
2. the documented upgrade: quorated stopped on every node (a clean leave: nobody is fenced, the service is
   stopped), this release started on every node with the same files: the view's generation and each node's boot
   epoch go on from where they were, the configuration version is kept, and the service starts again;
3. what a forgotten node does: melchior is started with the old release again. The wire version differs,
   so it cannot join: the others say so once in their log, stay quorate with two votes, and fence nobody;
   melchior alone is not quorate and starts nothing. Started with this release again, it rejoins.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import wait_for
from release_archives import release_source
from test_e2e_resources import lun  # noqa: F401  (a fixture)

from quorate.testbed import Testbed, article
from quorate.testbed.article import MOUNTPOINT, OUTPUT, Timings, write_service_files
from quorate.testbed.power import start_power_switch

WIRE_CHANGE_FROM = "v0.1.0"  # the release before the wire protocol changed
PREVIOUS = "v0.4.0"  # the previous release: a rolling upgrade from it keeps the service
B, C, M = "balthasar.localdomain", "casper.localdomain", "melchior.localdomain"
SECRET = "quorate-e2e-upgrade"
# What a node logs when it puts a node on the fence list, in both releases: the event, the reason, the attempt.
FENCE_SCHEDULED = re.compile(r"event fence \S+ scheduled|will be fenced|fencing")


@pytest.fixture
def previous_release(tmp_path: Path) -> Path:
    """The source of the release before the one that changed the wire protocol."""
    return release_source(WIRE_CHANGE_FROM, tmp_path)


def run_with(src: Path | None, module: str) -> list[str]:
    """``python -m module`` of the previous release (``src``) or of this one (None)."""
    python = [sys.executable, "-m", module]
    return ["env", f"PYTHONPATH={src}", "PYTHONDONTWRITEBYTECODE=1", *python] if src else python


def status(tb: Testbed, node: str, src: Path | None) -> dict[str, Any] | None:
    done = tb.exec(node, [*run_with(src, "quorate.cli.main"), "status", "--json"], timeout=30)
    if done.returncode != 0:
        return None
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


def state(tb: Testbed, node: str) -> dict[str, Any]:
    done = tb.exec(node, ["cat", "/var/lib/quorate/state.json"], timeout=10)
    assert done.returncode == 0, f"{node}: no state.json: {done.stderr}"
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


def running(tb: Testbed, node: str, src: Path | None, members: int, owner: str | None) -> bool:
    doc = status(tb, node, src)
    if doc is None or not doc["quorate"] or len(doc["members"]) != members:
        return False
    if owner is None:
        return True
    return any(s["name"] == "test" and s["state"] == "started" and s["owner"] == owner for s in doc["services"])


def probe(tb: Testbed, check: Any) -> Any:
    check.testbed = tb  # lets wait_for show the daemons' logs on a timeout
    return check


def test_the_documented_upgrade_from_the_previous_release_keeps_the_cluster_and_a_mixed_node_stays_out(
    testbed: Any,
    lun: str,  # noqa: F811
    previous_release: Path,
    tmp_path: Path,
) -> None:
    init = write_service_files(tmp_path, period=2)
    conf = tmp_path / "cluster.conf"
    conf.write_text(article.testbed_conf(lun, init, fence_secret=SECRET, qdisk=False, timings=Timings(token_ms=3000)))
    tb: Testbed = testbed(conf, start_daemons=False)
    start_power_switch(tb, secret=SECRET)
    old_daemon = run_with(previous_release, "quorate.node.daemon")

    # 1. The previous release runs the cluster.
    for node in tb.nodes:
        tb.start_daemon(node, command=old_daemon)
    wait_for(
        "the previous release: three members, service:test started on balthasar",
        probe(tb, lambda: running(tb, B, previous_release, 3, B)),
        timeout=90,
    )
    before = status(tb, B, previous_release)
    assert before is not None
    epochs = {node: state(tb, node)["boot_epoch"] for node in tb.nodes}

    # 2. The documented upgrade: stop every node cleanly, start this release on the same files.
    for node in (M, C, B):
        tb.stop_daemon(node, timeout=30)
    assert all(tb.is_powered(node) for node in tb.nodes), "a clean stop must fence nobody"
    assert tb.exec(B, ["test", "-e", OUTPUT]).returncode != 0, "the service must be stopped (disk unmounted)"
    for node in tb.nodes:
        tb.start_daemon(node)
    wait_for(
        "this release: three members, service:test started on balthasar",
        probe(tb, lambda: running(tb, B, None, 3, B)),
        timeout=90,
    )
    after = status(tb, B, None)
    assert after is not None
    assert after["config_version"] == before["config_version"]
    assert after["generation"] > before["generation"], (before["generation"], after["generation"])
    for node in tb.nodes:
        kept = state(tb, node)
        assert kept["boot_epoch"] > epochs[node], f"{node}: the boot epoch must go on, not start again"
        assert kept["highest_seq"] >= after["generation"], kept
    assert all(tb.is_powered(node) for node in tb.nodes)

    # 3. A node left on the previous release stays out, said once, and nobody is fenced.
    tb.stop_daemon(M, timeout=30)
    wait_for("balthasar and casper without melchior", probe(tb, lambda: running(tb, B, None, 2, B)), timeout=60)
    # What the survivors log from here on is about the mixed node (a slow start in step 2 may have had melchior
    # scheduled for startup fencing until it joined, which the logs rightly mention).
    mark = {node: len(tb.daemon_log(node)) for node in (B, C)}
    tb.start_daemon(M, command=old_daemon)
    said = "sends wire protocol version 1 and this quorated speaks 2"
    wait_for(
        "balthasar saying that melchior runs another release",
        probe(tb, lambda: said in tb.daemon_log(B)),
        timeout=30,
    )
    time.sleep(8)  # more than two tokens: time enough for anyone to (wrongly) fence or start something
    assert tb.daemon_log(B).count(said) == 1, "said once per node and version, not per datagram"
    assert running(tb, B, None, 2, B) and running(tb, C, None, 2, B)
    alone = status(tb, M, previous_release)
    assert alone is not None and not alone["quorate"], alone
    assert not any(s.get("owner") == M for s in alone["services"]), alone["services"]
    assert all(tb.is_powered(node) for node in tb.nodes), "nobody may be fenced over a version mismatch"
    assert not [n for n in (B, C) if "fence" in tb.daemon_log(n)[mark[n] :]], "no fence over a version mismatch"
    tb.stop_daemon(M, timeout=30)
    tb.start_daemon(M)
    wait_for("melchior back with this release", probe(tb, lambda: running(tb, M, None, 3, B)), timeout=60)


def mounted_on(tb: Testbed) -> list[str]:
    """The nodes where the shared LUN's file system is mounted, as their kernels say (not quorated)."""
    return [n for n in tb.nodes if tb.exec(n, ["findmnt", "-n", MOUNTPOINT], timeout=10).returncode == 0]


def test_a_rolling_upgrade_from_the_previous_release_keeps_quorum_and_one_owner_all_along(
    testbed: Any,
    lun: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The previous release speaks this one's wire protocol: nodes are upgraded one at a time in a live cluster.

    Each node in turn: stopped (a clean leave), started with this release, and back in one view with the nodes
    still on the previous release; then the service is relocated once, asked with `clusvcadm -r` on a node of
    the other release than the target's. The cluster stays quorate throughout, nobody is fenced, and the shared
    file system is never mounted on two nodes (each node's kernel is asked, every poll).
    """
    old = release_source(PREVIOUS, tmp_path)
    init = write_service_files(tmp_path, period=2)
    conf = tmp_path / "cluster.conf"
    conf.write_text(article.testbed_conf(lun, init, fence_secret=SECRET, qdisk=False, timings=Timings(token_ms=3000)))
    tb: Testbed = testbed(conf, start_daemons=False)
    start_power_switch(tb, secret=SECRET)
    for node in tb.nodes:
        tb.start_daemon(node, command=run_with(old, "quorate.node.daemon"))
    wait_for(
        f"{PREVIOUS}: three members, service:test started on balthasar",
        probe(tb, lambda: running(tb, B, old, 3, B)),
        timeout=90,
    )
    # Startup fencing may be scheduled while the first daemons form the cluster (F-13: a node not yet joined is
    # fenced unless it joins within post_join_delay); that is before the upgrade, so only what follows is checked.
    before_upgrade = {node: len(tb.daemon_log(node)) for node in tb.nodes}
    on: dict[str, Path | None] = {node: old for node in tb.nodes}
    twice: list[list[str]] = []
    relocations: list[tuple[str, str]] = []

    def one_owner_then(check: Any) -> Any:
        def watched() -> Any:
            where = mounted_on(tb)
            if len(where) > 1:
                twice.append(where)
            return check()

        return probe(tb, watched)

    for node in (M, C, B):
        tb.stop_daemon(node, timeout=30)
        survivor = next(n for n in tb.nodes if n != node)
        wait_for(
            f"{survivor} quorate with two members while {node} is upgraded",
            one_owner_then(lambda s=survivor: running(tb, s, on[s], 2, None)),
            timeout=60,
        )
        tb.start_daemon(node)
        on[node] = None
        for asked in tb.nodes:
            wait_for(
                f"{asked} ({'this release' if on[asked] is None else PREVIOUS}) sees three members with "
                f"{node} upgraded, service:test started",
                one_owner_then(lambda a=asked: running(tb, a, on[a], 3, None) and started_somewhere(tb, a, on[a])),
                timeout=60,
            )
        if node == M:  # the first one upgraded, in a view with two nodes of the previous release
            mixed_view(tb, old)
        # One relocation per step, asked from a node of the other release than the target where there is one.
        owner = owner_of(tb, node, None)
        target = node if owner != node else next(n for n in tb.nodes if n != node)
        asker = next((n for n in tb.nodes if on[n] is not on[target]), target)
        moved = tb.exec(asker, [*run_with(on[asker], "quorate.cli.clusvcadm"), "-r", "test", "-m", target], timeout=60)
        assert moved.returncode == 0, f"clusvcadm -r on {asker} to {target}: {moved.stdout}{moved.stderr}"
        for asked in tb.nodes:
            wait_for(
                f"{asked} sees service:test relocated to {target}",
                one_owner_then(lambda a=asked, t=target: running(tb, a, on[a], 3, t)),
                timeout=60,
            )
        relocations.append((asker, target))
    assert not twice, f"the shared file system was mounted on two nodes at once: {twice}"
    assert len(relocations) == 3, relocations
    assert all(tb.is_powered(node) for node in tb.nodes), "a rolling upgrade must fence nobody"
    during = {n: tb.daemon_log(n)[before_upgrade[n] :] for n in tb.nodes}
    scheduled = [f"{n}: {ln}" for n, log in during.items() for ln in log.splitlines() if FENCE_SCHEDULED.search(ln)]
    assert not scheduled, "during the upgrade, nobody may even be scheduled for fencing:\n" + "\n".join(scheduled)
    assert len(mounted_on(tb)) == 1


def owner_of(tb: Testbed, node: str, src: Path | None) -> str | None:
    doc = status(tb, node, src)
    return next((s["owner"] for s in doc["services"] if s["name"] == "test"), None) if doc else None


def mixed_view(tb: Testbed, old_src: Path) -> None:
    """In a view with two nodes of the previous release, the upgraded node sends nothing they cannot read:
    service tables stay whole (table deltas wait until every member announces them, R-35) and `quorate
    timeline` on the upgraded node gathers every member's events (the previous release answers it); the older
    nodes' count of undecodable datagrams does not grow, and they keep running."""
    pids = tb.daemon_pid(C), tb.daemon_pid(B)
    before = {n: (status(tb, n, old_src) or {}).get("transport", {}).get("undecodable", 0) for n in (B, C)}
    done = tb.exec(M, [*run_with(None, "quorate.cli.main"), "timeline", "--json", "--wait", "2"], timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads(done.stdout)
    assert doc["missing"] == [], doc["missing"]
    for node in (B, C, M):
        assert any(node in e["nodes"] for e in doc["events"]), f"{node}'s events are in the timeline"
    # One service change in the mixed view: a relocation, so the coordinator publishes its table again.
    moved = tb.exec(M, [*run_with(None, "quorate.cli.clusvcadm"), "-r", "test"], timeout=60)
    assert moved.returncode == 0, moved.stdout + moved.stderr
    time.sleep(6)  # past a table period (5 s): every kind of table the coordinator sends has gone out
    for node in (B, C):
        after = status(tb, node, old_src)
        assert after is not None and after["quorate"], f"{node} is quorate"
        assert after["transport"]["undecodable"] == before[node], f"{node} received what it cannot decode"
    assert (tb.daemon_pid(C), tb.daemon_pid(B)) == pids


def started_somewhere(tb: Testbed, node: str, src: Path | None) -> bool:
    doc = status(tb, node, src)
    return doc is not None and any(s["name"] == "test" and s["state"] == "started" for s in doc["services"])
