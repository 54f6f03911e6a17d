"""The quorum disk's I/O: the node core's `OpenDisk`, `ReadDisk`, `WriteDisk`, `RunHeuristic` carried out for real.

Theory of operation
-------------------
Heartbeats run on the same asyncio loop, so nothing here may block it. Every disk transfer goes to one worker
thread (`IoWorker`) and is awaited with the budget the core gave (half an interval for a read, what is left of
the interval for the writes). A transfer that errs or misses its budget is reported as failed:

| what happened                         | reported                          |
|---------------------------------------|-----------------------------------|
| read failed or too slow               | ``DiskRead(ok=False)``            |
| write failed or too slow              | ``DiskWritten(ok=False)``         |
| previous transfer still hung          | failed at once, no new I/O        |

A hung transfer keeps the worker busy; no second one is queued behind it (a stuck device would otherwise pile
up threads). When it finally returns, its result is dropped. A write that lands late is harmless: if the
others have evicted this node meanwhile, they see an "undead" block and evict it again.

The core decides everything else (`quorate.core.qdisk_driver`): this module only stamps blocks with the wall
clock and the measured latencies, as the on-disk format wants, runs heuristics (``/bin/sh -c program``, killed
after their interval) and writes qdiskd's ``status_file``.
"""

from __future__ import annotations

import asyncio
import collections
import os
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from quorate.core.node_io import (
    DiskOpened,
    DiskRead,
    DiskStatusFile,
    DiskWritten,
    HeuristicDone,
    OpenDisk,
    ReadDisk,
    Report,
    RunHeuristic,
    WriteDisk,
)
from quorate.core.qdisk_effects import block_for_stamp
from quorate.qdisk import status_file
from quorate.qdisk.device import DeviceError, QdiskDevice, open_quorum_disk
from quorate.qdisk.scan import find_label
from quorate.system.priority import follow_in_this_thread
from quorate.system.process import run_agent

SCAN_TIMEOUT = 5.0


class QdiskStartError(Exception):
    """The disk could not be opened (no device, not a quorum disk...); the message says why."""


