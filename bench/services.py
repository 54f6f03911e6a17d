"""Service figures on the testbed: start to service started, relocation, failover when the owner dies.

The article's service (ext3 on a shared loop LUN + the article's init script, `quorate.testbed.article`),
fenced by fence_netns through the testbed's power switch, without the quorum disk (its own figures are in
bench/qdisk.py). Failover is measured twice because the paths differ: the owner is not the coordinator
(casper dies, balthasar the coordinator fences it and starts the service itself), and the owner is the
coordinator (balthasar dies, casper must first become coordinator, then fence and start). Each figure runs
from the SIGKILL of the owner's daemon to the "service:test started on X" stamp in the cluster's logs.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path

from bench.common import BIN, BenchError, Results, timed_in_node, wait_log
from quorate.testbed import Testbed, luns
from quorate.testbed.article import Timings, testbed_conf, write_service_files

SECRET = "quorate-bench"
B, C, M = "balthasar.localdomain", "casper.localdomain", "melchior.localdomain"


def make_lun(directory: Path) -> str:
    """A 64 MiB loop device with ext3, shared by every trial (each trial's nodes release it when they die)."""
    device = luns.attach_image(directory / "lun.img", 64)
    subprocess.run(["mkfs.ext3", "-q", "-F", device], check=True, timeout=120)
    return device


detach = luns.detach


def conf_for(directory: Path, device: str, token_ms: int | None) -> Path:
    """The article's final cluster.conf for the testbed; ``token_ms`` None keeps cman's default (10 s)."""
    init = write_service_files(directory, period=2)
    conf = directory / f"cluster-{token_ms or 'default'}.conf"
    conf.write_text(testbed_conf(device, init, fence_secret=SECRET, qdisk=False, timings=Timings(token_ms=token_ms)))
    return conf


def started_on(node: str) -> str:
    return rf"service:test started on {re.escape(node)}"


def start_to_service(tb: Testbed, t0: float, results: Results, token_ms: int) -> None:
    """From the daemons' start to the service started on balthasar (ordered domain ring01, autostart)."""
    started = wait_log(tb, tb.nodes, started_on(B), t0, 60)
    results.add(token_ms, "start_to_service", (started - t0) * 1000)


def relocate(tb: Testbed, results: Results, token_ms: int) -> None:
    """`clusvcadm -r test -m casper` on balthasar, the whole command timed inside the node."""
    [took] = timed_in_node(tb, B, [str(BIN / "clusvcadm"), "-r", "test", "-m", C], 1)
    results.add(token_ms, "relocate", took)


def _kill_owner(tb: Testbed, owner: str, heir: str, survivors: list[str], key: str, results: Results,
                token_ms: int) -> None:  # fmt: skip
    killed = time.time()
    tb.kill(owner, signal.SIGKILL)
    started = wait_log(tb, survivors, started_on(heir), killed, token_ms / 1000 + 60)
    results.add(token_ms, key, (started - killed) * 1000)
    steps = failover_steps(tb, survivors, owner, heir, killed)
    for step, took in steps.items():
        results.add(token_ms, step, took)


def failover_steps(tb: Testbed, survivors: list[str], victim: str, heir: str, since: float) -> dict[str, float]:
    """The critical path after detection, in ms per step, from the earliest stamp of each line on the survivors."""
    name = re.escape(victim)
    marks = [
        ("detected", rf"lost contact with {name}"),
        ("view", rf"view \d+ installed with .*; failed: \{{.*{name}"),
        ("fence_run", rf"fencing {name}: "),
        ("fenced", rf"fence of {name} confirmed"),
        ("decided", rf"service:test: starting on {re.escape(heir)}"),
        ("started", started_on(heir)),
    ]
    at = {mark: wait_log(tb, survivors, pattern, since, 10) for mark, pattern in marks}
    keys = ("step_view", "step_fence_decision", "step_fence_agent", "step_placement", "step_agent_start")
    order = list(at)
    steps = {key: (at[order[i + 1]] - at[order[i]]) * 1000 for i, key in enumerate(keys)}
    # The coordinator that decides the start is the heir in both failovers measured here, so the decision is the
    # start command (the agent is launched in the same pass of the event loop).
    steps["after_detection"] = (at["decided"] - at["detected"]) * 1000
    steps["after_detection_started"] = (at["started"] - at["detected"]) * 1000
    return steps


def failover_owner_not_coordinator(tb: Testbed, results: Results, token_ms: int) -> None:
    """Service on casper (after `relocate`); casper dies; balthasar, the coordinator, fences it and takes over.
    Also gives the time from the kill to "fence of casper confirmed" (fenced's part of the failover)."""
    killed = time.time()
    _kill_owner(tb, C, B, [B, M], "failover_owner_not_coordinator", results, token_ms)
    fenced = wait_log(tb, [B], r"fence of casper\.localdomain confirmed", killed, 10)
    results.add(token_ms, "kill_to_fenced", (fenced - killed) * 1000)


def config_push(tb: Testbed, directory: Path, results: Results, token_ms: int) -> None:
    """`ccs_tool update` of the running file with config_version + 1, typed on casper (not the coordinator):
    the whole command, and until the last node logs the new version active."""
    live = (tb.node_dir(B) / "etc/cluster/cluster.conf").read_text()
    version = int(re.search(r'config_version="(\d+)"', live).group(1)) + 1  # type: ignore[union-attr]
    new = directory / f"push-{token_ms}-{version}.conf"
    new.write_text(re.sub(r'config_version="\d+"', f'config_version="{version}"', live, count=1))
    began = time.time()
    [took] = timed_in_node(tb, C, [str(BIN / "ccs_tool"), "update", str(new)], 1)
    results.add(token_ms, "config_push", took)
    pattern = rf"configuration version {version} active"
    last = max(wait_log(tb, [node], pattern, began, 30) for node in (B, C, M))
    results.add(token_ms, "config_push_all", (last - began) * 1000)


def failover_owner_coordinator(tb: Testbed, results: Results, token_ms: int) -> None:
    """casper (fenced before) boots again and rejoins; then balthasar, owner and coordinator, dies: casper
    becomes coordinator, fences balthasar and starts the service (ring01's next node)."""
    booted = time.time()
    tb.power_on(C, start_daemon=True)
    everyone = r"view \d+ installed with \{balthasar\.localdomain, casper\.localdomain, melchior\.localdomain\}"
    # A node seen failing is readmitted after its links were clean for two tokens (README, membership).
    wait_log(tb, [B], everyone, booted, 2 * token_ms / 1000 + 60)
    time.sleep(1.0)  # let casper finish joining (stop-before-start, service table) before the crash
    if not tb.daemon_running(C):
        raise BenchError("casper's daemon did not stay up after rejoining")
    _kill_owner(tb, B, C, [C, M], "failover_owner_coordinator", results, token_ms)
