"""`ccs_tool update` on the testbed: a new cluster.conf reaches every member or none, a bad file changes nothing
anywhere, a node cut off during a push leaves everyone on one version, and a node that was down catches up
when it rejoins. What a node runs is read from its own /etc/cluster/cluster.conf and from `quorate status`."""

from __future__ import annotations

import re
import signal
import sys
from pathlib import Path

from e2e_helpers import status, view_is, wait_for

from quorate.testbed import Testbed
from quorate.testbed.support import MAGI, write_cluster_conf

CCS_TOOL = [sys.executable, "-m", "quorate.cli.ccs_tool"]


def version_file(tmp_path: Path, version: int, *, extra: str = "", name: str | None = None) -> Path:
    """The testbed's cluster.conf at ``version`` with a 3 s token, plus ``extra`` inside <cluster>."""
    path = write_cluster_conf(tmp_path / (name or f"cluster-{version}.conf"), MAGI)
    text = path.read_text().replace('config_version="1"', f'config_version="{version}"')
    text = text.replace("  <clusternodes>", f'  <totem token="3000"/>{extra}\n  <clusternodes>', 1)
    path.write_text(text)
    return path


def running(tb: Testbed, node: str) -> tuple[int, int] | None:
    """(version in the node's daemon, version of the node's /etc/cluster/cluster.conf)."""
    doc = status(tb, node)
    if doc is None:
        return None
    text = (tb.node_dir(node) / "etc/cluster/cluster.conf").read_text()
    found = re.search(r'config_version="(\d+)"', text)
    return int(doc["config_version"]), int(found.group(1)) if found else 0


def everyone_runs(tb: Testbed, nodes: list[str], version: int):  # type: ignore[no-untyped-def]
    def probe() -> bool:
        return all(running(tb, n) == (version, version) for n in nodes)

    probe.testbed = tb  # type: ignore[attr-defined]
    return probe


def test_push_is_all_or_nothing_and_late_nodes_catch_up(testbed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tb = testbed(version_file(tmp_path, 1))
    balthasar, casper, melchior = MAGI
    wait_for("three nodes quorate", view_is(tb, balthasar, list(MAGI), True), timeout=60)

    # A push typed on a member that is not the coordinator reaches all three nodes.
    done = tb.exec(casper, [*CCS_TOOL, "update", str(version_file(tmp_path, 2, extra='<cman expected_votes="3"/>'))])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Config file updated from version 1 to 2" in done.stdout
    wait_for("version 2 everywhere", everyone_runs(tb, list(MAGI), 2), timeout=30)
    assert (tb.node_dir(melchior) / "etc/cluster/cluster.conf.1").exists()  # the previous file is kept
    assert "configuration version 2 active (was 1)" in tb.daemon_log(melchior)

    # An invalid file is refused with its location, and nothing changes anywhere.
    bad = version_file(tmp_path, 3, extra='<cman expected_votes="3" bogus="1"/>', name="bad.conf")
    done = tb.exec(balthasar, [*CCS_TOOL, "update", str(bad)])
    assert done.returncode == 1 and "bad.conf:" in done.stderr and "bogus" in done.stderr, done.stderr
    # A version that is not higher is refused, naming both versions.
    done = tb.exec(balthasar, [*CCS_TOOL, "update", str(version_file(tmp_path, 2, name="same.conf"))])
    assert done.returncode == 1, done.stdout + done.stderr
    assert "greater version" in done.stderr or "higher" in done.stderr, done.stderr
    assert all(running(tb, n) == (2, 2) for n in MAGI)

    # A node cut off during a push: the push fails or succeeds as a whole, never a mix once healed.
    tb.partition([melchior], [balthasar, casper])
    done = tb.exec(balthasar, [*CCS_TOOL, "update", str(version_file(tmp_path, 3))], timeout=120)
    tb.heal()
    if done.returncode != 0:
        assert "melchior.localdomain" in done.stderr, done.stderr
    wait_for("three nodes back together", view_is(tb, balthasar, list(MAGI), True), timeout=90)
    final = 3 if done.returncode == 0 else 2
    wait_for(f"version {final} everywhere", everyone_runs(tb, list(MAGI), final), timeout=60)

    # A node down during a push receives the new version when it comes back, before it counts.
    tb.stop_daemon(melchior)
    wait_for("two nodes left", view_is(tb, balthasar, [balthasar, casper], True), timeout=60)
    done = tb.exec(balthasar, [*CCS_TOOL, "update", str(version_file(tmp_path, final + 1))], timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        running(tb, melchior) is None
        and f'config_version="{final}"' in (tb.node_dir(melchior) / "etc/cluster/cluster.conf").read_text()
    )
    tb.start_daemon(melchior)
    wait_for("melchior back with the new version", everyone_runs(tb, list(MAGI), final + 1), timeout=90)
    wait_for("three nodes together again", view_is(tb, casper, list(MAGI), True), timeout=60)
    assert f"the cluster runs configuration version {final + 1}, this node {final}" in tb.daemon_log(melchior)


def test_coordinator_killed_in_the_middle_of_a_push(testbed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """melchior is frozen so the push waits for its answer; the coordinator dies meanwhile. The command says
    so, and once melchior thaws every member runs one version (here the old one: nobody had committed)."""
    tb = testbed(version_file(tmp_path, 1))
    balthasar, casper, melchior = MAGI
    wait_for("three nodes quorate", view_is(tb, balthasar, list(MAGI), True), timeout=60)
    tb.pause(melchior)
    push = tb.popen(casper, [*CCS_TOOL, "update", str(version_file(tmp_path, 2))], stdout=-1, stderr=-1, text=True)
    wait_for(
        "the coordinator waiting for melchior",
        lambda: "distributing configuration version 2" in tb.daemon_log(balthasar),
        timeout=20,
    )
    tb.kill(balthasar, signal.SIGKILL)
    tb.resume(melchior)
    out, err = push.communicate(timeout=120)
    assert push.returncode == 1, out + err
    assert "the coordinator balthasar.localdomain left the view" in err or "lost quorum" in err, err
    wait_for("casper and melchior together", view_is(tb, casper, [casper, melchior], True), timeout=60)
    wait_for("one version on both", everyone_runs(tb, [casper, melchior], 1), timeout=30)
    tb.start_daemon(balthasar)
    wait_for("balthasar back", view_is(tb, casper, list(MAGI), True), timeout=90)
    wait_for("one version everywhere", everyone_runs(tb, list(MAGI), 1), timeout=30)
    # and the cluster still takes a push afterwards
    done = tb.exec(melchior, [*CCS_TOOL, "update", str(version_file(tmp_path, 3))], timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    wait_for("version 3 everywhere", everyone_runs(tb, list(MAGI), 3), timeout=30)
