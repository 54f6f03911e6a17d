"""The process that *is* a testbed host: PID 1 of the node's PID namespace.

Theory of operation: ``ip netns exec`` gives every command a throwaway mount
namespace, so a node's private view of the filesystem needs an owner that
lives as long as the node is "powered".  The testbed starts this program as
``ip netns exec NS unshare --mount --uts --ipc --pid --fork --mount-proc
--propagation private python holder.py ...``; it therefore starts as PID 1 of a
fresh PID namespace, in private mount, UTS and IPC namespaces, inside the
node's network namespace.  It then

1. bind-mounts the node's directories (under the testbed run directory) onto
   ``/etc/cluster``, ``/var/lib/quorate``, ``/var/log/quorate`` and its own
   file onto ``/etc/hosts``;
2. detaches every mount under ``/run`` (including other namespaces' nsfs
   files in ``/run/netns``, which would otherwise keep them alive) and puts a
   fresh tmpfs there, as a booting host would have;
3. puts a tmpfs of its own on ``/mnt``, so the mount points that ``fs`` resources
   create, and anything written into them while nothing is mounted, stay on this
   node: the nodes share the machine's root filesystem, and a file left in the
   host's ``/mnt/magi/test`` by one run would otherwise show on every node of the
   next (a test that checks a node unmounted the disk would see it);
4. sets the host name to the node's full name;
5. writes ``ready`` on stdout so the testbed knows the node is up, then reaps
   orphans (as any init must) until it is killed.

Killing it with SIGKILL is a power cut: the kernel kills every process of the
PID namespace and the mounts vanish with the last process in them.  The loop is
bounded by ``--lifetime`` so a forgotten testbed cannot run forever.

This file is run as a script by path, so it uses the standard library only.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import socket
import sys
import time

MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_BIND = 0x1000
MNT_DETACH = 0x2

#: Host path (relative to the node directory) -> path the node sees.
BINDS = (
    ("etc/cluster", "/etc/cluster"),
    ("var/lib/quorate", "/var/lib/quorate"),
    ("var/log/quorate", "/var/log/quorate"),
    ("etc/hosts", "/etc/hosts"),
)

_libc = ctypes.CDLL(None, use_errno=True)


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    rc = _libc.mount(
        source.encode(),
        target.encode(),
        fstype.encode() if fstype else None,
        ctypes.c_ulong(flags),
        data.encode() if data else None,
    )
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source} on {target}: {os.strerror(err)}")


def _detach(target: str) -> None:
    if _libc.umount2(target.encode(), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"umount {target}: {os.strerror(err)}")


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and len(field[i + 1 : i + 4]) == 3 and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mounts_under(top: str) -> list[str]:
    """Mount points at or below ``top`` in this mount namespace, deepest first."""
    found = []
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        for line in handle:
            point = _unescape(line.split()[4])
            if point == top or point.startswith(top.rstrip("/") + "/"):
                found.append(point)
    return sorted(set(found), key=lambda p: p.count("/"), reverse=True)


def set_up(node_dir: str, hostname: str) -> None:
    """Give this mount/UTS namespace the node's view of the world."""
    for rel, target in BINDS:
        _mount(os.path.join(node_dir, rel), target, None, MS_BIND)
    for point in mounts_under("/run"):
        try:
            _detach(point)
        except OSError:
            pass  # already gone with its parent
    _mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=65536k")
    _mount("tmpfs", "/mnt", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=16384k")
    socket.sethostname(hostname)


def _reap_all() -> None:
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def serve(lifetime: float) -> None:
    """Be init: reap orphans until killed, SIGTERM'd, or the lifetime runs out."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    deadline = time.monotonic() + lifetime
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        signal.sigtimedwait({signal.SIGCHLD}, min(left, 5.0))
        _reap_all()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="quorate testbed host holder (PID 1 of a node)")
    parser.add_argument("--dir", required=True, help="host path of the node's files")
    parser.add_argument("--hostname", required=True)
    parser.add_argument("--tag", default="", help="identifies the testbed and node in ps output")
    parser.add_argument("--lifetime", type=float, default=7 * 24 * 3600.0)
    args = parser.parse_args(argv)
    try:
        set_up(args.dir, args.hostname)
    except OSError as exc:
        print(f"holder {args.tag}: {exc}", file=sys.stderr, flush=True)
        return 1
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    serve(args.lifetime)
    return 0


if __name__ == "__main__":
    sys.exit(main())
