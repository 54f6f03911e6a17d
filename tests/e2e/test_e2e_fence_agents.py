"""Fence agents against the testbed's real power: fence_netns and the switch, Debian's fence_ipmilan against
ipmi_sim, and the executor falling back from a dead switch to a live one. Agents run *on a node*, as the
daemon runs them; "off" is checked by looking for the victim's processes, not by trusting the agent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from quorate.testbed import Testbed, procs
from quorate.testbed.ipmi import start_ipmi_sim
from quorate.testbed.power import start_power_switch

SECRET = "e2e-switch-secret"
BIN = Path(sys.executable).parent
FENCE_NETNS = str(BIN / "fence_netns")
NODE_ENV = {"PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"}


def run_agent(tb: Testbed, node: str, argv: list[str], **options: str) -> subprocess.CompletedProcess[str]:
    stdin = "".join(f"{name}={value}\n" for name, value in options.items())
    return tb.exec(node, argv, input=stdin, timeout=45, env=NODE_ENV)


def node_processes(tb: Testbed, node: str) -> list[int]:
    """Every process in the node's network namespace (its holder, daemon and anything they started)."""
    ident = procs.file_ns_id(Path("/run/netns") / tb.netns(node))
    return procs.pids_in_namespaces("net", [ident])


def assert_really_off(tb: Testbed, node: str, before: list[int]) -> None:
    assert not tb.is_powered(node)
    assert procs.wait_gone(before, 5.0), f"processes of {node} survived: {[p for p in before if procs.is_alive(p)]}"
    assert node_processes(tb, node) == []


def test_fence_netns_off_status_on(testbed, cluster_conf) -> None:  # type: ignore[no-untyped-def]
    tb = testbed(cluster_conf())
    switch = start_power_switch(tb, secret=SECRET)
    balthasar, casper, _ = tb.nodes
    assert switch.running()
    assert "192.168.0.254" not in subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
    old_daemon = tb.daemon_pid(casper)
    before = node_processes(tb, casper)
    assert old_daemon in before

    done = run_agent(tb, balthasar, [FENCE_NETNS], action="status", nodename=casper, passwd=SECRET)
    assert (done.returncode, done.stdout) == (0, "Status: ON\n"), done.stderr
    done = run_agent(tb, balthasar, [FENCE_NETNS], action="off", nodename=casper, passwd=SECRET)
    assert (done.returncode, done.stdout) == (0, "Success: Powered OFF\n"), done.stderr
    assert_really_off(tb, casper, before)
    done = run_agent(tb, balthasar, [FENCE_NETNS], action="status", port="casper", login="root", passwd=SECRET)
    assert (done.returncode, done.stdout) == (2, "Status: OFF\n"), done.stderr

    done = run_agent(tb, balthasar, [FENCE_NETNS], action="on", nodename=casper, passwd=SECRET)
    assert (done.returncode, done.stdout) == (0, "Success: Powered ON\n"), done.stderr
    assert tb.is_powered(casper) and tb.daemon_running(casper)
    assert tb.daemon_pid(casper) != old_daemon
    done = tb.exec(casper, ["hostname"], timeout=10)
    assert done.stdout.strip() == casper  # a booted host, reachable again
    done = run_agent(tb, balthasar, [FENCE_NETNS], action="list", passwd=SECRET)
    assert done.returncode == 0 and f"{casper},casper" in done.stdout.splitlines()


def test_fence_ipmilan_against_ipmi_sim(testbed, cluster_conf) -> None:  # type: ignore[no-untyped-def]
    tb = testbed(cluster_conf(), start_daemons=False)
    start_power_switch(tb, secret=SECRET, start_daemon=False)
    balthasar, casper, _ = tb.nodes
    bmc = start_ipmi_sim(tb, casper)
    assert bmc.address == "192.168.0.102"
    options = {**bmc.fence_options(), "nodename": casper}
    before = node_processes(tb, casper)

    start = time.monotonic()
    done = run_agent(tb, balthasar, ["fence_ipmilan"], action="status", **options)
    assert (done.returncode, done.stdout) == (0, "Status: ON\n"), done.stderr
    done = run_agent(tb, balthasar, ["fence_ipmilan"], action="off", **options)
    assert (done.returncode, done.stdout) == (0, "Success: Powered OFF\n"), done.stderr
    assert_really_off(tb, casper, before)
    done = run_agent(tb, balthasar, ["fence_ipmilan"], action="status", **options)
    assert (done.returncode, done.stdout) == (2, "Status: OFF\n"), done.stderr
    done = run_agent(tb, balthasar, ["fence_ipmilan"], action="on", **options)
    assert (done.returncode, done.stdout) == (0, "Success: Powered ON\n"), done.stderr
    assert tb.is_powered(casper)
    assert time.monotonic() - start < 30  # cipher=3: no 14 s cipher-suite probe per call
    wrong = run_agent(tb, balthasar, ["fence_ipmilan"], action="status", **{**options, "passwd": "wrong"})
    assert wrong.returncode == 1


FENCE_CONF = f"""<?xml version="1.0"?>
<cluster name="magi" config_version="1">
  <clusternodes>
    <clusternode name="balthasar.localdomain" nodeid="1"/>
    <clusternode name="casper.localdomain" nodeid="2">
      <fence>
        <method name="dead-switch"><device name="dead" port="casper"/></method>
        <method name="netns"><device name="switch" action="off"/></method>
      </fence>
    </clusternode>
    <clusternode name="melchior.localdomain" nodeid="3"/>
  </clusternodes>
  <fencedevices>
    <fencedevice name="dead" agent="fence_netns" ipaddr="192.168.0.253" passwd="{SECRET}" login_timeout="3"/>
    <fencedevice name="switch" agent="fence_netns" ipaddr="192.168.0.254" passwd="{SECRET}"/>
  </fencedevices>
</cluster>
"""

FENCE_ONCE = """
import asyncio, json, sys
from quorate.config import parse_config
from quorate.node.fence_exec import fence_once
outcome = asyncio.run(fence_once(parse_config(sys.stdin.read()), sys.argv[1], timeout=30))
print(json.dumps({"success": outcome.success, "method": outcome.method, "reason": outcome.reason,
                  "attempts": [[a.method, a.agent, a.returncode, a.error] for a in outcome.attempts]}))
"""


def test_fence_exec_falls_back_from_a_dead_switch(testbed, cluster_conf) -> None:  # type: ignore[no-untyped-def]
    tb = testbed(cluster_conf(), start_daemons=False)
    start_power_switch(tb, secret=SECRET, start_daemon=False)
    balthasar, casper, _ = tb.nodes
    before = node_processes(tb, casper)
    done = tb.exec(balthasar, [sys.executable, "-c", FENCE_ONCE, "casper"], input=FENCE_CONF, timeout=50, env=NODE_ENV)
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    assert outcome["success"] and outcome["method"] == "netns", outcome
    (m1, agent1, rc1, error1), (m2, agent2, rc2, error2) = outcome["attempts"]
    assert (m1, agent1, rc1) == ("dead-switch", "fence_netns", 1)
    assert "Unable to connect to the power switch at 192.168.0.253:1623" in error1
    assert (m2, agent2, rc2, error2) == ("netns", "fence_netns", 0, None)
    assert outcome["reason"].startswith("fenced casper.localdomain with method netns (fence_netns, ")
    assert_really_off(tb, casper, before)
