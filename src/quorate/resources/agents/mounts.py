"""What is mounted where, and which processes hold a mounted file system: the facts the ``fs`` agent acts on.

Theory of operation: ``/proc/self/mountinfo`` is the truth about *this process's* mount namespace (each
testbed node has its own), and it names each mount's device by number, which is what makes "is *this*
device mounted at *that* place" exact even when the device is reached through a symlink (``/dev/mapper/…``,
``/dev/disk/by-label/…``). Processes using a file system are found the same way, by device number: a process
holds a mount when its cwd, root, executable, an open file or a mapped file lives on that device. Reading
``/proc/<pid>/…`` of other mount namespaces works because those are kernel "magic links".
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass

MOUNTINFO = "/proc/self/mountinfo"


@dataclass(frozen=True, slots=True)
class Mount:
    mountpoint: str
    major: int
    minor: int
    fstype: str
    source: str
    options: tuple[str, ...]

    @property
    def device(self) -> int:
        return os.makedev(self.major, self.minor)

    @property
    def read_only(self) -> bool:
        return "ro" in self.options


def unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as ``\\ooo`` octal escapes."""
    out: list[str] = []
    i = 0
    while i < len(field):
        chunk = field[i + 1 : i + 4]
        if field[i] == "\\" and len(chunk) == 3 and all(c in "01234567" for c in chunk):
            out.append(chr(int(chunk, 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[Mount]:
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if "-" not in fields or len(fields) < 7:
            continue
        sep = fields.index("-")
        if len(fields) < sep + 3:
            continue
        major, _, minor = fields[2].partition(":")
        mounts.append(
            Mount(
                mountpoint=unescape(fields[4]),
                major=int(major),
                minor=int(minor),
                fstype=fields[sep + 1],
                source=unescape(fields[sep + 2]),
                options=tuple(fields[5].split(",")),
            )
        )
    return mounts


def read_mounts(path: str = MOUNTINFO) -> list[Mount]:
    with open(path) as handle:
        return parse_mountinfo(handle.read())


def canonical(path: str) -> str:
    """The path as mountinfo writes it (symlinks resolved when they exist, no trailing slash)."""
    return os.path.realpath(path) if os.path.exists(path) else os.path.normpath(path)


def mounted_at(mountpoint: str, mounts: list[Mount] | None = None) -> Mount | None:
    """The mount visible at ``mountpoint`` (the last one mounted there wins, as the kernel shows it)."""
    wanted = canonical(mountpoint)
    found = [m for m in (read_mounts() if mounts is None else mounts) if m.mountpoint == wanted]
    return found[-1] if found else None


def mounts_of(device: int, mounts: list[Mount] | None = None) -> list[Mount]:
    return [m for m in (read_mounts() if mounts is None else mounts) if m.device == device]


def _on_device(path: str, device: int) -> bool:
    try:
        return os.stat(path).st_dev == device
    except OSError:
        return False


def _maps_device(pid: int, major: int, minor: int) -> bool:
    wanted = f"{major:02x}:{minor:02x}"
    try:
        with open(f"/proc/{pid}/maps") as handle:
            for line in handle:
                fields = line.split()
                if len(fields) >= 6 and fields[3] == wanted and fields[4] != "0":
                    return True
    except OSError:
        return False
    return False


def holders(major: int, minor: int) -> list[int]:
    """PIDs (other than ours) whose cwd, root, executable, open files or mapped files are on the device."""
    device = os.makedev(major, minor)
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        pid = int(entry)
        base = f"/proc/{pid}"
        uses = any(_on_device(f"{base}/{link}", device) for link in ("cwd", "root", "exe"))
        if not uses:
            try:
                fds = os.listdir(f"{base}/fd")
            except OSError:
                fds = []
            uses = any(_on_device(f"{base}/fd/{fd}", device) for fd in fds)
        if uses or _maps_device(pid, major, minor):
            found.append(pid)
    return found


def kill_holders(major: int, minor: int, sig: int = signal.SIGKILL) -> list[int]:
    """Send ``sig`` to every process holding the device; returns the PIDs signalled."""
    signalled = []
    for pid in holders(major, minor):
        try:
            os.kill(pid, sig)
            signalled.append(pid)
        except ProcessLookupError:
            pass
    return signalled
