"""Daemons, power, teardown and crash clean-up on real namespace hosts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from quorate.testbed import Testbed, TestbedError, procs
from quorate.testbed.netns import list_netns
from quorate.testbed.state import run_dir, state_path
from quorate.testbed.support import unique_prefix

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

#: A stand-in daemon: says hello, ticks a counter on the node's disk, says goodbye on SIGTERM.
TICKER = """
import signal, sys, time
def bye(*_):
    print("ticker stopping", flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, bye)
print("ticker up", sys.argv[1:], flush=True)
n, deadline = 0, time.monotonic() + 60
while time.monotonic() < deadline:
    n += 1
    with open("/var/lib/quorate/tick", "w") as f:
        f.write(str(n))
    time.sleep(0.02)
"""
TICKER_CMD = [sys.executable, "-I", "-c", TICKER]
#: A daemon that only sleeps, with a duration unique to this test process so that
#: leftover checks never see another test run's processes.
SLEEP_FOR = f"45.{os.getpid()}"
SLEEPER = ["sleep", SLEEP_FOR]


def wait_for(predicate: Callable[[], object], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


def ticks(bed: Testbed, node: str) -> int:
    try:
        return int((bed.node_dir(node) / "var/lib/quorate/tick").read_text() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def advancing(bed: Testbed, node: str) -> bool:
    before = ticks(bed, node)
    return wait_for(lambda: ticks(bed, node) > before + 2, 3.0)


def leftovers(prefix: str) -> list[str]:
    """Everything a testbed could leave behind, described; empty when it is all gone."""
    found = [f"netns {name}" for name in list_netns() if name.split("-", 1)[0] == prefix]
    if run_dir(prefix).exists():
        found.append(f"dir {run_dir(prefix)}")
    with open("/proc/mounts") as handle:
        found += [f"mount {line.split()[1]}" for line in handle if f"/{prefix}-" in line or f"/{prefix}/" in line]
    for pid in procs.all_pids():
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if f"--tag {prefix}/" in args or f"sleep {SLEEP_FOR} " in args:
            found.append(f"process {pid}: {args}")
    return found


def test_daemon_start_log_pause_resume_kill_stop(testbed: Callable[..., Testbed], magi_conf: Path) -> None:
    bed = testbed(magi_conf, start_daemons=False, daemon_command=TICKER_CMD, daemon_args=["--flag"])
    assert not bed.daemon_running("casper")
    pid = bed.start_daemon("casper", ["--extra"])
    assert bed.daemon_running("casper") and bed.daemon_pid("casper") == pid
    assert wait_for(lambda: "ticker up ['--flag', '--extra']" in bed.daemon_log("casper"))
    assert advancing(bed, "casper")
    with pytest.raises(TestbedError, match="already running"):
        bed.start_daemon("casper")

    bed.pause("casper")
    assert procs.proc_state(pid) in ("T", "t")
    frozen = ticks(bed, "casper")
    time.sleep(0.3)
    assert ticks(bed, "casper") == frozen
    bed.resume("casper")
    assert advancing(bed, "casper")

    bed.kill("casper")
    assert not bed.daemon_running("casper") and not procs.is_alive(pid)
    with pytest.raises(TestbedError, match="no daemon"):
        bed.kill("casper")

    pid2 = bed.start_daemon("casper")
    assert pid2 != pid and wait_for(lambda: bed.daemon_log("casper").count("ticker up") == 2)
    bed.stop_daemon("casper")
    assert not bed.daemon_running("casper")
    assert "ticker stopping" in bed.daemon_log("casper")
    assert "ticker" in (bed.node_dir("casper") / "var/log/quorate/quorated.log").read_text()


def test_pause_and_resume_a_sleep(testbed: Callable[..., Testbed], magi_conf: Path) -> None:
    bed = testbed(magi_conf, start_daemons=False)
    pid = bed.start_daemon("melchior", command=["sleep", "30"])
    bed.pause("melchior")
    assert procs.proc_state(pid) in ("T", "t")
    bed.resume("melchior")
    assert wait_for(lambda: procs.proc_state(pid) == "S")
    assert bed.daemon_running("melchior")
    bed.kill("melchior", signal.SIGTERM)
    assert wait_for(lambda: not bed.daemon_running("melchior"))


def test_paused_nodes_power_off_and_tear_down_promptly(testbed: Callable[..., Testbed], magi_conf: Path) -> None:
    bed = testbed(magi_conf, daemon_command=TICKER_CMD)
    for node in bed.nodes:
        bed.pause(node)
    frozen = ticks(bed, "casper")
    started = time.monotonic()
    bed.power_off("casper")
    assert time.monotonic() - started < 5.0
    assert ticks(bed, "casper") == frozen  # the frozen daemon never ran again
    started = time.monotonic()
    bed.down()
    assert time.monotonic() - started < 5.0


def test_up_starts_daemons_everywhere(testbed: Callable[..., Testbed], magi_conf: Path) -> None:
    bed = testbed(magi_conf, daemon_command=TICKER_CMD)
    assert all(bed.daemon_running(node) for node in bed.nodes)
    assert all(advancing(bed, node) for node in bed.nodes)
    default = testbed(magi_conf, start_daemons=False)
    assert default._state.daemon_command == [sys.executable, "-m", "quorate.node.daemon"]


def test_power_off_kills_everything_and_power_on_boots_fresh(testbed: Callable[..., Testbed], magi_conf: Path) -> None:
    bed = testbed(magi_conf, daemon_command=TICKER_CMD)
    holder, daemon = bed.holder_pid("melchior"), bed.daemon_pid("melchior")
    background = bed.popen("melchior", ["sleep", "40.25"], stdin=subprocess.DEVNULL)
    inner = bed.inner_pid(background)
    bed.exec("melchior", ["sh", "-c", "echo x > /run/marker; echo y > /var/lib/quorate/disk"], check=True)

    mount_ns = procs.ns_id(holder or 0, "mnt")
    bed.power_off("melchior")
    assert not bed.is_powered("melchior") and not bed.daemon_running("melchior")
    assert procs.pids_in_namespaces("mnt", [mount_ns]) == []  # nothing holds its mounts any more
    assert bed.holder_pid("melchior") is None
    assert procs.wait_gone([holder or 0, daemon or 0, inner or 0], 1.0)
    assert background.wait(timeout=5) != 0
    with pytest.raises(TestbedError, match="powered off"):
        bed.exec("melchior", ["true"])
    assert bed.exec("casper", ["ping", "-c1", "-W1", "melchior"], timeout=10).returncode != 0
    assert bed.daemon_running("casper") and bed.daemon_running("balthasar")

    bed.power_on("melchior")
    assert bed.is_powered("melchior") and bed.holder_pid("melchior") not in (None, holder)
    assert not bed.daemon_running("melchior")
    assert bed.exec("melchior", ["hostname"]).stdout.strip() == "melchior.localdomain"
    assert bed.exec("melchior", ["cat", "/run/marker"]).returncode != 0
    assert bed.exec("melchior", ["cat", "/var/lib/quorate/disk"]).stdout == "y\n"
    assert "sleep 40.25" not in bed.exec("melchior", ["ps", "-eo", "args="]).stdout
    assert bed.exec("casper", ["ping", "-c1", "-W2", "melchior"], timeout=10).returncode == 0
    with pytest.raises(TestbedError, match="already powered on"):
        bed.power_on("melchior")

    bed.power_off("melchior")
    bed.power_on("melchior", start_daemon=True)
    assert bed.daemon_running("melchior") and advancing(bed, "melchior")


def test_given_key_goes_to_every_node(testbed: Callable[..., Testbed], magi_conf: Path, tmp_path: Path) -> None:
    key = tmp_path / "quorate.key"
    key.write_bytes(bytes(range(32)))
    bed = testbed(magi_conf, key_path=key, start_daemons=False)
    for node in bed.nodes:
        assert (bed.node_dir(node) / "etc/cluster/quorate.key").read_bytes() == bytes(range(32))
    assert bed.exec("casper", ["od", "-An", "-tx1", "-N2", "/etc/cluster/quorate.key"]).stdout.split() == ["00", "01"]


def test_down_leaves_no_namespaces_mounts_or_processes(testbed: Callable[..., Testbed], magi_conf: Path) -> None:
    bed = testbed(magi_conf, daemon_command=SLEEPER)
    prefix = bed.prefix
    pids = [bed.holder_pid(node) or 0 for node in bed.nodes] + [bed.daemon_pid(node) or 0 for node in bed.nodes]
    assert all(procs.is_alive(pid) for pid in pids)
    assert leftovers(prefix)
    bed.down()
    assert leftovers(prefix) == []
    assert procs.wait_gone(pids, 1.0)
    with pytest.raises(TestbedError, match="is down"):
        bed.exec("casper", ["true"])
    bed.down()  # idempotent


def test_context_manager_downs_on_error(require_root: None, magi_conf: Path) -> None:
    prefix = unique_prefix()
    try:
        with pytest.raises(RuntimeError), Testbed.up(magi_conf, prefix=prefix, start_daemons=False) as bed:
            assert bed.exec("balthasar", ["hostname"]).stdout.strip() == "balthasar.localdomain"
            raise RuntimeError("test body failed")
        assert leftovers(prefix) == []
    finally:
        Testbed.down_prefix(prefix)


def test_up_replaces_an_existing_testbed(testbed: Callable[..., Testbed], magi_conf: Path) -> None:
    first = testbed(magi_conf, daemon_command=SLEEPER)
    old = [first.holder_pid(node) or 0 for node in first.nodes]
    second = testbed(magi_conf, prefix=first.prefix, start_daemons=False)
    assert procs.wait_gone(old, 1.0)
    assert second.exec("casper", ["hostname"]).stdout.strip() == "casper.localdomain"
    assert f"sleep {SLEEP_FOR} " not in " ".join(leftovers(first.prefix))


CREATOR = """
import os, sys
from quorate.testbed import Testbed
bed = Testbed.up(sys.argv[1], prefix=sys.argv[2], daemon_command=["sleep", sys.argv[3]])
bed.partition(["balthasar"])
print(bed.holder_pid("casper"), flush=True)
os.kill(os.getpid(), 9)
"""


@pytest.mark.parametrize("lose_state", [False, True], ids=["with-state", "state-lost"])
def test_down_prefix_cleans_up_after_a_crash(require_root: None, magi_conf: Path, lose_state: bool) -> None:
    prefix = unique_prefix()
    try:
        argv = [sys.executable, "-c", CREATOR, str(magi_conf), prefix, SLEEP_FOR]
        crashed = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        assert crashed.returncode == -signal.SIGKILL, crashed.stderr
        holder = int(crashed.stdout.split()[0])
        assert procs.is_alive(holder)
        assert f"{prefix}-casper" in list_netns()
        if lose_state:
            state_path(prefix).unlink()
        Testbed.down_prefix(prefix)
        assert leftovers(prefix) == []
        assert not procs.is_alive(holder)
    finally:
        Testbed.down_prefix(prefix)
