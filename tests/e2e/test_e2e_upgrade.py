"""Upgrading a running cluster from the previous release (the tag `PREVIOUS`) to this one, as CHANGELOG.md says.

The previous release's source comes from the tag (``git archive``) and runs with this virtualenv's Python;
the testbed, the LUN and the commands that drive it are this release's. Three steps, each checked as an
administrator would:

1. the article's cluster (service ``test``: the init script writing on an ext3 LUN) runs under the previous
   release, and the service starts on balthasar;
2. the documented upgrade: quorated stopped on every node (a clean leave: nobody is fenced, the service is
   stopped), this release started on every node with the same files: the view's generation and each node's boot
   epoch go on from where they were, the configuration version is kept, and the service starts again;
3. what a forgotten node does: melchior is started with the previous release again. The wire version differs,
   so it cannot join: the others say so once in their log, stay quorate with two votes, and fence nobody;
   melchior alone is not quorate and starts nothing. Started with this release again, it rejoins.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import wait_for
from test_e2e_resources import lun  # noqa: F401  (a fixture)

from quorate.testbed import Testbed, article
from quorate.testbed.article import OUTPUT, Timings, write_service_files
from quorate.testbed.power import start_power_switch

PREVIOUS = "v0.1.0"
B, C, M = "balthasar.localdomain", "casper.localdomain", "melchior.localdomain"
SECRET = "quorate-e2e-upgrade"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def previous_release(tmp_path: Path) -> Path:
    """The previous release's ``src`` directory, from its tag."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", PREVIOUS, "src"], capture_output=True, timeout=60)
    if archive.returncode != 0:
        pytest.fail(
            f"the upgrade test needs the tag {PREVIOUS} in this clone ({archive.stderr.decode().strip()}): "
            "git fetch --tags",
            pytrace=False,
        )
    where = tmp_path / PREVIOUS
    where.mkdir()
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive.stdout, check=True, timeout=60)
    return where / "src"


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
