"""Cluster locks and clustered LVM on three testbed nodes sharing loop-device LUNs (what clvmd did for the article).

The LUNs are loop devices every node sees (the testbed shares /dev); each node has its own /run, hence its own
LVM hints and lock files, as separate machines would. There is no device-mapper here, so LVs are created with
``--driverloaded n -an -Zn`` (metadata only). Fencing goes through fence_netns and the testbed's power switch.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from e2e_helpers import QUORATE, view_is, wait_for

from quorate.testbed import Testbed
from quorate.testbed.power import start_power_switch

SECRET = "e2e-locks-secret"
B, C, M = "balthasar.localdomain", "casper.localdomain", "melchior.localdomain"
NAMES = (B, C, M)
LOCK = [*QUORATE, "lock"]
LVM = [*QUORATE, "lvm"]
NODE_ENV = {
    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"
}
LVM_ENV = {**NODE_ENV, "LVM_SUPPRESS_FD_WARNINGS": "1"}


def conf(path: Path, *, post_fail_delay: int = 0) -> Path:
    nodes = "\n".join(
        f'    <clusternode name="{name}" nodeid="{i}" votes="1"><fence>'
        '<method name="netns"><device name="switch" action="off"/></method></fence></clusternode>'
        for i, name in enumerate(NAMES, start=1)
    )
    path.write_text(
        '<?xml version="1.0"?>\n<cluster name="magi" config_version="1">\n  <totem token="3000"/>\n'
        f'  <fence_daemon post_fail_delay="{post_fail_delay}" post_join_delay="3"/>\n'
        f"  <clusternodes>\n{nodes}\n  </clusternodes>\n"
        f'  <fencedevices><fencedevice name="switch" agent="fence_netns" passwd="{SECRET}"/></fencedevices>\n'
        "</cluster>\n"
    )
    return path


@pytest.fixture
def luns(require_root: None, tmp_path: Path) -> Iterator[list[str]]:
    """Two blank 64 MiB loop devices: the shared LUNs (the article's sdc and sdd)."""
    devices = []
    try:
        for name in ("sdc", "sdd"):
            image = tmp_path / f"{name}.img"
            with open(image, "wb") as handle:
                handle.truncate(64 * 1024 * 1024)
            done = subprocess.run(
                ["losetup", "--find", "--show", str(image)], capture_output=True, text=True, timeout=60
            )
            assert done.returncode == 0, done.stderr
            devices.append(done.stdout.strip())
        yield devices
    finally:
        for device in devices:
            subprocess.run(["wipefs", "-a", "-q", device], capture_output=True, timeout=60)
            subprocess.run(["losetup", "-d", device], capture_output=True, timeout=60)


def cluster(testbed, tmp_path: Path, **kwargs: int) -> Testbed:  # type: ignore[no-untyped-def]
    tb: Testbed = testbed(conf(tmp_path / "cluster.conf", **kwargs))
    start_power_switch(tb, secret=SECRET, start_daemon=False)
    for node in NAMES:
        wait_for(f"three nodes quorate on {node}", view_is(tb, node, list(NAMES), True), timeout=60)
    return tb


def run(tb: Testbed, node: str, argv: list[str], timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return tb.exec(node, argv, timeout=timeout, env=LVM_ENV)


def ok(tb: Testbed, node: str, argv: list[str]) -> str:
    done = run(tb, node, argv)
    assert done.returncode == 0, f"{argv} on {node}: {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def stamps(stderr: str) -> tuple[float, float]:
    granted = float(re.search(r"granted in \w+ on \S+ after [\d.]+ s at ([\d.]+)", stderr).group(1))  # type: ignore[union-attr]
    released = float(re.search(r"released at ([\d.]+)", stderr).group(1))  # type: ignore[union-attr]
    return granted, released


def log_time(log: str, text: str) -> float:
    line = next(ln for ln in log.splitlines() if text in ln)
    return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S.%f").timestamp()


def test_clustered_lvm_metadata_from_one_node_seen_on_all(testbed, luns: list[str], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sdc, sdd = luns
    vg = f"magi_vg{os.getpid() % 100000}"
    tb = cluster(testbed, tmp_path)

    # The article's steps, each through `quorate lvm` on balthasar: pvcreate, vgcreate magi_vg, lvcreate.
    ok(tb, B, [*LVM, "--", "pvcreate", sdc])
    ok(tb, B, [*LVM, "--", "vgcreate", vg, sdc])
    out = ok(
        tb, B, [*LVM, "-v", "--", "lvcreate", "--driverloaded", "n", "-an", "-Zn", "-n", "test_lv", "-L", "8m", vg]
    )
    assert f"casper.localdomain now sees {vg} seqno" in out and "1 LV" in out, out
    for node in (C, M):  # "check on the other nodes that the volumes are visible"
        assert "test_lv" in ok(tb, node, ["lvs", "--noheadings", "-o", "lv_name", vg])

    # Without quorate lvm, a change made on melchior leaves casper with stale device hints: a missing PV.
    ok(tb, C, ["pvs"])
    ok(tb, M, ["pvcreate", "-q", sdd])
    ok(tb, M, ["vgextend", "-q", vg, sdd])
    stale = run(tb, C, ["vgs", vg])
    assert "missing PV" in stale.stderr, stale.stdout + stale.stderr
    # Through quorate lvm, every other node refreshes after the command: casper sees both PVs again.
    ok(tb, M, [*LVM, "--", "vgchange", "--addtag", "seen_by_all", vg])
    fresh = run(tb, C, ["pvs", "--noheadings", "-o", "pv_name,vg_name"])
    assert "missing" not in fresh.stderr and f"{sdd} {vg}" in " ".join(fresh.stdout.split()), fresh.stderr
    assert "seen_by_all" in ok(tb, C, ["vgs", "--noheadings", "-o", "vg_tags", vg])

    # Two nodes changing the VG at once are serialized: the second command starts after the first ended.
    jobs = [
        tb.popen(
            node,
            [*LOCK, "-v", "-l", "lvm", vg, "--", "sh", "-c", "sleep 1.5"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **LVM_ENV},
        )
        for node in (B, C)
    ]
    results = [job.communicate(timeout=60) for job in jobs]
    assert [job.returncode for job in jobs] == [0, 0], results
    (g1, r1), (g2, r2) = sorted(stamps(err) for _out, err in results)
    assert g2 >= r1 - 0.05, f"two holders of {vg} at once: {g1}-{r1} and {g2}-{r2}"
    creates = [
        tb.popen(
            node,
            [*LVM, "--", "lvcreate", "--driverloaded", "n", "-an", "-Zn", "-n", f"lv_{node[:1]}", "-L", "4m", vg],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **LVM_ENV},
        )
        for node in (B, C, M)
    ]
    outcomes = [job.communicate(timeout=120) for job in creates]
    assert [job.returncode for job in creates] == [0, 0, 0], outcomes
    lvs = ok(tb, M, ["lvs", "--noheadings", "-o", "lv_name", vg]).split()
    assert sorted(lvs) == ["lv_b", "lv_c", "lv_m", "test_lv"], "a concurrent metadata update was lost"

    # A VG whose system ID names another live member is refused (casper owns it now).
    ok(tb, C, [*LVM, "--", "vgchange", "-y", "--systemid", C, vg])
    refused = run(tb, B, [*LVM, "--", "vgchange", "--addtag", "stolen", vg])
    assert refused.returncode == 1
    assert f"volume group {vg} belongs to {C} (its system ID), a live member of the cluster" in refused.stderr


def test_bad_input_and_failing_commands_always_release_the_lock(testbed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tb = cluster(testbed, tmp_path)
    bad = run(tb, B, [*LOCK, "-m", "XX", "name", "--", "true"])
    assert bad.returncode == 2 and "unknown lock mode 'XX': use one of NL, CR, CW, PR, PW, EX" in bad.stderr
    bad = run(tb, B, [*LOCK, "x" * 65, "--", "true"])
    assert bad.returncode == 2 and "is 65 bytes long; the limit is 64 bytes" in bad.stderr

    # held long enough for the checks below on a loaded machine (each command is a whole process)
    holder = tb.popen(B, [*LOCK, "-v", "magi", "--", "sleep", "12"], stderr=subprocess.PIPE, text=True)
    wait_for("balthasar holds magi", lambda: "magi" in run(tb, B, [*QUORATE, "locks"]).stdout, timeout=20)
    for node in (B, C, M):  # every member shows the whole table; those that are not the master ask it
        listing = run(tb, node, [*QUORATE, "locks"]).stdout
        assert "/magi: granted: balthasar.localdomain EX" in listing, listing
    assert any("Cluster table (from the lock master" in run(tb, n, [*QUORATE, "locks"]).stdout for n in (B, C, M))
    groups = run(tb, B, [sys.executable, "-m", "quorate.cli.cman_tool", "services"]).stdout.splitlines()
    assert "[1 2 3]" in groups and any(g.split()[:3] == ["dlm", "1", "default"] for g in groups), groups
    started = time.monotonic()
    waited = run(tb, C, [*LOCK, "-t", "1", "magi", "--", "true"])
    assert waited.returncode == 75 and "timed out waiting for the lock" in waited.stderr, waited.stderr
    assert 0.9 <= time.monotonic() - started < 10
    tried = run(tb, M, [*LOCK, "-t", "0", "-m", "PR", "magi", "--", "true"])
    assert tried.returncode == 75 and "lock not available: held in EX by balthasar.localdomain" in tried.stderr
    holder.communicate(timeout=30)
    assert holder.returncode == 0

    failing = run(tb, C, [*LOCK, "magi", "--", "sh", "-c", "echo doing; exit 3"])
    assert (failing.returncode, failing.stdout) == (3, "doing\n")
    missing = run(tb, C, [*LOCK, "magi", "--", "/nonexistent/command"])
    assert missing.returncode == 127 and "cannot run /nonexistent/command" in missing.stderr
    again = run(tb, M, [*LOCK, "-t", "0", "magi", "--", "true"])
    assert again.returncode == 0, "the lock stayed held after a failed command: " + again.stderr

    # A client killed while it holds the lock: its command keeps it (as with flock), then the daemon frees it.
    killed = tb.popen(B, [*LOCK, "magi", "--", "sleep", "2"])
    wait_for("balthasar holds magi again", lambda: "magi" in run(tb, B, [*QUORATE, "locks"]).stdout, timeout=20)
    os.kill(tb.inner_pid(killed) or 0, signal.SIGKILL)
    busy = run(tb, M, [*LOCK, "-t", "0", "magi", "--", "true"])
    assert busy.returncode == 75, "the lock was released while the command still ran"
    tb.end_popen(killed)
    wait_for("magi free", lambda: run(tb, M, [*LOCK, "-t", "0", "magi", "--", "true"]).returncode == 0, timeout=20)


def test_a_killed_holder_keeps_its_lock_until_it_is_fenced(testbed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tb = cluster(testbed, tmp_path, post_fail_delay=2)
    holder = tb.popen(C, [*LOCK, "-v", "-l", "lvm", "magi_vg", "--", "sleep", "600"], stderr=subprocess.PIPE, text=True)
    wait_for("casper holds magi_vg", lambda: "magi_vg" in run(tb, C, [*QUORATE, "locks"]).stdout, timeout=20)
    waiter = tb.popen(
        B, [*LOCK, "-v", "-l", "lvm", "magi_vg", "--", "true"], stderr=subprocess.PIPE, text=True, env={**os.environ}
    )
    wait_for(
        "balthasar waits for magi_vg",
        lambda: "waiting: balthasar.localdomain EX" in run(tb, B, [*QUORATE, "locks"]).stdout,
        timeout=20,
    )
    killed_at = time.time()
    tb.kill(C, signal.SIGKILL)  # casper's daemon dies mid-command: a failure, not a leave
    tried = wait_for(
        "the master to see casper fail",
        lambda: (lambda d: d if "failed, waiting for its fence" in d.stderr else None)(
            run(tb, M, [*LOCK, "-t", "0", "-l", "lvm", "magi_vg", "--", "true"])
        ),
        timeout=30,
    )
    assert tried.returncode == 75
    _out, err = waiter.communicate(timeout=90)
    assert waiter.returncode == 0, err
    granted = float(re.search(r"after [\d.]+ s at ([\d.]+)", err).group(1))  # type: ignore[union-attr]
    log = tb.daemon_log(B)
    fenced = log_time(log, "fence of casper.localdomain confirmed")
    assert "casper.localdomain is fenced: its 1 cluster lock(s) are released" in log
    assert granted >= fenced - 0.01, f"granted at {granted}, fence confirmed at {fenced}"
    assert granted - killed_at >= 2.0, "granted before the token and post_fail_delay could have passed"
    assert not tb.is_powered(C), "casper's power was not cut"
    holder.communicate(timeout=10)
    print(f"lock of a killed holder granted elsewhere {granted - killed_at:.1f} s after the kill, after its fence")
