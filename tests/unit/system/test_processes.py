"""Finding a server by its command line and stopping it as rgmanager did (SIGTERM, then a short watch)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from quorate.resources.agents.app import terminate
from quorate.system.processes import topmost, with_arguments

# A "server" whose main process starts one worker with the same command line, as Apache does; with
# "stubborn" the main process ignores SIGTERM.
SERVER = """
import os, signal, subprocess, sys, time
if sys.argv[-1] == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if "worker" not in sys.argv:
    worker = subprocess.Popen([sys.executable, *sys.argv[:1], "-f", sys.argv[2], "worker"])
    def stop(*_):
        worker.terminate(); worker.wait(); sys.exit(0)
    if sys.argv[-1] != "stubborn":
        signal.signal(signal.SIGTERM, stop)
time.sleep(60)
"""


Server = tuple[Path, list[subprocess.Popen[bytes]]]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    started: list[subprocess.Popen[bytes]] = []
    yield script, started
    for process in started:
        process.kill()
        process.wait()
    for info in with_arguments(sys.executable, ("-f", str(tmp_path / "site.conf"))):
        os.kill(info.pid, 9)


def launch(script: Path, conf: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, str(script), "-f", str(conf), *extra])


def wait_for(count: int, conf: Path) -> None:
    deadline = time.monotonic() + 10
    while len(with_arguments(sys.executable, ("-f", str(conf)))) < count:
        assert time.monotonic() < deadline, "the server did not start its worker"
        time.sleep(0.05)


def test_the_server_and_its_worker_are_found_by_their_arguments_and_only_they(server: Server, tmp_path: Path) -> None:
    script, started = server
    conf, other = tmp_path / "site.conf", tmp_path / "other.conf"
    started.append(launch(script, conf))
    wait_for(2, conf)
    found = with_arguments(sys.executable, ("-f", str(conf)))
    assert len(found) == 2
    assert [p.pid for p in topmost(found)] == [started[0].pid]
    assert with_arguments(sys.executable, ("-f", str(other))) == []
    assert with_arguments("/usr/sbin/apache2", ("-f", str(conf))) == []  # another program, same arguments


def test_terminate_ends_the_server_and_its_worker_within_a_fraction_of_a_second(server: Server, tmp_path: Path) -> None:
    script, started = server
    conf = tmp_path / "site.conf"
    started.append(launch(script, conf))
    wait_for(2, conf)
    began = time.monotonic()
    assert asyncio.run(terminate(sys.executable, (("-f", str(conf)),), wait=20)) is True
    assert time.monotonic() - began < 10  # generous: a once-a-second poll would already take over 1 s here
    assert with_arguments(sys.executable, ("-f", str(conf))) == []
    started[0].wait(timeout=5)
    assert asyncio.run(terminate(sys.executable, (("-f", str(conf)),), wait=1)) is True  # nothing runs: done


def test_a_server_that_ignores_sigterm_is_left_to_the_agent_after_the_wait(server: Server, tmp_path: Path) -> None:
    script, started = server
    conf = tmp_path / "site.conf"
    started.append(launch(script, conf, "stubborn"))
    wait_for(2, conf)
    began = time.monotonic()
    assert asyncio.run(terminate(sys.executable, (("-f", str(conf)),), wait=0.5)) is False
    assert time.monotonic() - began >= 0.5
    assert started[0].poll() is None  # still there: the OCF agent's stop escalates
