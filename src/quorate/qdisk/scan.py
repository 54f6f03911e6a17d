"""Find quorum disks by scanning block devices (spec D-4, L-12), as qdiskd and ``mkqdisk -L`` do.

Theory of operation
-------------------
Candidates come from /proc/partitions (every whole disk and partition the kernel knows, in its order;
/sys/class/block when that file is unreadable). Devices with holders (a partition table in use, LVM,
multipath members) and soft-RAID members are skipped as the original did, as are empty devices (unbound
loop devices) and removable optical/floppy drives, whose open can hang.

Each candidate's first sector is read with direct I/O in its own daemon thread, all in parallel, with one
overall deadline: a hung device must not hang a scan. A device is a quorum disk when its header decodes,
carries the qdisk magic and was recorded with the sector size the kernel reports now. Headers that are
recognisably ours but damaged, or recorded with another sector size, are reported as problems (so the
administrator learns why a disk is missing) and never used.

A device is shown under every path that reaches it: /dev/disk/by-id, by-path, the other by-* directories,
then the kernel name, the order of the article's ``mkqdisk -L`` output.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

from quorate.qdisk.device import DeviceError, QdiskDevice
from quorate.qdisk.format import SHARED_MAGIC, CorruptBlock, QuorumHeader, decode_header

ALIAS_DIRS = ("by-id", "by-path", "by-uuid", "by-partuuid", "by-label", "by-partlabel")
SKIP_PREFIXES = ("sr", "fd", "md", "zram")
SCAN_TIMEOUT = 5.0


@dataclass
class Found:
    """One quorum disk: its kernel name, every path alias, its header and the kernel's sector size."""

    devname: str
    paths: list[str]
    header: QuorumHeader
    kernel_sector_size: int

    @property
    def path(self) -> str:
        """The name registered with the cluster: the first alias (spec D-4)."""
        return self.paths[0]


@dataclass
class ScanResult:
    """Quorum disks found; ``problems``: damaged or mismatched quorum disks (worth telling);
    ``skipped``: devices that could not even be read (not ours to judge, kept for debugging)."""

    found: list[Found] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def device_names(sys_root: str = "/sys", proc_root: str = "/proc") -> list[str]:
    names: list[str] = []
    try:
        with open(os.path.join(proc_root, "partitions")) as fh:
            for line in fh.read().splitlines()[2:]:
                parts = line.split()
                if len(parts) == 4:
                    names.append(parts[3])
    except OSError:
        try:
            names = sorted(os.listdir(os.path.join(sys_root, "class", "block")))
        except OSError:
            return []
    return [n for n in names if _eligible(n, sys_root)]


def _eligible(name: str, sys_root: str) -> bool:
    if name.startswith(SKIP_PREFIXES):
        return False
    base = os.path.join(sys_root, "class", "block", name)
    try:
        if os.listdir(os.path.join(base, "holders")):
            return False
        if os.path.isdir(os.path.join(base, "md")):
            return False
        with open(os.path.join(base, "size")) as fh:
            return int(fh.read().strip() or 0) > 0
    except (OSError, ValueError):
        return os.path.exists(f"/dev/{name}")


def aliases(devname: str, dev_root: str = "/dev") -> list[str]:
    """Every /dev/disk/by-* link to the device, then /dev/NAME."""
    target = os.path.realpath(os.path.join(dev_root, devname))
    out: list[str] = []
    disk = os.path.join(dev_root, "disk")
    try:
        extra = sorted(d for d in os.listdir(disk) if d not in ALIAS_DIRS)
    except OSError:
        extra = []
    for sub in (*ALIAS_DIRS, *extra):
        folder = os.path.join(disk, sub)
        try:
            links = sorted(os.listdir(folder))
        except OSError:
            continue
        out.extend(
            os.path.join(folder, link) for link in links if os.path.realpath(os.path.join(folder, link)) == target
        )
    out.append(os.path.join(dev_root, devname))
    return out


class Unreadable(Exception):
    """A device that cannot be opened or read: skipped, as the original skipped it."""


def probe(path: str) -> tuple[QuorumHeader | None, int, str | None]:
    """(header, kernel sector size, problem) of one device; header None when it is not a quorum disk.
    `Unreadable` when the device cannot be read at all."""
    try:
        with QdiskDevice.open(path, write=False, check_size=False) as dev:
            sector = dev.read_header_sector()
            kernel = dev.sector_size
    except DeviceError as exc:
        raise Unreadable(str(exc)) from None
    except OSError as exc:
        raise Unreadable(f"{path}: cannot read: {exc.strerror or exc}") from None
    ours = sector[:4] == SHARED_MAGIC.to_bytes(4, "little")
    try:
        header = decode_header(sector)
    except CorruptBlock as exc:
        return None, kernel, f"{path}: quorum disk header is damaged: {exc}; ignored" if ours else None
    if header.sector_size != kernel:
        return (
            None,
            kernel,
            (
                f"{path}: quorum disk '{header.label}' was recorded with {header.sector_size}-byte sectors but the "
                f"kernel reports {kernel}; ignored (re-create it with mkqdisk -c)"
            ),
        )
    return header, kernel, None


def scan(label: str | None = None, *, timeout: float = SCAN_TIMEOUT, names: list[str] | None = None) -> ScanResult:
    """All quorum disks (with ``label``: those carrying it), in kernel order."""
    names = device_names() if names is None else names
    results: dict[str, tuple[QuorumHeader | None, int, str | None] | Unreadable] = {}
    lock = threading.Lock()

    def work(name: str) -> None:
        outcome: tuple[QuorumHeader | None, int, str | None] | Unreadable
        try:
            outcome = probe(f"/dev/{name}")
        except Unreadable as exc:
            outcome = exc
        with lock:
            results[name] = outcome

    threads = [threading.Thread(target=work, args=(n,), daemon=True, name=f"qdisk-scan-{n}") for n in names]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    out = ScanResult()
    with lock:
        for name in names:
            if name not in results:
                out.problems.append(f"/dev/{name}: no answer within {timeout:g} s; skipped")
                continue
            outcome = results[name]
            if isinstance(outcome, Unreadable):
                out.skipped.append(str(outcome))
                continue
            header, kernel, problem = outcome
            if problem:
                out.problems.append(problem)
            if header is not None and (label is None or header.label == label):
                out.found.append(Found(name, aliases(name), header, kernel))
    return out


def find_label(label: str, *, timeout: float = SCAN_TIMEOUT) -> Found:
    """The one device carrying ``label``. Unlike qdiskd (which warned and took the first), several matches
    are refused: two nodes picking different disks would each elect a master (rule S4)."""
    result = scan(label, timeout=timeout)
    if not result.found:
        detail = f" ({'; '.join(result.problems)})" if result.problems else ""
        raise DeviceError(f"Unable to match label '{label}' to any device{detail}")
    if len(result.found) > 1:
        paths = ", ".join(f.path for f in result.found)
        raise DeviceError(
            f"{len(result.found)} matches found for label '{label}' ({paths}); please use 'device=' instead"
        )
    return result.found[0]
