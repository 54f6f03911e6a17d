"""Two nodes and a quorum witness on a third machine of the testbed LAN, with the real daemons.

The witness runs in a client namespace (not a node: it has no daemon and no power switch). The nodes have
``two_node="1"``, which a witness turns into "the witness breaks ties": with the witness killed the two nodes
stay quorate together and nothing moves; split in halves, only the half the witness gives its vote to (the
lowest node id, ffsplit's default tie-breaker) stays quorate and fences the other, and the service ends up on it.

Also: the witness and a node lost together leave the survivor without quorum (nobody lends it a vote); three
nodes and a witness under ``lms`` lose two nodes one after the other and the last keeps the service, as the
article's last node does with its quorum disk; and one witness serves two clusters on the same LAN at once, each
with its own key, each split settled by it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from e2e_helpers import QUORATE, status, wait_for

from quorate.testbed import Testbed
from quorate.testbed.power import start_power_switch

B, C, M = "balthasar.localdomain", "casper.localdomain", "melchior.localdomain"
A, L = "adam.localdomain", "lilith.localdomain"
SECRET = "e2e-witness-switch"
WITNESS_ADDRESS = "192.168.0.100"
LEASE = 4


def init_script(directory: Path) -> Path:
    """A service that is one `sleep` per node, its pid in ``directory`` under the node's name."""
    path = directory / "witness-app"
    path.write_text(
        "#!/bin/sh\n"
        f'PIDFILE="{directory}/$(uname -n).pid"\n'
        'case "$1" in\n'
        '  start) sleep 100000 >/dev/null 2>&1 & echo $! > "$PIDFILE" ;;\n'
        '  stop) [ -f "$PIDFILE" ] && kill "$(cat "$PIDFILE")" 2>/dev/null; rm -f "$PIDFILE" ;;\n'
        '  status) [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null ;;\n'
        "esac\n"
    )
    path.chmod(0o755)
    return path


def cluster_conf(
    tmp_path: Path,
    names: tuple[str, ...] = (B, C),
    *,
    cluster: str = "pair",
    algorithm: str = "ffsplit",
    first_id: int = 1,
    service: bool = True,
    filename: str = "cluster.conf",
) -> Path:
    init = init_script(tmp_path)
    nodes = "\n".join(
        f'    <clusternode name="{name}" nodeid="{i}" votes="1"><fence>'
        '<method name="netns"><device name="switch" action="off"/></method></fence></clusternode>'
        for i, name in enumerate(names, start=first_id)
    )
    cman = '<cman two_node="1" expected_votes="1"/>' if len(names) == 2 else "<cman/>"
    rm = (
        '  <rm><service name="app" autostart="1" recovery="relocate">'
        f'<script name="app" file="{init}"/></service></rm>\n'
        if service
        else ""
    )
    conf = tmp_path / filename
    conf.write_text(
        '<?xml version="1.0"?>\n'
        f'<cluster name="{cluster}" config_version="1">\n'
        f"  {cman}\n"
        '  <totem token="3000"/>\n'
        f'  <witness host="{WITNESS_ADDRESS}" port="5406" algorithm="{algorithm}" tie_breaker="lowest" '
        f'lease="{LEASE}"/>\n'
        '  <fence_daemon post_fail_delay="0" post_join_delay="3"/>\n'
        f"  <clusternodes>\n{nodes}\n  </clusternodes>\n"
        f'  <fencedevices><fencedevice name="switch" agent="fence_netns" ipaddr="192.168.0.254" passwd="{SECRET}"/>'
        "</fencedevices>\n"
        f"{rm}"
        "</cluster>\n"
    )
    return conf


