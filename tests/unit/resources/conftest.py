"""Fixtures for the resource tests: configurations from an ``<rm>`` snippet, real loop devices, root checks.

Tests that touch the kernel (loop devices, mounts, network namespaces, LVM) need root; without it they fail
with the reason, never skip. Every loop device, mount and namespace they create is removed in teardown, even
when the test fails.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from res_helpers import Loop, sh


@pytest.fixture
def require_root() -> None:
    if os.geteuid() != 0:
        pytest.fail("this test needs root (loop devices, mounts, network namespaces)", pytrace=False)


@pytest.fixture
def loop_fs(require_root: None, tmp_path: Path) -> Iterator[Callable[..., Loop]]:
    """Factory: ``loop_fs(fstype="ext3", size_mb=32)`` → a loop device holding a fresh file system."""
    made: list[Loop] = []

    def make(fstype: str = "ext3", size_mb: int = 32) -> Loop:
        image = tmp_path / f"disk{len(made)}.img"
        with open(image, "wb") as handle:
            handle.truncate(size_mb * 1024 * 1024)
        device = sh("losetup", "--find", "--show", str(image)).stdout.strip()
        label = f"qt{uuid.uuid4().hex[:8]}"
        made.append(Loop(device, image, label, ""))
        if fstype == "xfs":
            sh("mkfs.xfs", "-q", "-f", "-L", label, device)
        else:
            sh(f"mkfs.{fstype}", "-q", "-F", "-L", label, device)
        fs_uuid = sh("blkid", "-c", "/dev/null", "-o", "value", "-s", "UUID", device).stdout.strip()
        made[-1] = Loop(device, image, label, fs_uuid)
        return made[-1]

    try:
        yield make
    finally:
        for loop in made:
            for line in Path("/proc/self/mounts").read_text().splitlines():
                source, target = line.split()[:2]
                if source == loop.device:
                    sh("umount", "-l", target, check=False)
            sh("losetup", "-d", loop.device, check=False)
