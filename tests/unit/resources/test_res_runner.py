"""The runner with scripted fake agents: order, rollback, stop-through-failures, status scheduling, budgets."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from res_helpers import config_of

from quorate.config.rgtree import Node, ServiceTree
from quorate.resources import ResourceRunner, build_trees
from quorate.resources.agents import Agent, AgentContext, AgentOutcome, default_agents

RM = """
<service name="s">
  <fs name="data" device="/dev/x" mountpoint="/srv" __independent_subtree="{indep}" {fs_extra}>
    <script name="app" file="/etc/init.d/app" {script_extra}/>
  </fs>
  <ip address="10.0.0.9" monitor_link="0"/>
</service>
"""


def tree_of(indep: str = "0", fs_extra: str = "", script_extra: str = "") -> ServiceTree:
    rm = RM.format(indep=indep, fs_extra=fs_extra, script_extra=script_extra)
    return build_trees(config_of(rm))["s"]


class Fake(Agent):
    """Records calls; ``fail`` maps (action, primary) to the rc to fail with; ``delay`` makes calls slow."""

    def __init__(self, rtype: str, log: list[tuple], fail: dict[tuple[str, str], int] | None = None) -> None:
        self.type = rtype
        self.log = log
        self.fail = fail if fail is not None else {}
        self.delay = 0.0
        self.slow: set[str] = set()

    async def _do(self, action: str, res: Node, ctx: AgentContext, depth: int = 0) -> AgentOutcome:
        self.log.append((action, res.label, depth, ctx.refcnt, ctx.timeout))
        if self.delay and action in self.slow:
            await asyncio.sleep(self.delay)
        rc = self.fail.get((action, res.primary))
        if rc is not None:
            return AgentOutcome(False, rc, f"{action} of {res.primary} broke", self_fence=res.flag("self_fence"))
        return AgentOutcome(True, 0, "fine")

    async def _start(self, res: Node, ctx: AgentContext) -> AgentOutcome:
        return await self._do("start", res, ctx)

    async def _stop(self, res: Node, ctx: AgentContext) -> AgentOutcome:
        return await self._do("stop", res, ctx)

    async def _status(self, res: Node, depth: int, ctx: AgentContext) -> AgentOutcome:
        return await self._do("status", res, ctx, depth)


def runner_with(
    fail: dict[tuple[str, str], int] | None = None, clock: Callable[[], float] | None = None, **kwargs: object
) -> tuple[ResourceRunner, list[tuple], dict[str, Fake]]:
    log: list[tuple] = []
    shared = fail if fail is not None else {}
    fakes = {t: Fake(t, log, shared) for t in ("service", "fs", "script", "ip", "lvm")}
    runner = ResourceRunner(node_name="balthasar.localdomain", agents=fakes, clock=clock or (lambda: 0.0), **kwargs)
    return runner, log, fakes


def calls(log: list[tuple], action: str | None = None) -> list[str]:
    return [f"{a} {label}" for a, label, *_ in log if action is None or a == action]


def test_start_runs_in_order_and_reports_success() -> None:
    runner, log, _ = runner_with()
    outcome = asyncio.run(runner.start_service(tree_of()))
    assert outcome.ok and outcome.message == "Start of s complete" and outcome.failed is None
    assert calls(log) == ["start service:s", "start fs:data", "start script:app", "start ip:10.0.0.9"]
    # State follows (service, position, resource), so it survives rebuilding an unchanged tree.
    assert all(runner.is_started(n) for n in tree_of().nodes())
    assert [s.node.label for s in outcome.steps] == ["service:s", "fs:data", "script:app", "ip:10.0.0.9"]


def test_start_failure_stops_what_started_and_the_failed_one_in_reverse() -> None:
    runner, log, _ = runner_with({("start", "app"): 1})
    tree = tree_of()
    outcome = asyncio.run(runner.start_service(tree))
    assert not outcome.ok
    assert outcome.failed is tree.find("script", "app")
    assert outcome.message.startswith("Failed to start s: script:app failed: start of app broke")
    assert calls(log) == [
        "start service:s",
        "start fs:data",
        "start script:app",
        "stop script:app",
        "stop fs:data",
        "stop service:s",
    ]
    assert not outcome.resources_left
    assert not any(runner.is_started(n) for n in tree.nodes())


def test_a_failed_clean_up_after_a_failed_start_leaves_resources() -> None:
    runner, _, _ = runner_with({("start", "app"): 1, ("stop", "data"): 1})
    outcome = asyncio.run(runner.start_service(tree_of()))
    assert not outcome.ok and outcome.resources_left
    assert "stopping it again failed at fs:data" in outcome.message


def test_stop_goes_on_after_a_failure_and_reports_it() -> None:
    runner, log, _ = runner_with({("stop", "data"): 1})
    tree = tree_of(fs_extra='self_fence="1"')
    asyncio.run(runner.start_service(tree))
    log.clear()
    outcome = asyncio.run(runner.stop_service(tree))
    assert calls(log) == ["stop ip:10.0.0.9", "stop script:app", "stop fs:data", "stop service:s"]
    assert not outcome.ok and outcome.resources_left and outcome.self_fence
    assert outcome.failed is tree.find("fs", "data")
    assert outcome.message == "Failed to stop s: fs:data: stop of data broke"


def test_not_installed_on_stop_is_success_only_for_a_resource_never_started_here() -> None:
    runner, _, _ = runner_with({("stop", "app"): 5})
    tree = tree_of()
    assert asyncio.run(runner.stop_service(tree)).ok  # stop-before-start on a node without the program
    asyncio.run(runner.start_service(tree))
    assert not asyncio.run(runner.stop_service(tree)).ok


def test_tree_with_errors_is_not_started() -> None:
    runner, log, _ = runner_with()
    tree = build_trees(config_of('<service name="s"/>'))["s"]
    broken = ServiceTree(tree.name, tree.root, tree.service, ())
    assert asyncio.run(runner.start_service(broken)).ok
    from quorate.config.rgtree import TreeProblem

    bad = ServiceTree(tree.name, tree.root, tree.service, (TreeProblem("s", "x", "boom"),))
    log.clear()
    outcome = asyncio.run(runner.start_service(bad))
    assert not outcome.ok and "boom" in outcome.message and log == []


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_status_waits_one_interval_after_start_then_runs_the_deepest_due_check() -> None:
    clock = Clock()
    runner, log, _ = runner_with(clock=clock)
    tree = tree_of()
    asyncio.run(runner.start_service(tree))
    log.clear()
    outcome = asyncio.run(runner.status_service(tree, clock.now + 5))
    assert outcome.ok and log == []  # nothing due yet: results reused
    assert all(s.reused for s in outcome.steps)
    # fs: depth 10 every 30 s, depth 0 and 20 every 60 s; script every 30 s; ip depth 0 every 20 s.
    asyncio.run(runner.status_service(tree, clock.now + 30))
    assert [(label, depth) for _, label, depth, *_ in log] == [("fs:data", 10), ("script:app", 0), ("ip:10.0.0.9", 0)]
    log.clear()
    asyncio.run(runner.status_service(tree, clock.now + 60))
    assert [(label, depth) for _, label, depth, *_ in log] == [("fs:data", 20), ("script:app", 0), ("ip:10.0.0.9", 10)]
    log.clear()
    asyncio.run(runner.status_service(tree, clock.now + 61))
    assert log == []


def test_status_failure_fails_the_service_and_stops_the_walk() -> None:
    clock = Clock()
    runner, log, _ = runner_with({("status", "data"): 7}, clock=clock)
    tree = tree_of()
    asyncio.run(runner.start_service(tree))
    log.clear()
    outcome = asyncio.run(runner.status_service(tree, clock.now + 3600))
    assert not outcome.ok and outcome.failed is tree.find("fs", "data") and outcome.recoverable == ()
    assert calls(log) == ["status service:s", "status fs:data"]
    assert outcome.message.startswith("Status check of s failed: fs:data")


def test_independent_subtree_failure_is_recoverable_and_restarted_in_place() -> None:
    clock = Clock()
    fail: dict[tuple[str, str], int] = {("status", "app"): 1}
    runner, log, _ = runner_with(fail, clock=clock)
    tree = tree_of(indep="1")
    asyncio.run(runner.start_service(tree))
    log.clear()
    outcome = asyncio.run(runner.status_service(tree, clock.now + 3600))
    fs = tree.find("fs", "data")
    assert not outcome.ok and outcome.failed is None and outcome.recoverable == (fs,)
    assert calls(log) == ["status service:s", "status fs:data", "status script:app", "status ip:10.0.0.9"]
    log.clear()
    fail.clear()
    assert fs is not None
    recovered = asyncio.run(runner.recover_subtree(tree, fs))
    assert recovered.ok and calls(log) == ["stop script:app", "stop fs:data", "start fs:data", "start script:app"]


def test_restart_budget_of_an_independent_subtree() -> None:
    clock = Clock()
    runner, _, _ = runner_with(clock=clock)
    tree = tree_of(indep="1", fs_extra='__max_restarts="2" __restart_expire_time="10m"')
    fs = tree.find("fs", "data")
    assert fs is not None
    asyncio.run(runner.start_service(tree))
    assert asyncio.run(runner.recover_subtree(tree, fs)).ok
    assert asyncio.run(runner.recover_subtree(tree, fs)).ok
    third = asyncio.run(runner.recover_subtree(tree, fs))
    assert not third.ok and "restart budget (2) exhausted" in third.message
    clock.now += 601
    assert asyncio.run(runner.recover_subtree(tree, fs)).ok


def test_non_critical_subtree_is_only_stopped() -> None:
    runner, log, _ = runner_with()
    tree = tree_of(indep="non-critical")
    fs = tree.find("fs", "data")
    assert fs is not None and fs.independent == "non-critical"
    asyncio.run(runner.start_service(tree))
    log.clear()
    outcome = asyncio.run(runner.recover_subtree(tree, fs))
    assert outcome.ok and calls(log) == ["stop script:app", "stop fs:data"]


def test_max_failures_hides_failures_within_the_window() -> None:
    clock = Clock()
    runner, _, _ = runner_with({("status", "app"): 1}, clock=clock)
    tree = tree_of(script_extra='__max_failures="2" __failure_expire_time="5m"')
    asyncio.run(runner.start_service(tree))
    first = asyncio.run(runner.status_service(tree, clock.now + 30))
    second = asyncio.run(runner.status_service(tree, clock.now + 60))
    third = asyncio.run(runner.status_service(tree, clock.now + 90))
    assert first.ok and second.ok and not third.ok
    assert "tolerated failure 2 of 2" in second.steps[2].outcome.message
    later = asyncio.run(runner.status_service(tree, clock.now + 1000))
    assert later.ok  # the old failures expired


def test_refcount_of_a_shared_resource_across_services() -> None:
    runner, log, _ = runner_with()
    rm = """<resources><script name="shared" file="/bin/true"/></resources>
    <service name="a"><script ref="shared"/></service><service name="b"><script ref="shared"/></service>"""
    trees = build_trees(config_of(rm))
    asyncio.run(runner.start_service(trees["a"]))
    asyncio.run(runner.start_service(trees["b"]))
    asyncio.run(runner.stop_service(trees["a"]))
    asyncio.run(runner.stop_service(trees["b"]))
    refcounts = [(action, label, ref) for action, label, _, ref, _ in log if label == "script:shared"]
    assert refcounts == [
        ("start", "script:shared", 0),
        ("start", "script:shared", 1),
        ("stop", "script:shared", 1),
        ("stop", "script:shared", 0),
    ]


def test_enforced_timeouts_kill_a_hung_agent_and_fail() -> None:
    runner, log, fakes = runner_with(ceiling=300.0)
    fakes["script"].delay = 30.0
    fakes["script"].slow = {"start"}
    tree = tree_of(
        script_extra='__enforce_timeouts="1"><action name="start" timeout="1"/></script><script name="z" file="/x"'
    )
    outcome = asyncio.run(asyncio.wait_for(runner.start_service(tree), 20))
    assert not outcome.ok and outcome.failed is not None and outcome.failed.primary == "app"
    start = next(entry for entry in log if entry[0] == "start" and entry[1] == "script:app")
    assert start[4] == 1.0
    failed = next(s for s in outcome.steps if not s.outcome.ok)
    assert failed.outcome.timed_out or "timed out" in failed.outcome.message


def test_unenforced_timeouts_use_the_ceiling() -> None:
    runner, log, _ = runner_with(ceiling=123.0)
    asyncio.run(runner.start_service(tree_of()))
    timeouts = {label: timeout for action, label, _, _, timeout in log}
    assert timeouts == {"service:s": 123.0, "fs:data": 900.0, "script:app": 123.0, "ip:10.0.0.9": 123.0}


def test_default_agents_cover_the_runnable_types() -> None:
    apps = {"apache", "mysql", "postgres-8", "tomcat-5", "tomcat-6", "named", "nfsserver", "nfsexport", "nfsclient"}
    apps |= {"samba", "smb", "openldap", "SAPInstance", "SAPDatabase"}
    own = {"service", "script", "fs", "ip", "lvm", "ocf", "systemd", "lvs", "realserver"}
    assert set(default_agents()) == own | apps


NESTED = """
<service name="s">
  <fs name="data" device="/dev/x" mountpoint="/srv" __independent_subtree="1">
    <script name="app" file="/etc/init.d/app" __independent_subtree="{inner}" {inner_extra}/>
  </fs>
  <ip address="10.0.0.9" monitor_link="0"/>
