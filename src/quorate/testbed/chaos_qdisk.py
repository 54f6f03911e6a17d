"""The quorum disk of the `quorate chaos` cluster, and the ways one node's path to it breaks.

Theory of operation: the quorum-disk scenarios need a LUN that one node can lose while the others keep it,
as when one host's HBA or multipath fails. There is no device-mapper here, so every node gets its own loop
device over one image file (the loop driver reads and writes through the file's page cache, so the nodes
share the data) and finds it at ``/etc/cluster/qdisk``, a symbolic link in its own configuration directory
(which survives power cycles, like a udev name). `cluster.conf` names that path (``device=``, no label: a
label would be found on every node's loop device at once). Each path then fails on its own, for real:

* lost: the loop device's offset is moved past the end of the image (``LOOP_SET_STATUS64``), so the device
  has no sectors: reads return nothing and writes fail, as on a LUN that went away; undone by offset 0;
* read-only: ``blockdev --setro``: reads work, writes fail with EPERM;
* frozen: the daemon's processes go into a blkio cgroup that lets 512 bytes a second through to that loop
  device, so every transfer stalls for seconds (each one still ends, so the node can still be powered off).

The quorum disk carries one vote (the three nodes one each, quorum 3 of 4), a 1 s interval and a tko of 4.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import struct
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

from quorate.testbed import luns

LINK = "/etc/cluster/qdisk"
QUORUMD = f'<quorumd interval="1" tko="4" votes="1" device="{LINK}"/>'
IMAGE_MIB = 10
LOOP_SET_STATUS64, LOOP_GET_STATUS64 = 0x4C04, 0x4C05
LOOP_INFO64_SIZE, LOOP_OFFSET_AT = 232, 24  # struct loop_info64: lo_offset is its fourth 64-bit field
GONE_OFFSET = 1 << 40  # far past the end of any image here: the device has no sector left
BLKIO = Path("/sys/fs/cgroup/blkio")
FROZEN_BPS = 512


def with_quorum_disk(text: str) -> str:
    """The chaos cluster.conf with its quorum disk (and cman's expected votes counting it)."""
    text = re.sub(r"<quorumd[^>]*/>", "", text)
    text = re.sub(r'expected_votes="\d+"', 'expected_votes="4"', text, count=1)
    return re.sub(r"(<clusternodes>)", rf"{QUORUMD}\n  \1", text, count=1)


@contextlib.contextmanager
def quorum_disk(workdir: Path, nodes: int) -> Iterator[list[str]]:
    """One loop device per node over one fresh quorum-disk image (a unique label, so that no other test's scan
    finds it); detached afterwards, with every fault taken back first."""
    devices: list[str] = []
    try:
        image = workdir / "qdisk.img"
        devices.append(luns.attach_image(image, IMAGE_MIB))
        devices += [luns.attach_image(image) for _ in range(nodes - 1)]
        label = f"chaos_{uuid.uuid4().hex[:8]}"
        argv = [sys.executable, "-m", "quorate.cli.mkqdisk", "-c", devices[0], "-l", label, "-y"]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"mkqdisk on {devices[0]} failed: {(done.stderr or done.stdout).strip()}")
        yield devices
    finally:
        for device in devices:
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                restore(device)
            luns.detach(device)


def link_devices(node_dirs: Sequence[Path], devices: Sequence[str]) -> None:
    """Each node's ``/etc/cluster/qdisk`` (in its directory on the machine) points at its own loop device."""
    for node_dir, device in zip(node_dirs, devices, strict=True):
        link = node_dir / "etc/cluster/qdisk"
        link.unlink(missing_ok=True)
        link.symlink_to(device)


def device_of(node_dir: Path) -> str:
    return os.readlink(node_dir / "etc/cluster/qdisk")


# ------------------------------------------------------------------------------------------------ faults


def _set_offset(device: str, offset: int) -> None:
    fd = os.open(device, os.O_RDONLY)
    try:
        info = bytearray(LOOP_INFO64_SIZE)
        fcntl.ioctl(fd, LOOP_GET_STATUS64, info)
        struct.pack_into("=Q", info, LOOP_OFFSET_AT, offset)
        fcntl.ioctl(fd, LOOP_SET_STATUS64, bytes(info))
    finally:
        os.close(fd)


def lose(device: str) -> None:
    _set_offset(device, GONE_OFFSET)


def make_read_only(device: str) -> None:
    subprocess.run(["blockdev", "--setro", device], check=True, capture_output=True, timeout=30)


def _cgroup(device: str) -> Path:
    return BLKIO / f"quorate-chaos-{Path(device).name}"


def _major_minor(device: str) -> str:
    rdev = os.stat(device).st_rdev
    return f"{os.major(rdev)}:{os.minor(rdev)}"


def freeze(device: str, pids: Sequence[int]) -> None:
    """Throttle ``pids``' transfers to ``device`` to a trickle (blkio, cgroup v1)."""
    group = _cgroup(device)
    group.mkdir(exist_ok=True)
    for name in ("blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device"):
        (group / name).write_text(f"{_major_minor(device)} {FROZEN_BPS}\n")
    for pid in pids:
        with contextlib.suppress(OSError):  # a thread or process that ended meanwhile
            (group / "cgroup.procs").write_text(f"{pid}\n")


def restore(device: str) -> None:
    """Undo every fault on ``device``: offset 0, writable, no throttle (the cgroup's processes go back)."""
    _set_offset(device, 0)
    subprocess.run(["blockdev", "--setrw", device], check=False, capture_output=True, timeout=30)
    group = _cgroup(device)
    if not group.exists():
        return
    for name in ("blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device"):
        with contextlib.suppress(OSError):
            (group / name).write_text(f"{_major_minor(device)} 0\n")
    for pid in (group / "cgroup.procs").read_text().split():
        with contextlib.suppress(OSError):
            (BLKIO / "cgroup.procs").write_text(f"{pid}\n")
    with contextlib.suppress(OSError):
        group.rmdir()
