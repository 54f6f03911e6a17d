"""Fencing decided and carried out by the daemons themselves (not by a test script calling the executor):
a method whose device is unreachable falls back to the next method, and a cluster that loses its
coordinator together with another node still fences both before it moves on.

"Off" is checked on the testbed's power state and on the victim's processes, never by trusting the agent."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from e2e_helpers import status, view_is, wait_for

from quorate.testbed import Testbed
from quorate.testbed.power import start_power_switch

SECRET = "e2e-daemon-switch"
FIVE = tuple(f"{name}.localdomain" for name in ("balthasar", "casper", "melchior", "adam", "lilith"))


def conf_with_fencing(path: Path, names: tuple[str, ...], *, dead_first: bool) -> Path:
    """Every node fenced through the testbed switch; with ``dead_first``, a first method whose switch does not
    exist (192.168.0.253), so each fence must fall back to the second method."""
    dead = '<method name="dead-switch"><device name="dead" port="{short}"/></method>' if dead_first else ""
    nodes = "\n".join(
        f'    <clusternode name="{name}" nodeid="{i}" votes="1"><fence>'
        + dead.format(short=name.split(".")[0])
        + '<method name="netns"><device name="switch" action="off"/></method>'
        "</fence></clusternode>"
        for i, name in enumerate(names, start=1)
    )
    path.write_text(
        '<?xml version="1.0"?>\n'
        '<cluster name="magi" config_version="1">\n'
        '  <totem token="3000"/>\n'
        '  <fence_daemon post_fail_delay="0" post_join_delay="3"/>\n'
        f"  <clusternodes>\n{nodes}\n  </clusternodes>\n"
        "  <fencedevices>\n"
        f'    <fencedevice name="dead" agent="fence_netns" ipaddr="192.168.0.253" passwd="{SECRET}"'
        ' login_timeout="2"/>\n'
        f'    <fencedevice name="switch" agent="fence_netns" ipaddr="192.168.0.254" passwd="{SECRET}"/>\n'
        "  </fencedevices>\n"
        "</cluster>\n"
    )
    return path


def fenced(tb: Testbed, observer: str, victim: str) -> Callable[[], dict[str, Any] | None]:
    """The successful history entry for ``victim`` in ``observer``'s ``quorate status --json``."""

    def probe() -> dict[str, Any] | None:
        doc = status(tb, observer)
        if doc is None:
            return None
        done = [h for h in doc["fencing"]["history"] if h["name"] == victim and h["ok"]]
        return done[-1] if done else None

    return probe


def test_daemon_falls_back_to_the_second_method(testbed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    names = FIVE[:3]
    tb = testbed(conf_with_fencing(tmp_path / "cluster.conf", names, dead_first=True))
    start_power_switch(tb, secret=SECRET, start_daemon=False)
    balthasar, casper, melchior = names
    wait_for("three nodes quorate", view_is(tb, balthasar, list(names), True), timeout=60)

    tb.kill(casper, signal.SIGKILL)  # died without a goodbye: it must be fenced
    entry = wait_for("casper fenced by the coordinator", fenced(tb, balthasar, casper), timeout=90)
    assert entry["method"] == "netns" and entry["by"] == balthasar, entry
    assert not tb.is_powered(casper)
    log = tb.daemon_log(balthasar)
    assert f"fence {casper}: method dead-switch, device dead (fence_netns): failed" in log, log[-3000:]
    assert f"fence {casper}: method netns, device switch (fence_netns): ok" in log, log[-3000:]
    # the other member learned the outcome from the coordinator; it did not run an agent itself
    wait_for("melchior knows casper is fenced", fenced(tb, melchior, casper), timeout=30)
    assert f"fence {casper}: method" not in tb.daemon_log(melchior)


def test_coordinator_and_another_node_die_together(testbed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Five nodes: balthasar (the coordinator, lowest id) and casper die at once; the three others keep quorum
    (3 of 5 votes), the new coordinator (melchior) fences both, and only it runs the agents."""
    tb = testbed(conf_with_fencing(tmp_path / "cluster.conf", FIVE, dead_first=False))
    start_power_switch(tb, secret=SECRET, start_daemon=False)
    balthasar, casper, melchior, adam, lilith = FIVE
    wait_for("five nodes quorate", view_is(tb, melchior, list(FIVE), True), timeout=90)

    tb.kill(balthasar, signal.SIGKILL)
    tb.kill(casper, signal.SIGKILL)
    survivors = [melchior, adam, lilith]
    wait_for("the three survivors stay quorate", view_is(tb, adam, survivors, True), timeout=60)
    for victim in (balthasar, casper):
        entry = wait_for(f"{victim} fenced", fenced(tb, melchior, victim), timeout=90)
        assert entry["by"] == melchior and entry["method"] == "netns", entry
        assert not tb.is_powered(victim)
    for other in (adam, lilith):
        for victim in (balthasar, casper):
            wait_for(f"{other} knows {victim} is fenced", fenced(tb, other, victim), timeout=30)
        assert "method netns, device switch" not in tb.daemon_log(other)  # no agent ran there
    doc = status(tb, lilith)
    assert doc is not None and doc["quorate"] and doc["total_votes"] == 3 and doc["quorum"] == 3, doc


def test_cman_tool_kill_stops_a_member_which_is_then_fenced(testbed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import sys

    cman_tool = [sys.executable, "-m", "quorate.cli.cman_tool"]
    names = FIVE[:3]
    tb = testbed(conf_with_fencing(tmp_path / "cluster.conf", names, dead_first=False))
    start_power_switch(tb, secret=SECRET, start_daemon=False)
    balthasar, casper, melchior = names
    wait_for("three nodes quorate", view_is(tb, balthasar, list(names), True), timeout=60)
    wait_for("casper in the view", view_is(tb, casper, list(names), True), timeout=30)

    services = tb.exec(casper, [*cman_tool, "services"])
    assert services.returncode == 0, services.stderr
    assert services.stdout.splitlines()[:3] == [
        "type             level name       id       state",
        "fence            0     default    00010001 none",
        "[1 2 3]",
    ]
    refused = tb.exec(balthasar, [*cman_tool, "kill", "-n", balthasar])
    assert refused.returncode == 1 and "use cman_tool leave" in refused.stderr, refused.stderr
    unknown = tb.exec(balthasar, [*cman_tool, "kill", "-n", "gaspard"])
    assert unknown.returncode == 1 and "unknown node 'gaspard'" in unknown.stderr, unknown.stderr

    done = tb.exec(balthasar, [*cman_tool, "kill", "-n", "melchior"])  # the short name, as administrators type it
    assert done.returncode == 0 and done.stdout == "", done.stdout + done.stderr
    wait_for("melchior's daemon gone", lambda: not tb.daemon_running(melchior) or not tb.is_powered(melchior), 30)
    entry = wait_for("melchior fenced", fenced(tb, balthasar, melchior), timeout=60)
    assert entry["by"] == balthasar and not tb.is_powered(melchior)
    assert "killed by balthasar.localdomain (cman_tool kill)" in tb.daemon_log(melchior)
    assert f"{melchior} failed" in tb.daemon_log(casper), "a killed node must count as failed, not as left"
    wait_for("the pair quorate", view_is(tb, casper, [balthasar, casper], True), timeout=30)
