"""The fs agent on real file systems on loop devices: mount, status depths, unmount, force_unmount, refusals."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from res_helpers import Loop, config_of

from quorate.config.rgtree import Node
from quorate.resources import build_trees
from quorate.resources.agents import AgentContext, FsAgent
from quorate.resources.agents import mounts as mounts_module
from quorate.resources.agents.mounts import mounted_at, parse_mountinfo


def fs_node(device: str, mountpoint: Path, **extra: str) -> Node:
    attrs = " ".join(f'{k}="{v}"' for k, v in extra.items())
    rm = f'<service name="s"><fs name="data" device="{device}" mountpoint="{mountpoint}" {attrs}/></service>'
    node = build_trees(config_of(rm))["s"].find("fs", "data")
    assert node is not None
    return node


def ctx(timeout: float = 30.0) -> AgentContext:
    return AgentContext(timeout=timeout, node_name="balthasar.localdomain")


@pytest.fixture
def agent() -> FsAgent:
    return FsAgent(retry_delay=0.3)


@pytest.fixture
def holders() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes started by a test, killed afterwards whatever happened."""
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def test_mount_status_and_unmount_an_ext3_file_system(
    loop_fs: Callable[..., Loop], tmp_path: Path, agent: FsAgent
) -> None:
    loop = loop_fs("ext3")
    mountpoint = tmp_path / "mnt" / "magi" / "test"  # created by the agent
    node = fs_node(loop.device, mountpoint, fstype="ext3", force_unmount="1")
    started = asyncio.run(agent.start(node, ctx()))
    assert started.ok, started.message
    mount = mounted_at(str(mountpoint))
    assert mount is not None and mount.device == os.stat(loop.device).st_rdev and mount.fstype == "ext3"
    assert asyncio.run(agent.start(node, ctx())).message.endswith("is already mounted on " + str(mountpoint))
    for depth in (0, 10, 20):
        status = asyncio.run(agent.status(node, depth, ctx()))
        assert status.ok, status.message
    assert not list(mountpoint.glob(".quorate-fs-check*"))  # the write test cleaned up after itself
    stopped = asyncio.run(agent.stop(node, ctx()))
    assert stopped.ok and mounted_at(str(mountpoint)) is None
    assert asyncio.run(agent.stop(node, ctx())).ok  # stop when not mounted: success
    after = asyncio.run(agent.status(node, 0, ctx()))
    assert not after.ok and after.rc == 7 and "is not mounted" in after.message


@pytest.mark.parametrize("how", ["LABEL", "UUID"])
def test_device_by_label_or_uuid_with_fstype_detected_and_options(
    loop_fs: Callable[..., Loop], tmp_path: Path, agent: FsAgent, how: str
) -> None:
    loop = loop_fs("ext4")
    spec = f"LABEL={loop.label}" if how == "LABEL" else f"UUID={loop.uuid}"
    node = fs_node(spec, tmp_path / "m", options="ro,noatime")
    try:
        started = asyncio.run(agent.start(node, ctx()))
        assert started.ok and "(ext4)" in started.message, started.message
        mount = mounted_at(str(tmp_path / "m"))
        assert mount is not None and mount.read_only and "noatime" in mount.options
        assert asyncio.run(agent.status(node, 20, ctx())).ok  # no write test on a read-only mount
    finally:
        assert asyncio.run(agent.stop(node, ctx())).ok


def test_force_fsck_and_ext2_are_checked_before_mounting(
    loop_fs: Callable[..., Loop], tmp_path: Path, agent: FsAgent
) -> None:
    loop = loop_fs("ext2")
    node = fs_node(loop.device, tmp_path / "m", force_fsck="1")
    try:
        assert asyncio.run(agent.start(node, ctx())).ok
    finally:
        asyncio.run(agent.stop(node, ctx()))
    # A file system fsck cannot repair refuses to mount.
    subprocess.run(
        ["dd", "if=/dev/zero", f"of={loop.device}", "bs=1024", "seek=1", "count=4"], check=True, capture_output=True
    )
    broken = asyncio.run(agent.start(fs_node(loop.device, tmp_path / "m", fstype="ext2"), ctx()))
    assert not broken.ok and "fsck" in broken.message and mounted_at(str(tmp_path / "m")) is None


def test_xfs(loop_fs: Callable[..., Loop], tmp_path: Path, agent: FsAgent) -> None:
    loop = loop_fs("xfs", size_mb=320)
    node = fs_node(loop.device, tmp_path / "x", fstype="xfs")
    try:
        assert asyncio.run(agent.start(node, ctx())).ok
        assert asyncio.run(agent.status(node, 20, ctx())).ok
    finally:
        assert asyncio.run(agent.stop(node, ctx())).ok


