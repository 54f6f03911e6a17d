"""Two nodes and a quorum witness on a third machine of the testbed LAN, with the real daemons.

The witness runs in a client namespace (not a node: it has no daemon and no power switch). The nodes have
``two_node="1"``, which a witness turns into "the witness breaks ties": with the witness killed the two nodes
stay quorate together and nothing moves; split in halves, only the half the witness gives its vote to (the
lowest node id, ffsplit's default tie-breaker) stays quorate and fences the other, and the service ends up on it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from e2e_helpers import QUORATE, status, wait_for

from quorate.testbed import Testbed
from quorate.testbed.power import start_power_switch

B, C = "balthasar.localdomain", "casper.localdomain"
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


def cluster_conf(tmp_path: Path) -> Path:
    init = init_script(tmp_path)
    nodes = "\n".join(
        f'    <clusternode name="{name}" nodeid="{i}" votes="1"><fence>'
        '<method name="netns"><device name="switch" action="off"/></method></fence></clusternode>'
        for i, name in enumerate((B, C), start=1)
    )
    conf = tmp_path / "cluster.conf"
    conf.write_text(
        '<?xml version="1.0"?>\n'
        '<cluster name="pair" config_version="1">\n'
        '  <cman two_node="1" expected_votes="1"/>\n'
        '  <totem token="3000"/>\n'
        f'  <witness host="{WITNESS_ADDRESS}" port="5406" algorithm="ffsplit" tie_breaker="lowest" lease="{LEASE}"/>\n'
        '  <fence_daemon post_fail_delay="0" post_join_delay="3"/>\n'
        f"  <clusternodes>\n{nodes}\n  </clusternodes>\n"
        f'  <fencedevices><fencedevice name="switch" agent="fence_netns" ipaddr="192.168.0.254" passwd="{SECRET}"/>'
        "</fencedevices>\n"
        '  <rm><service name="app" autostart="1" recovery="relocate">'
        f'<script name="app" file="{init}"/></service></rm>\n'
        "</cluster>\n"
    )
    return conf


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
    added = subprocess.run(
        [sys.executable, "-m", "quorate.cli.main", "witness", "--config-dir", str(tmp_path / "witness.d"),
         "add-cluster", "pair", str(tb.key_path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
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