class IoWorker:
    """One daemon thread running one blocking call at a time; results come back to the loop."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], asyncio.Future[Any], asyncio.AbstractEventLoop] | None]
        self._jobs = queue.SimpleQueue()
        self.busy_since: float | None = None
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[], Any]) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self.busy_since = time.monotonic()
        self._jobs.put((fn, fut, loop))
        return fut

    def _main(self) -> None:
        follow_in_this_thread()
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, fut, loop = job
            try:
                outcome: tuple[bool, Any] = (True, fn())
            except BaseException as exc:  # delivered to the awaiting coroutine
                outcome = (False, exc)
            self.busy_since = None
            try:
                loop.call_soon_threadsafe(_deliver, fut, outcome)
            except RuntimeError:  # the loop is gone: nobody waits any more
                pass

    def close(self, last: Callable[[], Any] | None = None) -> None:
        """Stop after the current call (and ``last``, e.g. closing the device) has run."""
        if last is not None:
            self._jobs.put((last, _NoFuture(), _NoLoop()))  # type: ignore[arg-type]
        self._jobs.put(None)


class _NoFuture:
    def done(self) -> bool:
        return True


class _NoLoop:
    def call_soon_threadsafe(self, *args: object) -> None:
        return None


def _deliver(fut: asyncio.Future[Any], outcome: tuple[bool, Any]) -> None:
    if fut.done():  # abandoned after its deadline
        return
    ok, value = outcome
    if ok:
        fut.set_result(value)
    else:
        fut.set_exception(value)


def new_incarnation() -> int:
    """Unique per start of the disk service: time in the high half, randomness in the low half."""
    return (int(time.time()) << 32) | int.from_bytes(os.urandom(4), "big")


class DiskIO:
    """The quorum disk's transfers for one node; ``report`` hands each outcome to the node core."""

    def __init__(
        self,
        local_id: int,
        report: Callable[[Report], None],
        log: Callable[[str, str], None],
        *,
        device_path: str | None = None,
        scan_timeout: float = SCAN_TIMEOUT,
    ) -> None:
        self.local_id = local_id
        self.report = report
        self.log = log
        self.device_path = device_path
        self.scan_timeout = scan_timeout
        self.device: QdiskDevice | None = None
        self.worker: IoWorker | None = None
        self.interval = 1.0
        self.tko = 10
        self.tasks: set[asyncio.Task[None]] = set()
        self._latencies: collections.deque[float] = collections.deque(maxlen=60)
        self._last_latency = 0.0
        self.last_error: str | None = None
        self._status_file_error: str | None = None
        self._status_writing = False

    def carry_out(self, effect: OpenDisk | ReadDisk | WriteDisk | RunHeuristic | DiskStatusFile) -> None:
        if isinstance(effect, DiskStatusFile):
            self._status_file(effect)
            return
        coro = (
            self._open(effect)
            if isinstance(effect, OpenDisk)
            else self._read(effect)
            if isinstance(effect, ReadDisk)
            else self._write(effect)
            if isinstance(effect, WriteDisk)
            else self._heuristic(effect)
        )
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # ------------------------------------------------------------------------------------- transfers

    async def _open(self, effect: OpenDisk) -> None:
        settings = effect.settings
        self.interval, self.tko = float(settings.interval), settings.tko
        label = getattr(settings, "label", None) or ""
        try:
            path = await self._locate(label, getattr(settings, "device", None))
            self.close()
            self.worker = IoWorker(f"qdisk-io-{self.local_id}")
            ok, result, why = await self._io(lambda: open_quorum_disk(path), max(self.interval * self.tko, 5))
            if not ok:
                raise QdiskStartError(why)
        except (DeviceError, QdiskStartError) as exc:
            self.close()
            self.report(DiskOpened(False, error=str(exc)))
            return
        self.device, header = result
        self.report(DiskOpened(True, path, header.label, new_incarnation()))

    async def _locate(self, label: str, device: str | None) -> str:
        if self.device_path:
            return self.device_path
        if label:
            found = await asyncio.to_thread(find_label, label, timeout=self.scan_timeout)
            return found.path
        if device:
            return str(device)
        raise QdiskStartError("neither label nor device is configured for the quorum disk")

    async def _read(self, effect: ReadDisk) -> None:
        device = self.device
        if device is None:
            self.report(DiskRead(False, error="the quorum disk is not open"))
            return
        ok, blocks, why = await self._io(device.read_blocks, effect.budget)
        self._note(ok, f"read: {why}")
        self.report(DiskRead(ok, blocks if ok else {}, why))

    async def _write(self, effect: WriteDisk) -> None:
        device = self.device
        if device is None:
            self.report(DiskWritten(False, "the quorum disk is not open"))
            return
        deadline = time.monotonic() + effect.budget
        for block in effect.blocks:
            stamped = block_for_stamp(block, int(time.time()), self._average(), self._last_latency)
            began = time.monotonic()
            ok, _, why = await self._io(lambda b=stamped: device.write_block(b), max(deadline - began, 0.01))
            if not ok:
                failure = f"write of block {block.nodeid}: {why}"
                self._note(False, failure)
                self.report(DiskWritten(False, failure))
                return
            if block.nodeid == self.local_id:
                self._last_latency = time.monotonic() - began
                self._latencies.append(self._last_latency)
        self.report(DiskWritten(True))

    async def _heuristic(self, effect: RunHeuristic) -> None:
        result = await run_agent(["/bin/sh", "-c", effect.program], timeout=effect.timeout)
        detail = result.error or ("timed out" if result.timed_out else f"exit status {result.returncode}")
        self.report(HeuristicDone(effect.index, result.ok, "" if result.ok else detail))

    def _status_file(self, effect: DiskStatusFile) -> None:
        """``status_file``: written in a worker thread (an fsync must not hold the heartbeats), one write at a
        time; a cycle that comes while the last write is still going skips (the next one has newer figures). A
        failure is logged once per error text, never fatal."""
        if self._status_writing:
            return
        self._status_writing = True
        task = asyncio.get_running_loop().create_task(self._write_status_file(effect))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _write_status_file(self, effect: DiskStatusFile) -> None:
        try:
            await asyncio.to_thread(status_file.write, effect.path, dict(effect.status))
        except OSError as exc:
            text = f"cannot write status_file {effect.path}: {exc.strerror or exc}"
            if text != self._status_file_error:
                self.log(f"Quorum disk: {text}", "warning")
            self._status_file_error = text
        else:
            self._status_file_error = None
        finally:
            self._status_writing = False

    async def _io(self, fn: Callable[[], Any], budget: float) -> tuple[bool, Any, str]:
        """Run one transfer in the worker, waiting at most ``budget`` seconds: (ok, result, why not)."""
        worker = self.worker
        if worker is None:
            return False, None, "the quorum disk is not open"
        if worker.busy_since is not None:
            hung = time.monotonic() - worker.busy_since
            left = self.interval * self.tko - hung
            tail = f"; in {left:.1f} more seconds, we will be evicted" if left > 0 else ""
            return False, None, f"the previous disk transfer has hung for {hung:.1f} seconds{tail}"
        fut = worker.submit(fn)
        try:
            done, _ = await asyncio.wait({fut}, timeout=budget)
        finally:
            if not fut.done():
                fut.cancel()
        if not done:
            return False, None, f"no answer within {budget:.2f} s"
        exc = fut.exception()
        if exc is not None:
            text = getattr(exc, "strerror", None) or str(exc)
            return False, None, text
        return True, fut.result(), ""

    def _note(self, ok: bool, text: str) -> None:
        if not ok:
            self.last_error = text

    def _average(self) -> float:
        return sum(self._latencies) / len(self._latencies) if self._latencies else 0.0

    # ------------------------------------------------------------------------------------------ status

    def status(self) -> dict[str, Any]:
        busy = self.worker.busy_since if self.worker else None
        return {
            "last_write_latency": round(self._last_latency, 6),
            "average_write_latency": round(self._average(), 6),
            "pending_for": None if busy is None else round(time.monotonic() - busy, 3),
            "last_error": self.last_error,
        }

    def close(self) -> None:
        """The disk service ended: the device closes once the worker is free (a hung transfer keeps it)."""
        if self.worker is not None:
            device = self.device
            self.worker.close(device.close if device is not None else None)
        self.worker, self.device = None, None

    def cancel(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        self.close()