</service>
"""


def test_nested_independent_subtrees_the_outermost_recovers() -> None:
    # rgmanager let every independent ancestor take a failure over on its way up: the outermost decides.
    clock = Clock()
    runner, log, _ = runner_with({("status", "app"): 1}, clock=clock)
    tree = build_trees(config_of(NESTED.format(inner="1", inner_extra="")))["s"]
    asyncio.run(runner.start_service(tree))
    outcome = asyncio.run(runner.status_service(tree, clock.now + 3600))
    assert outcome.recoverable == (tree.find("fs", "data"),) and outcome.failed is None
    assert tree.independent_root(tree.find("script", "app")) is tree.find("fs", "data")  # type: ignore[arg-type]
    assert calls(log)[-1] == "status ip:10.0.0.9"  # the walk went on outside the subtree


def test_a_restart_budget_needs_both_settings() -> None:
    clock = Clock()
    runner, _, _ = runner_with(clock=clock)
    tree = tree_of(indep="1", fs_extra='__max_restarts="1"')  # no __restart_expire_time: no counter, as rgmanager
    fs = tree.find("fs", "data")
    assert fs is not None
    asyncio.run(runner.start_service(tree))
    assert all(asyncio.run(runner.recover_subtree(tree, fs)).ok for _ in range(4))


def test_a_service_start_resets_the_restart_budget() -> None:
    clock = Clock()
    runner, _, _ = runner_with(clock=clock)
    tree = tree_of(indep="yes", fs_extra='__max_restarts="1" __restart_expire_time="1h"')
    fs = tree.find("fs", "data")
    assert fs is not None
    asyncio.run(runner.start_service(tree))
    assert asyncio.run(runner.recover_subtree(tree, fs)).ok
    assert not asyncio.run(runner.recover_subtree(tree, fs)).ok
    assert asyncio.run(runner.recover_subtree(tree, fs)).ok  # rgmanager cleared the counter when it gave up
    assert not asyncio.run(runner.recover_subtree(tree, fs)).ok
    asyncio.run(runner.start_service(tree))
    assert asyncio.run(runner.recover_subtree(tree, fs)).ok


def test_non_critical_with_a_budget_restarts_then_stops_for_good() -> None:
    clock = Clock()
    fail: dict[tuple[str, str], int] = {}
    runner, log, _ = runner_with(fail, clock=clock)
    tree = tree_of(indep="2", fs_extra='__max_restarts="1" __restart_expire_time="10m"')
    fs = tree.find("fs", "data")
    assert fs is not None and fs.independent == "non-critical"
    asyncio.run(runner.start_service(tree))
    log.clear()
    first = asyncio.run(runner.recover_subtree(tree, fs))
    assert first.ok and first.message == "fs:data restarted"
    assert calls(log) == ["stop script:app", "stop fs:data", "start fs:data", "start script:app"]
    log.clear()
    second = asyncio.run(runner.recover_subtree(tree, fs))
    assert second.ok and second.message == "fs:data stopped (non-critical)"
    assert calls(log) == ["stop script:app", "stop fs:data"]
    # A stopped non-critical subtree is not checked again (it would fail every time); the rest still is.
    fail[("status", "app")] = 1
    log.clear()
    outcome = asyncio.run(runner.status_service(tree, clock.now + 3600))
    assert outcome.ok and calls(log) == ["status service:s", "status ip:10.0.0.9"]
    asyncio.run(runner.start_service(tree))  # a new start brings it back into the checks
    log.clear()
    assert not asyncio.run(runner.status_service(tree, clock.now + 7200)).ok
    assert "status script:app" in calls(log)


def test_a_failure_counter_needs_both_settings() -> None:
    clock = Clock()
    runner, _, _ = runner_with({("status", "app"): 1}, clock=clock)
    tree = tree_of(script_extra='__max_failures="3"')  # no __failure_expire_time: every failure counts
    asyncio.run(runner.start_service(tree))
    assert not asyncio.run(runner.status_service(tree, clock.now + 30)).ok


BAD_METADATA = """#!/bin/sh
case "$1" in
meta-data) {metadata} ;;
start) echo start >> "{log}"; exit 0 ;;
stop) echo stop >> "{log}"; exit 0 ;;
monitor) exit 0 ;;
esac
exit 3
"""


@pytest.mark.parametrize("metadata", ["echo '<resource-agent><actions><action'", "exec sleep 60"])
def test_an_ocf_agent_with_broken_or_hanging_meta_data_starts_once_on_the_catalogue_table(
    metadata: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from quorate.resources.agents import ocf
    from quorate.resources.agents.base import ServiceAgent

    real_run = ocf.run

    async def quick_run(argv: list[str], *, timeout: float, env: dict[str, str] | None = None) -> object:
        return await real_run(argv, timeout=min(timeout, 1.0), env=env)  # the hang is cut after 1 s, not 10

    monkeypatch.setattr(ocf, "run", quick_run)
    log = tmp_path / "calls"
    program = tmp_path / "ocf" / "resource.d" / "acme" / "Odd"
    program.parent.mkdir(parents=True)
    program.write_text(BAD_METADATA.format(metadata=metadata, log=log))
    program.chmod(0o755)
    agents = {"service": ServiceAgent(), "ocf": ocf.OcfAgent(ocf_root=str(tmp_path / "ocf"))}
    runner = ResourceRunner(node_name="balthasar.localdomain", agents=agents, rsctmp=str(tmp_path / "rsctmp"))
    tree = build_trees(config_of('<service name="s"><ocf name="odd" agent="ocf:acme:Odd"/></service>'))["s"]
    began = time.monotonic()
    outcome = asyncio.run(runner.start_service(tree))
    assert outcome.ok, outcome.message
    assert time.monotonic() - began < 10
    assert log.read_text() == "start\n"  # nothing started twice
    table = asyncio.run(agents["ocf"].actions(tree.root.children[0]))
    assert table == tree.root.children[0].actions  # the catalogue's table stands in for the broken one
    assert asyncio.run(runner.stop_service(tree)).ok and log.read_text() == "start\nstop\n"
    said = [r.getMessage() for r in caplog.records if "meta-data unusable" in r.getMessage()]
    assert said and said[0].startswith("ocf agent acme:Odd: meta-data unusable ("), said
