"""The cluster lock the `lvm` resource takes while it claims a volume group (clvmd's exclusive activation lock).

Why: the tags HA-LVM uses are read, changed and written by separate LVM commands, so two nodes claiming one
VG at the same moment could both see it free. Holding EX on ``lvm/<vg>`` (the lock `quorate lvm` takes for
metadata commands) for the whole claim (read the owner, strip a dead owner's tag, add ours, activate)
makes the claim atomic across the cluster. The agent runs inside quorated, so the blocking lock client runs
in a thread while the daemon's loop keeps serving the control socket that grants the lock.

Without a reachable quorated (the agent's unit tests, ``rg_test`` on a machine without the daemon) the claim
goes on with the tags alone, as before, and says so in the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from quorate.locks import ClusterLockError, LockSession

log = logging.getLogger("quorated")
LOCKSPACE = "lvm"


class VgLockError(Exception):
    """The VG's cluster lock could not be had: the claim must not go on."""


@contextlib.asynccontextmanager
async def claim_lock(vg: str, timeout: float) -> AsyncIterator[None]:
    """Hold EX on lvm/<vg> for the body; raise VgLockError if it cannot be had within `timeout` seconds."""
    try:
        session = await asyncio.to_thread(LockSession, None, f"lvm resource {vg}")
    except ClusterLockError as exc:
        log.info("lvm resource: no cluster lock for volume group %s (%s): claiming it by its tags only", vg, exc)
        session = None
    if session is None:
        yield
        return
    try:
        held = await asyncio.to_thread(session.lock, vg, "EX", lockspace=LOCKSPACE, timeout=timeout)
    except ClusterLockError as exc:
        session.close()
        raise VgLockError(f"cannot take the cluster lock on volume group {vg}: {exc}") from None
    try:
        yield
    finally:
        try:
            await asyncio.to_thread(session.unlock, held)
        except ClusterLockError:
            pass  # closing the session below releases it anyway
        session.close()


ClaimLock = Callable[[str, float], Any]  # an async context manager factory like `claim_lock`
