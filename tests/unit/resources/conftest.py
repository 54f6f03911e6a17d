"""Fixtures for the resource tests: configurations from an ``<rm>`` snippet, real loop devices, root checks.

Tests that touch the kernel (loop devices, mounts, network namespaces, LVM) need root; without it they fail
with the reason, never skip. Every loop device, mount and namespace they create is removed in teardown, even
when the test fails.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from quorate.config import ClusterConfig, parse_config

NODES = """
  <clusternodes>
    <clusternode name="balthasar.localdomain" votes="1" nodeid="1"/>
    <clusternode name="casper.localdomain" votes="1" nodeid="2"/>
    <clusternode name="melchior.localdomain" votes="1" nodeid="3"/>
  </clusternodes>
"""


def cluster_text(rm: str, version: int = 1) -> str:
    return f'<?xml version="1.0"?>\n<cluster name="magi" config_version="{version}">{NODES}<rm>{rm}</rm></cluster>\n'


def config_of(rm: str, version: int = 1) -> ClusterConfig:
    """A ClusterConfig whose ``<rm>`` is ``rm`` (three nodes, cluster magi)."""
    return parse_config(cluster_text(rm, version))


@pytest.fixture
def require_root() -> None:
    if os.geteuid() != 0:
        pytest.fail("this test needs root (loop devices, mounts, network namespaces)", pytrace=False)


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=60, check=check)


@dataclass
class Loop:
    device: str
    image: Path
    label: str
    uuid: str


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
