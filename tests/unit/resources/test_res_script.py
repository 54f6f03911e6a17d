"""The script agent with real small LSB scripts: exit codes, validation, daemons, timeouts, shared scripts."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest
from res_helpers import config_of

from quorate.config.rgtree import Node
from quorate.resources import ResourceRunner, build_trees
from quorate.resources.agents import AgentContext, ScriptAgent

LSB = """#!/bin/sh
# A well-behaved LSB init script keeping a daemon (sleep) in the background.
PIDFILE="{dir}/daemon.pid"
case "$1" in
start)
    if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then exit 0; fi
    sleep 300 &
    echo $! > "$PIDFILE"
    echo "$OCF_RESKEY_service_name $OCF_RESOURCE_INSTANCE $OCF_RESKEY_RGMANAGER_meta_refcnt" >> "{dir}/log"
    exit 0 ;;
stop)
    if [ -f "$PIDFILE" ]; then kill "$(cat "$PIDFILE")" 2>/dev/null; rm -f "$PIDFILE"; fi
    exit 0 ;;
status)
    if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then exit 0; fi
    [ -f "$PIDFILE" ] && exit 1
    exit 3 ;;
esac
exit 2
"""


def script_node(tmp_path: Path, body: str | None = None, name: str = "svc", mode: int = 0o755) -> Node:
    path = tmp_path / name
    path.write_text(LSB.format(dir=tmp_path) if body is None else body)
    path.chmod(mode)
    tree = build_trees(config_of(f'<service name="web"><script name="{name}" file="{path}"/></service>'))["web"]
    node = tree.find("script", name)
    assert node is not None
    return node


def ctx(timeout: float = 10.0, refcnt: int = 0) -> AgentContext:
    return AgentContext(timeout=timeout, refcnt=refcnt, node_name="balthasar.localdomain")


def kill_daemon(tmp_path: Path) -> None:
    pidfile = tmp_path / "daemon.pid"
    if pidfile.exists():
        try:
            os.kill(int(pidfile.read_text()), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


@pytest.fixture
def agent() -> ScriptAgent:
    return ScriptAgent()


def test_start_status_stop_with_lsb_codes(tmp_path: Path, agent: ScriptAgent) -> None:
    node = script_node(tmp_path)
    try:
        before = asyncio.run(agent.status(node, 0, ctx()))
        assert not before.ok and before.rc == 7 and "returned 3 (program is not running)" in before.message
        began = time.monotonic()
        started = asyncio.run(agent.start(node, ctx()))
        assert started.ok and started.rc == 0
        assert time.monotonic() - began < 5, "the background daemon must not hold the agent's output open"
        assert (tmp_path / "log").read_text() == "web script:svc 0\n"  # rgmanager's environment reached it
        assert asyncio.run(agent.start(node, ctx())).ok  # start of a running service: success
        assert asyncio.run(agent.status(node, 0, ctx())).ok
        assert asyncio.run(agent.stop(node, ctx())).ok
        assert asyncio.run(agent.stop(node, ctx())).ok  # stop of a stopped service: success
        after = asyncio.run(agent.status(node, 0, ctx()))
        assert not after.ok and after.rc == 7
    finally:
        kill_daemon(tmp_path)


def test_status_1_dead_with_pid_file_is_a_failure(tmp_path: Path, agent: ScriptAgent) -> None:
    node = script_node(tmp_path)
    (tmp_path / "daemon.pid").write_text("999999\n")
    outcome = asyncio.run(agent.status(node, 0, ctx()))
    assert (
        not outcome.ok
        and outcome.rc == 7
        and "returned 1 (program is dead and /var/run pid file exists)" in outcome.message
    )


def test_any_non_zero_is_a_failure_even_for_stop(tmp_path: Path, agent: ScriptAgent) -> None:
    node = script_node(tmp_path, "#!/bin/sh\necho 'cannot stop: busy' >&2\nexit 1\n")
    outcome = asyncio.run(agent.stop(node, ctx()))
    assert not outcome.ok and outcome.rc == 1
    assert outcome.message.endswith("stop returned 1 (failed): cannot stop: busy")
    weird = script_node(tmp_path, "#!/bin/sh\nexit 42\n", name="weird")
    assert asyncio.run(agent.start(weird, ctx())).rc == 1  # codes above 7 become OCF generic errors


@pytest.mark.parametrize(
    ("setup", "rc", "words"),
    [
        ("missing", 5, "does not exist"),
        ("directory", 2, "is a directory"),
        ("empty", 1, "is empty"),
        ("not executable", 4, "is not executable"),
    ],
)
def test_validation(tmp_path: Path, agent: ScriptAgent, setup: str, rc: int, words: str) -> None:
    node = script_node(tmp_path)
    path = Path(node.attrs["file"])
    if setup == "missing":
        path.unlink()
    elif setup == "directory":
        path.unlink()
        path.mkdir()
    elif setup == "empty":
        path.write_text("")
    else:
        path.chmod(0o644)
    outcome = asyncio.run(agent.start(node, ctx()))
    assert (outcome.ok, outcome.rc) == (False, rc) and words in outcome.message


def test_a_hung_script_is_killed_at_its_timeout(tmp_path: Path, agent: ScriptAgent) -> None:
    node = script_node(tmp_path, "#!/bin/sh\nsleep 60\n")
    began = time.monotonic()
    outcome = asyncio.run(agent.start(node, ctx(timeout=1.0)))
    assert time.monotonic() - began < 10
    assert not outcome.ok and outcome.timed_out and "timed out" in outcome.message


def test_a_shared_script_is_stopped_by_its_last_user_only(tmp_path: Path) -> None:
    script = tmp_path / "shared"
    script.write_text(LSB.format(dir=tmp_path))
    script.chmod(0o755)
    rm = f"""<resources><script name="shared" file="{script}"/></resources>
    <service name="a"><script ref="shared"/></service><service name="b"><script ref="shared"/></service>"""
    trees = build_trees(config_of(rm))
    runner = ResourceRunner(node_name="balthasar.localdomain")
    try:
        assert asyncio.run(runner.start_service(trees["a"])).ok
        assert asyncio.run(runner.start_service(trees["b"])).ok
        assert (tmp_path / "log").read_text().splitlines() == ["a script:shared 0"]  # b's start found it running
        stopped_a = asyncio.run(runner.stop_service(trees["a"]))
        assert stopped_a.ok and "still used by 1 other service(s)" in stopped_a.steps[0].outcome.message
        assert asyncio.run(runner.status_service(trees["b"], time.monotonic() + 3600)).ok
        assert asyncio.run(runner.stop_service(trees["b"])).ok
        assert not (tmp_path / "daemon.pid").exists()
    finally:
        kill_daemon(tmp_path)
