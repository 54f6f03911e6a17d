"""The quorum-disk service alone, on a real device: the node core's `QdiskDriver` carried out by the daemon's
`DiskIO`, with a membership the test scripts. Tests of the disk service (start-up failures, heuristics, the
status file, a hung LUN, elections between several services on one loop device) use it instead of whole
daemons; what runs is exactly what the daemon runs, minus the rest of the node core.

``on_effects`` sees what the daemon's node core would act on (votes, kill requests, reboots, logs).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterable
from typing import Any

from quorate.core.node_io import (
    CloseDisk,
    DiskOpened,
    DiskRead,
    DiskStatusFile,
    DiskWritten,
    HeuristicDone,
    OpenDisk,
    ReadDisk,
    RunHeuristic,
    WriteDisk,
)
from quorate.core.qdisk_config import QdiskSettings
from quorate.core.qdisk_driver import Phase, QdiskDriver
from quorate.core.qdisk_effects import QdiskEffect
from quorate.qdisk.shell import DiskIO, QdiskStartError

__all__ = ["QdiskService", "QdiskStartError"]


class QdiskService:
    def __init__(
        self,
        config: QdiskSettings,
        local_id: int,
        node_ids: Iterable[int],
        device_path: str | None = None,
        *,
        on_effects: Callable[[list[QdiskEffect]], Any],
        get_membership: Callable[[], tuple[frozenset[int], bool]],
        token_ms: int | None = None,
        incarnation: int | None = None,
        scan_timeout: float = 5.0,
    ) -> None:
        self.config = config
        self.local_id = local_id
        self.node_ids = tuple(node_ids)
        self.on_effects = on_effects
        self.get_membership = get_membership
        self.token_ms = token_ms
        self.incarnation = incarnation
        self.driver: QdiskDriver | None = None
        self.disk = DiskIO(local_id, self._report, self._log, device_path=device_path, scan_timeout=scan_timeout)
        self._opened = asyncio.Event()
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        self._opened, self._wake = asyncio.Event(), asyncio.Event()
        self._stopping = False
        self.driver = QdiskDriver(self.config, self.local_id, self.node_ids, self.token_ms)
        self._pump()
        await self._opened.wait()
        if self.driver.phase is Phase.FAILED:
            raise QdiskStartError(self.driver.error or "the quorum disk could not start")
        self._loop_task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        # The flag ends the loop even when the cancel is lost: on Python 3.11, asyncio.wait_for swallows a
        # cancellation that arrives as the awaited event is set, and the loop would tick on forever.
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        driver = self.driver
        if driver is not None:
            driver.stop(time.monotonic())
            self._pump()
            pending = [t for t in self.disk.tasks if not t.done()]
            if pending:
                await asyncio.wait(pending, timeout=float(self.config.interval))
        self.disk.cancel()

    def membership_changed(self, members: frozenset[int], quorate: bool) -> None:
        if self.driver is not None:
            self.driver.membership_changed(time.monotonic(), members, quorate)
            self._pump()

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"device": None, "label": getattr(self.config, "label", None)}
        if self.driver is not None:
            out.update(self.driver.status(time.monotonic()))
        out["io"] = self.disk.status()
        return out

    # --------------------------------------------------------------------------------------- internals

    async def _run(self) -> None:
        while not self._stopping:
            driver = self.driver
            assert driver is not None
            deadline = driver.next_deadline()
            delay = 1.0 if deadline is None else max(deadline - time.monotonic(), 0.0)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            members, quorate = self.get_membership()
            driver.tick(time.monotonic(), members, quorate)
            self._pump()

    def _report(self, event: Any) -> None:
        driver = self.driver
        if driver is None:
            return
        now = time.monotonic()
        members, quorate = self.get_membership()
        if isinstance(event, DiskOpened):
            if event.ok and self.incarnation is not None:
                event = dataclasses.replace(event, incarnation=self.incarnation)
            driver.opened(now, event)
            self._opened.set()
        elif isinstance(event, DiskRead):
            driver.read_done(now, event, members, quorate)
        elif isinstance(event, DiskWritten):
            driver.write_done(now, event)
        elif isinstance(event, HeuristicDone):
            driver.heuristic_done(now, event.index, event.ok, event.detail)
        self._pump()
        self._wake.set()

    def _pump(self) -> None:
        driver = self.driver
        if driver is None:
            return
        for effect in driver.take_effects():
            if isinstance(effect, OpenDisk | ReadDisk | WriteDisk | RunHeuristic | DiskStatusFile):
                self.disk.carry_out(effect)
            elif isinstance(effect, CloseDisk):
                self.disk.close()
            else:
                self.on_effects([effect])

    def _log(self, text: str, level: str) -> None:
        from quorate.core.effects import Log

        self.on_effects([Log(text, level)])
