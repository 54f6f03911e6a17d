"""The article's service, run for real on one testbed node with rg_test: fs on a shared LUN + its init script.

The article's service is ``lvm > fs > script``. This machine has no device-mapper, so the logical volume
cannot exist; the "shared disk" is a loop device holding the ext3 file system directly, and the tree is the
article's minus the lvm level (the lvm refusal itself is covered by the unit tests). The init script and the
program it starts are the article's (src/quorate/testbed/article.py), with the web page's typography repaired
(curly quotes, lost backquotes), ``/etc/init.d/functions`` (a Red Hat file it does not use) not sourced, and
the loop's period shortened from 10 s to 2 s so the test sees several lines quickly.

The node has its own mount namespace, PID namespace and /run: the mount, the daemon and its pid file exist on
balthasar only, which the test checks from casper.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_helpers import mount_points_removed_after, wait_for

from quorate.testbed import article, luns
from quorate.testbed.article import MOUNTPOINT, OUTPUT, write_service_files

B, C = "balthasar.localdomain", "casper.localdomain"
RG_TEST = [sys.executable, "-m", "quorate.cli.rg_test"]


def run(*argv: str) -> str:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=60, check=True).stdout


@pytest.fixture
def lun(require_root: None, tmp_path: Path) -> Iterator[str]:
    """A loop device with an ext3 file system: the shared disk every node sees."""
    device = luns.attach_image(tmp_path / "lun.img", 64)
    with mount_points_removed_after("/mnt/magi", MOUNTPOINT):
        try:
            run("mkfs.ext3", "-q", "-F", "-L", "magi_test", device)
            yield device
        finally:
            luns.detach(device)


def article_conf(tmp_path: Path, device: str) -> Path:
    """The article's final file with the fs on ``device`` (src/quorate/testbed/article.py); rg_test only reads
    the service tree, so the fence device and the quorum disk the adaptation also touches play no part here."""
    init = write_service_files(tmp_path, period=2)
    conf = tmp_path / "cluster.conf"
    conf.write_text(article.testbed_conf(device, init, fence_secret="unused: rg_test fences nothing"))
    return conf


def lines_on(tb, node: str) -> list[str]:  # type: ignore[no-untyped-def]
    done = tb.exec(node, ["cat", OUTPUT], timeout=10)
    return done.stdout.splitlines() if done.returncode == 0 else []


def mounted_on(tb, node: str) -> bool:  # type: ignore[no-untyped-def]
    return f" {MOUNTPOINT} " in tb.exec(node, ["cat", "/proc/self/mountinfo"], timeout=10).stdout


def test_article_service_started_on_one_node_then_stopped(testbed, lun: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    conf = article_conf(tmp_path, lun)
    tb = testbed(conf, start_daemons=False)

    noop = tb.exec(B, [*RG_TEST, "noop", str(conf), "start", "service", "test"], timeout=30)
    assert noop.stdout.splitlines() == [
        "Starting test...",
        "[start] service:test",
        "[start] fs:test_fs",
        "[start] script:test_svc",
        "Start of test complete",
    ]

    began = time.monotonic()
    started = tb.exec(B, [*RG_TEST, "test", str(conf), "start", "service", "test"], timeout=40)
    assert started.returncode == 0, started.stdout + started.stderr
    assert started.stdout.splitlines() == [
        "Running in test mode.",
        "Starting test...",
        "[start] service:test",
        "[start] fs:test_fs",
        "[start] script:test_svc",
        "Start of test complete",
    ]
    assert time.monotonic() - began < 20, "rg_test must not wait for the daemon the init script left behind"
    assert mounted_on(tb, B) and not mounted_on(tb, C)
    lines = wait_for(
        "two lines written by the article's loop", lambda: len(lines_on(tb, B)) >= 2 and lines_on(tb, B), 20
    )
    assert all(line.startswith("Date/Time :  20") for line in lines)
    assert lines_on(tb, C) == []  # casper sees the mount point directory, not balthasar's file system

    status = tb.exec(B, [*RG_TEST, "test", str(conf), "status", "service", "test"], timeout=30)
    assert status.returncode == 0 and status.stdout.splitlines()[-1] == "Status of test is good", status.stdout
    elsewhere = tb.exec(C, [*RG_TEST, "test", str(conf), "status", "service", "test"], timeout=30)
    assert elsewhere.returncode == 1 and "[status] fs:test_fs failed:" in elsewhere.stdout

    stopped = tb.exec(B, [*RG_TEST, "test", str(conf), "stop", "service", "test"], timeout=40)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert stopped.stdout.splitlines()[1:] == [
        "Stopping test...",
        "[stop] script:test_svc",
        "[stop] fs:test_fs",
        "[stop] service:test",
        "Stop of test complete",
    ]
    assert not mounted_on(tb, B)
    assert tb.exec(B, ["test", "-e", "/var/run/test.pid"], timeout=10).returncode == 1
    after = tb.exec(B, [*RG_TEST, "test", str(conf), "status", "service", "test"], timeout=30)
    assert after.returncode == 1

    # The lines are on the shared disk: read them back from the host, read-only.
    check = tmp_path / "check"
    check.mkdir()
    run("mount", "-o", "ro", lun, str(check))
    try:
        written = (check / "test_cluster.out").read_text().splitlines()
    finally:
        run("umount", str(check))
    assert len(written) >= 2 and written[: len(lines)] == lines