def register(tmp_path: Path, cluster: str, key: Path) -> None:
    added = subprocess.run(
        [sys.executable, "-m", "quorate.cli.main", "witness", "--config-dir", str(tmp_path / "witness.d"),
         "add-cluster", cluster, str(key)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr


def start_witness(tb: Testbed, tmp_path: Path) -> subprocess.Popen[Any]:
    argv = [*QUORATE, "witness", "--listen", f"{WITNESS_ADDRESS}:5406", "--config-dir", str(tmp_path / "witness.d"),
            "--state-dir", str(tmp_path / "witness-state"), "--max-lease", str(LEASE)]  # fmt: skip
    with (tmp_path / "witness.log").open("ab") as log:  # the child keeps its own copy of the descriptor
        return tb.client_popen("witness", argv, stdout=log, stderr=log)


def witness_votes(tb: Testbed, node: str) -> int | None:
    doc = status(tb, node)
    if doc is None or doc.get("witness") is None:
        return None
    return int(doc["witness"]["votes"])


def app(tb: Testbed, node: str) -> dict[str, Any] | None:
    doc = status(tb, node)
    if doc is None:
        return None
    return next((s for s in doc["services"] if s["name"] == "app"), None)


def test_two_nodes_and_a_witness(testbed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tb = testbed(cluster_conf(tmp_path))
    start_power_switch(tb, secret=SECRET, start_daemon=False)
    tb.add_client("witness", WITNESS_ADDRESS)
    register(tmp_path, "pair", tb.key_path)
    witness = start_witness(tb, tmp_path)

    for node in (B, C):
        wait_for(f"{node} counts the witness's vote", lambda n=node: witness_votes(tb, n) == 1, timeout=40)
    owner = wait_for("app started", lambda: (a := app(tb, B)) and a["state"] == "started" and a["owner"], 30)
    text = tb.exec(B, [sys.executable, "-m", "quorate.cli.cman_tool", "status"]).stdout
    for line in ("Expected votes: 3", "Quorum device votes: 1", "Total votes: 3", "Quorum: 2"):
        assert f"\n{line}\n" in text, text
    text = tb.exec(B, [*QUORATE, "status"]).stdout
    assert f"Witness: {WITNESS_ADDRESS}:5406 (ffsplit, lease {LEASE} s), holding, 1 votes" in text, text

    # the witness dies while both nodes run: they lose its vote and nothing else
    witness.send_signal(signal.SIGTERM)
    witness.wait(10)
    for node in (B, C):
        wait_for(f"{node} dropped the witness's vote", lambda n=node: witness_votes(tb, n) == 0, timeout=3 * LEASE)
    for node in (B, C):
        doc = status(tb, node)
        assert doc is not None and doc["quorate"] and doc["witness"]["state"] == "not holding", doc
    still = app(tb, B)
    assert still is not None and (still["state"], still["owner"]) == ("started", owner)
    assert tb.is_powered(B) and tb.is_powered(C)

    # back again: after one lease of learning it gives its vote to the whole cluster
    witness = start_witness(tb, tmp_path)
    for node in (B, C):
        wait_for(f"{node} counts the witness's vote again", lambda n=node: witness_votes(tb, n) == 1, timeout=30)

    # split in halves: balthasar (lowest id) gets the vote, casper stops and is fenced, the app runs on balthasar
    tb.partition([B], [C])
    wait_for("casper fenced", lambda: not tb.is_powered(C), timeout=40)
    doc = status(tb, B)
    assert doc is not None and doc["quorate"] and doc["witness"]["votes"] == 1, json.dumps(doc)[:2000]
    wait_for("app started on balthasar", lambda: (a := app(tb, B)) and (a["state"], a["owner"]) == ("started", B), 40)
    log = tb.daemon_log(B)
    assert "witness: votes 1" in log
    assert f"fencing {C}" in log or "fence" in log
    witness.send_signal(signal.SIGTERM)
    witness.wait(10)


def quorate(tb: Testbed, node: str) -> bool | None:
    doc = status(tb, node)
    return None if doc is None else bool(doc["quorate"])


def test_the_witness_and_a_node_lost_together_leave_the_survivor_inquorate(testbed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """ffsplit's table row: nobody lends the survivor a vote, so it has 1 of 3 and stops the service."""
    tb = testbed(cluster_conf(tmp_path))
    start_power_switch(tb, secret=SECRET, start_daemon=False)
    tb.add_client("witness", WITNESS_ADDRESS)
    register(tmp_path, "pair", tb.key_path)
    witness = start_witness(tb, tmp_path)
    for node in (B, C):
        wait_for(f"{node} counts the witness's vote", lambda n=node: witness_votes(tb, n) == 1, timeout=40)
    survivor = wait_for("app started", lambda: (a := app(tb, B)) and a["state"] == "started" and a["owner"], 30)
    lost = C if survivor == B else B

    witness.send_signal(signal.SIGKILL)
    tb.power_off(lost)
    witness.wait(10)
    wait_for(f"{survivor} inquorate", lambda: quorate(tb, survivor) is False, timeout=20)
    doc = status(tb, survivor)
    assert doc is not None and doc["total_votes"] == 1 and doc["quorum"] == 2, json.dumps(doc)[:2000]
    wait_for("app stopped on the survivor", lambda: not (tmp_path / f"{survivor}.pid").exists(), timeout=20)
    time.sleep(2 * LEASE)  # a witness that is gone never comes back by itself: still inquorate, nothing fenced
    assert quorate(tb, survivor) is False and tb.is_powered(survivor)


def test_three_nodes_and_an_lms_witness_keep_the_last_node(testbed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Two of three nodes crash one after the other; the witness lends lms's two votes to the last one, which
    keeps (or takes back) the service: the article's last node with its quorum disk, over the network."""
    tb = testbed(cluster_conf(tmp_path, (B, C, M), algorithm="lms"))
    start_power_switch(tb, secret=SECRET, start_daemon=False)
    tb.add_client("witness", WITNESS_ADDRESS)
    register(tmp_path, "pair", tb.key_path)
    witness = start_witness(tb, tmp_path)
    for node in (B, C, M):
        wait_for(f"{node} counts the witness's votes", lambda n=node: witness_votes(tb, n) == 2, timeout=40)
    owner = wait_for("app started", lambda: (a := app(tb, B)) and a["state"] == "started" and a["owner"], 30)
    text = tb.exec(owner, [sys.executable, "-m", "quorate.cli.cman_tool", "status"]).stdout
    for line in ("Expected votes: 5", "Quorum device votes: 2", "Total votes: 5", "Quorum: 3"):
        assert f"\n{line}\n" in text, text

    others = [n for n in (B, C, M) if n != owner]
    for lost, survivors in ((others[0], [owner, others[1]]), (others[1], [owner])):
        count = len(survivors)
        tb.power_off(lost)
        for node in survivors:
            wait_for(
                f"{node} quorate again with the witness after {lost} crashed",
                lambda n=node, k=count: (d := status(tb, n)) and d["quorate"] and d["node_count"] == k
                and d["witness"]["votes"] == 2,
                timeout=30,
            )  # fmt: skip
    doc = status(tb, owner)
    assert doc is not None and (doc["total_votes"], doc["quorum"]) == (3, 3), json.dumps(doc)[:2000]
    wait_for(
        "app runs on the last node",
        lambda: (a := app(tb, owner)) and (a["state"], a["owner"]) == ("started", owner),
        30,
    )
    assert (tmp_path / f"{owner}.pid").exists()
    witness.send_signal(signal.SIGTERM)
    witness.wait(10)


def test_one_witness_serves_two_clusters_at_once(testbed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """One testbed LAN, two clusters (pair: balthasar and casper; duo: adam and lilith, its own key), one witness.
    Both count its vote together; both split at the same moment, and each keeps its lowest node."""
    layout = cluster_conf(tmp_path, (B, C, M, A, L), filename="layout.conf", service=False)
    tb = testbed(layout, start_daemons=False)
    pair = cluster_conf(tmp_path, (B, C), cluster="pair", service=False, filename="pair.conf").read_bytes()
    duo = cluster_conf(tmp_path, (A, L), cluster="duo", first_id=4, service=False, filename="duo.conf").read_bytes()
    duo_key = tmp_path / "duo.key"
    duo_key.write_bytes(os.urandom(32))
    duo_key.chmod(0o600)
    for node in (B, C):
        (tb.node_dir(node) / "etc/cluster/cluster.conf").write_bytes(pair)
    for node in (A, L):
        (tb.node_dir(node) / "etc/cluster/cluster.conf").write_bytes(duo)
        (tb.node_dir(node) / "etc/cluster/quorate.key").write_bytes(duo_key.read_bytes())
    start_power_switch(tb, secret=SECRET, start_daemon=False)
    tb.add_client("witness", WITNESS_ADDRESS)
    register(tmp_path, "pair", tb.key_path)
    register(tmp_path, "duo", duo_key)
    witness = start_witness(tb, tmp_path)
    for node in (B, C, A, L):
        tb.start_daemon(node)
    for node in (B, C, A, L):
        wait_for(f"{node} counts the witness's vote", lambda n=node: witness_votes(tb, n) == 1, timeout=40)
    assert {status(tb, n)["cluster_name"] for n in (B, C)} == {"pair"}  # type: ignore[index]
    assert {status(tb, n)["cluster_name"] for n in (A, L)} == {"duo"}  # type: ignore[index]

    tb.partition([B, A], [C, L], [M])
    for loser in (C, L):
        wait_for(f"{loser} fenced", lambda n=loser: not tb.is_powered(n), timeout=40)
    for winner in (B, A):
        doc = status(tb, winner)
        assert doc is not None and doc["quorate"] and doc["witness"]["votes"] == 1, json.dumps(doc)[:2000]
    witness.send_signal(signal.SIGTERM)
    witness.wait(10)
