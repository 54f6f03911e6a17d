"""``fs``: a local file system (ext2/3/4, xfs...) on a block device, mounted for the service (spec R-85).

Theory of operation:

* **start** resolves ``device`` (a path, ``LABEL=`` or ``UUID=`` through blkid), refuses a device that is not a
  block device or is already mounted somewhere else, and succeeds at once if it is already mounted at the
  mount point (idempotence). It runs fsck first when ``force_fsck`` is set or the file system has no journal
  (ext2, vfat...), creates the mount point if missing, and mounts with ``fstype``/``options``.
* **stop** unmounts, up to three attempts ``retry_delay`` seconds apart (5 s, as fs.sh). With
  ``force_unmount=1`` each failed attempt is followed by signalling every process that uses the file system
  (found by device number, `mounts.holders`): SIGTERM the first time, SIGKILL afterwards. If the file system
  is still mounted the stop **fails** (the service goes to ``failed`` and the caller fences); with
  ``self_fence=1`` the outcome says so and the caller must reboot the node at once. Stopping an unmounted
  file system is a success.
* **status** is cumulative by depth: 0 = mounted at the mount point from the right device (mountinfo);
  10 = the mount point can be listed; 20 = a test file can be created and removed (skipped on read-only
  mounts). Reads and writes run as child processes so a hung device costs a timeout, not the daemon.
"""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import time

from quorate.config.rgtree import Node
from quorate.resources.agents import mounts
from quorate.resources.agents.base import (
    OCF_ERR_ARGS,
    OCF_ERR_GENERIC,
    OCF_NOT_RUNNING,
    Agent,
    AgentContext,
    AgentOutcome,
    failure,
    from_result,
    run,
    success,
    summary,
)

JOURNALLED = frozenset({"ext3", "ext4", "xfs", "jfs", "reiserfs", "btrfs", "gfs2", "nilfs2"})
UNMOUNT_ATTEMPTS = 3


