"""fence_manual run by hand: the F-30 message, waiting (without timeout) for the acknowledgement file."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lxml import etree

from quorate.agents.fence_manual import ACK_DIR_ENV, wait_for_ack, write_ack

AGENT = [sys.executable, "-m", "quorate.agents.fence_manual"]


def start(ack_dir: Path, stdin: str) -> subprocess.Popen[str]:
    env = {**os.environ, ACK_DIR_ENV: str(ack_dir)}
    given = ack_dir / "agent.stdin"
    given.write_text(stdin)
    with open(given) as handle:
        return subprocess.Popen(AGENT, stdin=handle, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def finish(proc: subprocess.Popen[str], timeout: float) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    return proc.returncode, out, err


def wait_for_message(ack_dir: Path, node: str, timeout: float = 10) -> None:
    """The agent holds its per-node lock while it waits: poll for the lock file as the sign it started."""
    deadline = time.monotonic() + timeout
    while not (ack_dir / f".{node}.lock").exists():
        assert time.monotonic() < deadline, "fence_manual did not start waiting"
        time.sleep(0.05)
    time.sleep(0.3)  # past the stale-acknowledgement sweep


def test_waits_until_acknowledged(tmp_path: Path) -> None:
    proc = start(tmp_path, "agent=fence_manual\nnodename=casper.localdomain\n")
    try:
        wait_for_message(tmp_path, "casper.localdomain")
        time.sleep(1.2)
        assert proc.poll() is None  # still waiting: there is no timeout
        assert write_ack("casper.localdomain", tmp_path) == tmp_path / "casper.localdomain.ack"
        code, out, err = finish(proc, 5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert (code, out) == (0, "success: fence_manual casper.localdomain\n")
    assert (
        "Node casper.localdomain needs to be reset before recovery can procede. Waiting for casper.localdomain to "
        "rejoin the cluster or for manual acknowledgement that it has been reset "
        "(i.e. fence_ack_manual -n casper.localdomain)"
    ) in err
    assert not (tmp_path / "casper.localdomain.ack").exists()  # consumed


def test_short_name_acknowledgement_counts_and_stale_ones_do_not(tmp_path: Path) -> None:
    (tmp_path / "casper.ack").write_text("")  # left over from an earlier fence
    proc = start(tmp_path, "ipaddr=casper.localdomain\n")  # the legacy name of nodename
    try:
        wait_for_message(tmp_path, "casper.localdomain")
        assert proc.poll() is None and not (tmp_path / "casper.ack").exists()
        (tmp_path / "casper.ack").write_text("")
        code, out, err = finish(proc, 5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert code == 0 and out == "success: fence_manual casper.localdomain\n"
    assert "stale acknowledgement" in err


def test_other_actions(tmp_path: Path) -> None:
    env = {**os.environ, ACK_DIR_ENV: str(tmp_path)}

    def run(*argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*AGENT, *argv], input=stdin, capture_output=True, text=True, env=env, timeout=30, check=False
        )

    meta = run("-o", "metadata")
    assert meta.returncode == 0
    root = etree.fromstring(meta.stdout.encode())
    assert root.get("name") == "fence_manual" and {p.get("name") for p in root.iter("parameter")} >= {"nodename"}
    assert run(stdin="action=on\nnodename=casper\n").returncode == 0
    assert run(stdin="action=monitor\n").returncode == 0
    assert run(stdin="action=status\nnodename=casper\n").returncode == 1
    assert run(stdin="action=off\n").returncode == 1  # no node name
    bad = run(stdin="nodename=../etc/passwd\n")
    assert bad.returncode == 1 and "not a node name" in bad.stderr


def test_polls_once_a_second(tmp_path: Path) -> None:
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 3:
            (tmp_path / "casper.localdomain.ack").write_text("")

    assert wait_for_ack("casper.localdomain", tmp_path, sleep=sleep, err=pytest.fail).name == "casper.localdomain.ack"
    assert sleeps == [1.0, 1.0, 1.0]


def test_write_ack_refuses_paths(tmp_path: Path) -> None:
    for bad in ("", "../x", ".hidden", "a/b"):
        with pytest.raises(ValueError):
            write_ack(bad, tmp_path)