def test_refusals(loop_fs: Callable[..., Loop], tmp_path: Path, agent: FsAgent) -> None:
    first, second = loop_fs(), loop_fs()
    a = fs_node(first.device, tmp_path / "a")
    try:
        assert asyncio.run(agent.start(a, ctx())).ok
        elsewhere = asyncio.run(agent.start(fs_node(first.device, tmp_path / "b"), ctx()))
        assert not elsewhere.ok and f"already mounted on {tmp_path / 'a'}" in elsewhere.message
        occupied = asyncio.run(agent.start(fs_node(second.device, tmp_path / "a"), ctx()))
        assert not occupied.ok and f"{first.device} is already mounted on" in occupied.message
        # Stopping a resource whose device is not the one mounted there leaves the mount alone.
        assert asyncio.run(agent.stop(fs_node(second.device, tmp_path / "a"), ctx())).ok
        assert mounted_at(str(tmp_path / "a")) is not None
    finally:
        asyncio.run(agent.stop(a, ctx()))
    missing = asyncio.run(agent.start(fs_node("/dev/no-such-disk", tmp_path / "c"), ctx()))
    assert (missing.ok, missing.rc) == (False, 2) and "does not exist" in missing.message
    not_block = asyncio.run(agent.start(fs_node(str(first.image), tmp_path / "c"), ctx()))
    assert not not_block.ok and "is not a block device" in not_block.message
    no_label = asyncio.run(agent.start(fs_node("LABEL=nothing-has-this", tmp_path / "c"), ctx()))
    assert not no_label.ok and "no block device has LABEL=nothing-has-this" in no_label.message


def test_force_unmount_kills_the_processes_holding_the_mount(
    loop_fs: Callable[..., Loop], tmp_path: Path, agent: FsAgent, holders: list[subprocess.Popen[bytes]]
) -> None:
    loop = loop_fs()
    mountpoint = tmp_path / "busy"
    node = fs_node(loop.device, mountpoint, force_unmount="1")
    assert asyncio.run(agent.start(node, ctx())).ok
    # One process sits in the mount (cwd), one keeps a file open, one ignores SIGTERM (needs the SIGKILL round).
    holders.append(subprocess.Popen(["sleep", "300"], cwd=mountpoint))
    holders.append(subprocess.Popen(["sh", "-c", f"exec 3>'{mountpoint}/open'; exec sleep 300"]))
    holders.append(subprocess.Popen(["sh", "-c", "trap '' TERM; sleep 300 & wait"], cwd=mountpoint))
    time.sleep(0.3)
    mount = mounted_at(str(mountpoint))
    assert mount is not None
    assert set(mounts_module.holders(mount.major, mount.minor)) >= {p.pid for p in holders}
    stopped = asyncio.run(agent.stop(node, ctx()))
    assert stopped.ok, stopped.message
    assert "after killing" in stopped.message
    assert mounted_at(str(mountpoint)) is None
    for proc in holders:
        assert proc.wait(timeout=10) != 0


def test_unmount_failure_without_force_fails_the_stop_and_reports_self_fence(
    loop_fs: Callable[..., Loop], tmp_path: Path, agent: FsAgent, holders: list[subprocess.Popen[bytes]]
) -> None:
    loop = loop_fs()
    mountpoint = tmp_path / "stuck"
    node = fs_node(loop.device, mountpoint, self_fence="1")
    assert asyncio.run(agent.start(node, ctx())).ok
    holders.append(subprocess.Popen(["sleep", "300"], cwd=mountpoint))
    time.sleep(0.2)
    began = time.monotonic()
    stopped = asyncio.run(agent.stop(node, ctx()))
    assert time.monotonic() - began < 10
    assert not stopped.ok and stopped.self_fence
    assert f"cannot unmount {mountpoint}" in stopped.message and "self_fence is set" in stopped.message
    assert mounted_at(str(mountpoint)) is not None  # still there: the caller fences
    holders[0].kill()
    holders[0].wait(timeout=10)
    assert asyncio.run(agent.stop(node, ctx())).ok


def test_mountinfo_parsing_unescapes_paths() -> None:
    line = "36 35 7:3 / /mnt/with\\040space rw,relatime shared:1 - ext3 /dev/loop3 rw,errors=continue\n"
    (mount,) = parse_mountinfo(line)
    assert (mount.mountpoint, mount.major, mount.minor, mount.fstype, mount.source) == (
        "/mnt/with space",
        7,
        3,
        "ext3",
        "/dev/loop3",
    )
    assert not mount.read_only