class FsAgent(Agent):
    type = "fs"

    def __init__(self, retry_delay: float = 5.0) -> None:
        self.retry_delay = retry_delay

    async def _device(self, res: Node, ctx: AgentContext) -> tuple[str | None, str]:
        """(device path, problem): resolves LABEL=/UUID= through blkid without its cache."""
        spec = (res.get("device") or "").strip()
        if not spec:
            return None, "no device given"
        if spec.startswith(("LABEL=", "UUID=")):
            result = await run(["blkid", "-c", "/dev/null", "-l", "-o", "device", "-t", spec], timeout=ctx.remaining())
            path = result.stdout.strip().splitlines()[0] if result.ok and result.stdout.strip() else ""
            if not path:
                return None, f"no block device has {spec}"
            return path, ""
        return spec, ""

    async def _block_device(self, res: Node, ctx: AgentContext) -> tuple[str, int] | AgentOutcome:
        path, problem = await self._device(res, ctx)
        if path is None:
            return failure(OCF_ERR_ARGS, problem)
        try:
            info = os.stat(path)
        except OSError:
            return failure(OCF_ERR_ARGS, f"device {path} does not exist")
        if not stat.S_ISBLK(info.st_mode):
            return failure(OCF_ERR_ARGS, f"{path} is not a block device")
        return path, info.st_rdev

    async def _fstype(self, res: Node, device: str, ctx: AgentContext) -> str | None:
        given = (res.get("fstype") or "").strip()
        if given and given != "auto":
            return given
        result = await run(["blkid", "-c", "/dev/null", "-o", "value", "-s", "TYPE", device], timeout=ctx.remaining())
        return (result.stdout.strip() or None) if result.ok else None

    async def _start(self, res: Node, ctx: AgentContext) -> AgentOutcome:
        mountpoint = res.get("mountpoint") or ""
        if not mountpoint.startswith("/"):
            return failure(OCF_ERR_ARGS, f"mount point {mountpoint!r} is not an absolute path")
        found = await self._block_device(res, ctx)
        if isinstance(found, AgentOutcome):
            return found
        device, rdev = found
        table = mounts.read_mounts()
        here = mounts.mounted_at(mountpoint, table)
        if here is not None and here.device == rdev:
            return success(f"{device} is already mounted on {mountpoint}")
        if here is not None:
            return failure(OCF_ERR_GENERIC, f"{here.source} is already mounted on {mountpoint}")
        elsewhere = mounts.mounts_of(rdev, table)
        if elsewhere:
            return failure(OCF_ERR_GENERIC, f"{device} is already mounted on {elsewhere[0].mountpoint}")
        fstype = await self._fstype(res, device, ctx)
        if fstype is None:
            return failure(OCF_ERR_GENERIC, f"cannot tell the file system type of {device}; set fstype")
        if res.flag("force_fsck") or fstype not in JOURNALLED:
            checked = await self._fsck(device, fstype, ctx)
            if checked is not None:
                return checked
        try:
            os.makedirs(mountpoint, exist_ok=True)
        except OSError as exc:
            return failure(OCF_ERR_GENERIC, f"cannot create mount point {mountpoint}: {exc.strerror}")
        argv = ["mount", "-t", fstype]
        options = (res.get("options") or "").strip()
        if options:
            argv += ["-o", options]
        result = await run([*argv, device, mountpoint], timeout=ctx.remaining())
        broken = from_result(result, "mount")
        if broken is not None:
            return broken
        if result.returncode != 0:
            return failure(OCF_ERR_GENERIC, f"mount {device} on {mountpoint} failed: {summary(result.stderr)}")
        return success(f"{device} mounted on {mountpoint} ({fstype})")

    async def _fsck(self, device: str, fstype: str, ctx: AgentContext) -> AgentOutcome | None:
        """None when the file system is clean or was repaired (fsck 0/1); a failure otherwise."""
        result = await run(["fsck", "-p", "-t", fstype, device], timeout=ctx.remaining())
        broken = from_result(result, "fsck")
        if broken is not None:
            return broken
        if result.returncode in (0, 1):
            return None
        said = summary(result.stdout + "\n" + result.stderr)
        return failure(OCF_ERR_GENERIC, f"fsck of {device} returned {result.returncode}: {said}")

    async def _ours(self, res: Node, ctx: AgentContext) -> tuple[mounts.Mount | None, str]:
        """(the mount of this resource at its mount point or None, the device path if it resolved)."""
        found = await self._block_device(res, ctx)
        here = mounts.mounted_at(res.get("mountpoint") or "")
        if isinstance(found, AgentOutcome):
            # The device is gone or unresolvable: whatever is mounted at the mount point is not ours to judge,
            # except when its source names the configured device.
            spec = res.get("device") or ""
            return (here if here is not None and here.source == spec else None), spec
        device, rdev = found
        return (here if here is not None and here.device == rdev else None), device

    async def _stop(self, res: Node, ctx: AgentContext) -> AgentOutcome:
        mountpoint = res.get("mountpoint") or ""
        mount, device = await self._ours(res, ctx)
        if mount is None:
            return success(f"{device} is not mounted on {mountpoint}")
        force = res.flag("force_unmount")
        killed: list[int] = []
        last = ""
        for attempt in range(1, UNMOUNT_ATTEMPTS + 1):
            result = await run(["umount", mountpoint], timeout=ctx.remaining())
            still = mounts.mounted_at(mountpoint)
            if still is None or still.device != mount.device:
                extra = f" after killing {len(killed)} process(es) using it" if killed else ""
                return success(f"{mountpoint} unmounted{extra}")
            last = summary(result.stderr) or (result.error or "")
            if force:
                sig = signal.SIGTERM if attempt == 1 else signal.SIGKILL
                killed += mounts.kill_holders(mount.major, mount.minor, sig)
            if attempt < UNMOUNT_ATTEMPTS:
                await self._settle(mount, force)
        fence = res.flag("self_fence")
        then = "; self_fence is set: this node must reboot now" if fence else "; the service is now failed"
        return failure(
            OCF_ERR_GENERIC, f"cannot unmount {mountpoint}: {last or 'still mounted'}{then}", self_fence=fence
        )

    async def _settle(self, mount: mounts.Mount, force: bool) -> None:
        """Wait up to ``retry_delay``, less when the processes we signalled are already gone."""
        deadline = time.monotonic() + self.retry_delay
        while time.monotonic() < deadline:
            await asyncio.sleep(min(0.1, self.retry_delay))
            if force and not mounts.holders(mount.major, mount.minor):
                return

    async def _status(self, res: Node, depth: int, ctx: AgentContext) -> AgentOutcome:
        mountpoint = res.get("mountpoint") or ""
        mount, device = await self._ours(res, ctx)
        if mount is None:
            return failure(OCF_NOT_RUNNING, f"{device} is not mounted on {mountpoint}")
        if depth >= 10:
            result = await run(["ls", "-A", mountpoint], timeout=ctx.remaining())
            broken = from_result(result, f"reading {mountpoint}")
            if broken is not None:
                return broken
            if result.returncode != 0:
                return failure(OCF_ERR_GENERIC, f"cannot read {mountpoint}: {summary(result.stderr)}")
        if depth >= 20 and not mount.read_only:
            probe = os.path.join(mountpoint, f".quorate-fs-check.{ctx.node_name}")
            script = ': > "$1" && rm -f "$1"'
            result = await run(["/bin/sh", "-c", script, "fs-check", probe], timeout=ctx.remaining())
            broken = from_result(result, f"writing to {mountpoint}")
            if broken is not None:
                return broken
            if result.returncode != 0:
                return failure(OCF_ERR_GENERIC, f"cannot write to {mountpoint}: {summary(result.stderr)}")
        return success(f"{device} is mounted on {mountpoint} (checked to depth {depth})")
