"""What a pushed configuration changes in a running cluster, without restarting any daemon: a changed resource
restarts its service where it runs, a removed service is stopped, an added node raises expected votes and
quorum and may then join (C-45; rgmanager's R-90, cman's re-read on `ccs_tool update`)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from e2e_helpers import status, view_is, wait_for
from test_e2e_resources import lun  # noqa: F401  (a fixture)

from quorate.testbed import (
    Testbed,
    article,  # the module: pytest would collect a function named test*
)
from quorate.testbed.power import start_power_switch
from quorate.testbed.support import MAGI, write_cluster_conf

CCS_TOOL = [sys.executable, "-m", "quorate.cli.ccs_tool"]
SECRET = "e2e-reconfigure"
B, C, M = MAGI


def bumped(text: str, version: int) -> str:
    return re.sub(r'config_version="\d+"', f'config_version="{version}"', text, count=1)


def push(tb: Testbed, node: str, path: Path) -> str:
    done = tb.exec(node, [*CCS_TOOL, "update", str(path)], timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def service(tb: Testbed, node: str) -> dict | None:  # type: ignore[type-arg]
    doc = status(tb, node)
    return next((s for s in doc["services"] if s["name"] == "test"), None) if doc else None


def mount_options(tb: Testbed, node: str) -> str | None:
    for line in tb.exec(node, ["cat", "/proc/self/mounts"]).stdout.splitlines():
        if " /mnt/magi/test " in line:
            return line.split()[3]
    return None


def test_changed_resource_restarts_in_place_and_removed_service_stops(testbed, lun: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    init = article.write_service_files(tmp_path, period=1)
    text = article.testbed_conf(lun, init, fence_secret=SECRET, qdisk=False, timings=article.Timings(token_ms=5000))
    conf = tmp_path / "cluster.conf"
    conf.write_text(text)
    version = int(re.search(r'config_version="(\d+)"', text).group(1))  # type: ignore[union-attr]
    tb = testbed(conf)
    start_power_switch(tb, secret=SECRET)
    wait_for("service:test started on balthasar", lambda: (service(tb, B) or {}).get("owner") == B, timeout=60)
    assert "noatime" not in (mount_options(tb, B) or "")

    changed = tmp_path / "changed.conf"
    changed.write_text(bumped(text, version + 1).replace('options=""', 'options="noatime"', 1))
    assert f"from version {version} to {version + 1}" in push(tb, C, changed)
    wait_for("the fs remounted with noatime on balthasar", lambda: "noatime" in (mount_options(tb, B) or ""), 60)
    svc = wait_for("service:test started again", lambda: (s := service(tb, C)) and s["state"] == "started" and s, 60)
    assert svc["owner"] == B  # restarted where it ran, not moved
    log = tb.daemon_log(B)
    assert "service:test restarts here for the new configuration: fs:test_fs changed" in log, log[-2000:]
    assert mount_options(tb, C) is None and mount_options(tb, M) is None
    assert "Date/Time" in tb.exec(B, ["tail", "-n", "1", article.OUTPUT]).stdout

    removed = tmp_path / "removed.conf"
    without = re.sub(r"<service\b.*?</service>", "", changed.read_text(), flags=re.S)
    removed.write_text(bumped(without, version + 2))
    push(tb, B, removed)
    wait_for("the fs unmounted on balthasar", lambda: mount_options(tb, B) is None, 60)
    wait_for("service:test gone from the table", lambda: (doc := status(tb, M)) and doc["services"] == [], 30)
    assert "service:test removed from the configuration: stopping it here" in tb.daemon_log(B)


def test_added_node_raises_quorum_then_joins(testbed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    four = (*MAGI, "adam.localdomain")
    four_conf = write_cluster_conf(tmp_path / "four.conf", four)
    four_text = four_conf.read_text().replace("  <clusternodes>", '  <totem token="3000"/>\n  <clusternodes>', 1)
    three_text = re.sub(r'\s*<clusternode name="adam[^>]*/>', "", four_text)
    tb = testbed(four_conf, start_daemons=False)
    for node in MAGI:
        (tb.node_dir(node) / "etc/cluster/cluster.conf").write_text(three_text)
        tb.start_daemon(node)
    wait_for("three nodes quorate", view_is(tb, B, list(MAGI), True), timeout=60)
    doc = status(tb, B)
    assert doc is not None and (doc["expected_votes"], doc["quorum"]) == (3, 2)

    (tmp_path / "four-v2.conf").write_text(bumped(four_text, 2))
    push(tb, B, tmp_path / "four-v2.conf")
    for node in MAGI:
        wait_for(
            f"{node} expecting four votes",
            lambda n=node: (d := status(tb, n)) and (d["expected_votes"], d["quorum"], d["quorate"]) == (4, 3, True),
            timeout=30,
        )
    (tb.node_dir("adam.localdomain") / "etc/cluster/cluster.conf").write_text(bumped(four_text, 2))
    tb.start_daemon("adam.localdomain")
    wait_for("four nodes together", view_is(tb, C, list(four), True), timeout=60)


def test_cman_tool_votes_changes_the_votes_everywhere_and_for_good(testbed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cman_tool = [sys.executable, "-m", "quorate.cli.cman_tool"]
    conf = write_cluster_conf(tmp_path / "cluster.conf")
    conf.write_text(conf.read_text().replace("  <clusternodes>", '  <totem token="3000"/>\n  <clusternodes>', 1))
    tb = testbed(conf)
    wait_for("three nodes quorate", view_is(tb, B, list(MAGI), True), timeout=60)

    done = tb.exec(C, [*cman_tool, "votes", "-v", "3", "-n", "melchior"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "melchior.localdomain: votes 1 -> 3 (config_version 2, kept across restarts)" in done.stdout
    for node in MAGI:
        wait_for(
            f"{node} counting melchior's 3 votes",
            lambda n=node: (d := status(tb, n)) and (d["total_votes"], d["quorum"], d["config_version"]) == (5, 3, 2),
            timeout=30,
        )
    on_disk = (tb.node_dir(B) / "etc/cluster/cluster.conf").read_text()
    assert 'name="melchior.localdomain" nodeid="3" votes="3"' in on_disk
    assert "Total votes: 5" in tb.exec(B, [*cman_tool, "status"]).stdout

    # melchior leaves (remove: the pair lowers its expected votes). Raising its votes again would raise the
    # expected votes of the file to 6 and the quorum to 4, above the 2 votes present: the original's check refuses.
    assert tb.exec(M, [*cman_tool, "leave", "remove"]).returncode == 0
    wait_for("the pair quorate without melchior", view_is(tb, B, [B, C], True), timeout=30)
    refused = tb.exec(B, [*cman_tool, "votes", "-v", "4", "-n", "melchior"])
    assert refused.returncode == 1
    assert "can't set votes: the cluster would lose quorum (2 votes present, quorum would be 4)" in refused.stderr
    assert tb.exec(B, [*cman_tool, "votes", "-v", "0"]).returncode == 1  # out of range, said so
    lowered = tb.exec(B, [*cman_tool, "votes", "-v", "1", "-n", "melchior"])
    assert lowered.returncode == 0, lowered.stderr
    wait_for(
        "version 3 on casper, still quorate",
        lambda: (d := status(tb, C)) and (d["config_version"], d["quorate"]) == (3, True),
        30,
    )
