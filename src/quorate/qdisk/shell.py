"""The quorum-disk service: the pure core driven by real disk I/O and heuristics, on the daemon's event loop.

Theory of operation
-------------------
Heartbeats run on the same asyncio loop, so nothing here may block it. Every disk transfer goes to one
worker thread per service (`IoWorker`) and is awaited with a deadline: the read gets half an interval, the
writes what is left of the interval. A transfer that errs or misses its deadline makes the cycle fail:

| what happened                         | the core is told                  | votes                  |
|---------------------------------------|-----------------------------------|------------------------|
| read failed or too slow               | ``cycle(io_ok=False)``            | withdrawn in the cycle |
| write failed or too slow              | ``io_error`` right after          | never granted          |
| previous transfer still hung          | ``cycle(io_ok=False)``, no new I/O | stay withdrawn         |

A hung transfer keeps the worker busy; no second one is queued behind it (a stuck device would otherwise
pile up threads). When it finally returns, its result is dropped and the next cycle tries again. A write
that lands late is harmless: if the others have evicted this node meanwhile, they see an "undead" block and
evict it again.

Heuristics run concurrently through `run_agent` (``/bin/sh -c program``, killed after their interval), and
their results feed `HeuristicTracker`; the cycle reads the score from it.

The daemon's side: ``on_effects`` receives every effect except `WriteBlock` (carried out here), in order;
``get_membership`` returns the local view and quorum state at each cycle; `membership_changed` must be
called whenever the view changes (it can only take votes away, at once: rule S4).
"""

from __future__ import annotations

import asyncio
import collections
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from quorate.core.effects import Log
from quorate.core.qdisk import QdiskCore, QdiskEffect, StopCman, block_for_stamp
from quorate.core.qdisk_block import Block
from quorate.core.qdisk_config import QdiskSettings
from quorate.core.qdisk_effects import stage
from quorate.core.qdisk_score import HeuristicTracker
from quorate.node.agent_runner import run_agent
from quorate.qdisk import status_file
from quorate.qdisk.device import DeviceError, QdiskDevice, open_quorum_disk
from quorate.qdisk.scan import find_label

EffectSink = Callable[[list[QdiskEffect]], None]
MembershipSource = Callable[[], tuple[frozenset[int], bool]]


class QdiskStartError(Exception):
    """The service could not start (no device, not a quorum disk...); the message says why."""


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


class QdiskService:
    """The quorum disk of one node. ``await start()``, then it cycles on its own until ``await stop()``."""

    def __init__(
        self,
        config: QdiskSettings,
        local_id: int,
        node_ids: Iterable[int],
        device_path: str | None = None,
        *,
        on_effects: EffectSink,
        get_membership: MembershipSource,
        token_ms: int | None = None,
        incarnation: int | None = None,
        scan_timeout: float = 5.0,
    ) -> None:
        self.config = config
        self.local_id = local_id
        self.node_ids = tuple(node_ids)
        self.device_path = device_path
        self.on_effects = on_effects
        self.get_membership = get_membership
        self.token_ms = token_ms
        self.incarnation = incarnation or ((int(time.time()) << 32) | int.from_bytes(os.urandom(4), "big"))
        self.scan_timeout = scan_timeout
        self.interval = float(config.interval)
        self.core: QdiskCore | None = None
        self.tracker = HeuristicTracker(config.heuristics)
        self.device: QdiskDevice | None = None
        self.device_name: str | None = None
        self.worker: IoWorker | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._heuristic_tasks: set[asyncio.Task[None]] = set()
        self._write_ok = True
        self._latencies: collections.deque[float] = collections.deque(maxlen=60)
        self._last_latency = 0.0
        self.last_error: str | None = None
        self._status_file_error: str | None = None

    # -------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Find and open the device (bounded in time), then start cycling and scoring."""
        try:
            path = await self._locate()
            self.worker = IoWorker(f"qdisk-io-{self.local_id}")
            ok, result, why = await self._io(lambda: open_quorum_disk(path), max(self.interval * self.config.tko, 5))
            if not ok:
                raise QdiskStartError(why)
        except (DeviceError, QdiskStartError) as exc:
            effects: list[QdiskEffect] = [Log(f"Quorum disk not started: {exc}", "error")]
            if self.config.stop_cman:
                effects.append(StopCman(f"the quorum disk could not start ({exc}) and stop_cman is set"))
            self.on_effects(effects)
            if self.worker is not None:
                self.worker.close()
            raise QdiskStartError(str(exc)) from None
        self.device, header = result
        self.device_name = path
        self.core = QdiskCore(
            self.config, self.local_id, self.node_ids, incarnation=self.incarnation, token_ms=self.token_ms
        )
        self.on_effects(
            [
                Log(
                    f"Quorum disk {path} (label '{header.label}') opened; node {self.local_id}, "
                    f"incarnation {self.incarnation:016x}"
                )
            ]
        )
        self._tasks = [
            asyncio.create_task(self._run(), name=f"qdisk-{self.local_id}"),
            asyncio.create_task(self._run_heuristics(), name=f"qdisk-score-{self.local_id}"),
            asyncio.create_task(self._lease_watch(), name=f"qdisk-lease-{self.local_id}"),
        ]

    async def _locate(self) -> str:
        if self.device_path:
            return self.device_path
        label = getattr(self.config, "label", None)
        if label:
            found = await asyncio.to_thread(find_label, label, timeout=self.scan_timeout)
            return found.path
        device = getattr(self.config, "device", None)
        if device:
            return str(device)
        raise QdiskStartError("neither label nor device is configured for the quorum disk")

    async def stop(self) -> None:
        """Clean exit: stop cycling, write state NONE (bounded in time), give the votes back."""
        for task in [*self._tasks, *self._heuristic_tasks]:
            task.cancel()
        for task in [*self._tasks, *self._heuristic_tasks]:
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._tasks, self._heuristic_tasks = [], set()
        if self.core is not None and self.worker is not None:
            effects = self.core.stop(time.monotonic())
            await self._carry_out(effects, time.monotonic() + self.interval)
        if self.worker is not None:
            device = self.device
            self.worker.close(device.close if device is not None else None)
            self.worker = None

    def update_settings(self, config: QdiskSettings) -> None:
        """Settings qdiskd re-reads on a configuration change (votes, reboot, allow_kill...): the next cycle
        uses them. The caller makes sure nothing else changed (timings and heuristics need a restart)."""
        self.config = config
        if self.core is not None:
            self.core.config = config

    def membership_changed(self, members: frozenset[int], quorate: bool) -> None:
        """The daemon calls this on every view change: votes are withdrawn at once if the grant is void."""
        if self.core is not None:
            effects = self.core.membership_changed(time.monotonic(), members, quorate)
            if effects:
                self.on_effects(effects)

    def status(self) -> dict[str, Any]:
        now = time.monotonic()
        out: dict[str, Any] = {"device": self.device_name, "label": getattr(self.config, "label", None)}
        if self.core is not None:
            out.update(self.core.status(now).as_dict())
        busy = self.worker.busy_since if self.worker else None
        out["io"] = {
            "last_write_latency": round(self._last_latency, 6),
            "average_write_latency": round(self._average(), 6),
            "pending_for": None if busy is None else round(now - busy, 3),
            "last_error": self.last_error,
        }
        return out

    # ------------------------------------------------------------------ cycle

    async def _run(self) -> None:
        assert self.core is not None and self.device is not None
        core, device = self.core, self.device
        while not core.halted:
            deadline = core.next_deadline() or 0.0
            delay = deadline - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            start = time.monotonic()
            early = core.begin(start)
            if early:
                self.on_effects(early)
            ok, blocks, why = await self._io(device.read_blocks, self.interval / 2)
            if not ok:
                self._note_error(f"read: {why}")
            members, quorate = self.get_membership()
            score, score_max = self.tracker.score()
            io_ok = ok and self._write_ok
            # "now" is after the read: a process frozen during the read must see the time that passed
            effects = core.cycle(time.monotonic(), blocks if ok else {}, io_ok, score, score_max, members, quorate)
            await self._carry_out(effects, start + self.interval)
            self._dump_status()

    async def _carry_out(self, effects: list[QdiskEffect], deadline: float) -> None:
        """Withdrawals and the like at once, then the writes, then a grant only if the writes landed."""
        assert self.core is not None and self.device is not None
        device = self.device
        now, writes, later = stage(effects)
        if now:
            self.on_effects(now)
        failure = None
        for block in writes:
            block = self._stamp(block)
            began = time.monotonic()
            ok, _, why = await self._io(lambda b=block: device.write_block(b), max(deadline - began, 0.01))
            if not ok:
                failure = f"write of block {block.nodeid}: {why}"
                break
            if block.nodeid == self.local_id:
                self._last_latency = time.monotonic() - began
                self._latencies.append(self._last_latency)
        self._write_ok = failure is None
        if failure is not None:
            self._note_error(failure)
            later = self.core.io_error(time.monotonic(), failure)
        else:
            later = self.core.release(later)
        if later:
            self.on_effects(later)

    def _dump_status(self) -> None:
        """``status_file`` (spec 1.5): a failure to write it is logged once per error text, never fatal."""
        path = getattr(self.config, "status_file", None)
        if not path or self.core is None:
            return
        try:
            status_file.write(path, self.core.status(time.monotonic()).as_dict())
        except OSError as exc:
            text = f"cannot write status_file {path}: {exc.strerror or exc}"
            if text != self._status_file_error:
                self.on_effects([Log(f"Quorum disk: {text}", "warning")])
            self._status_file_error = text
        else:
            self._status_file_error = None

    def _stamp(self, block: Block) -> Block:
        return block_for_stamp(block, int(time.time()), self._average(), self._last_latency)

    def _average(self) -> float:
        return sum(self._latencies) / len(self._latencies) if self._latencies else 0.0

    async def _io(self, fn: Callable[[], Any], budget: float) -> tuple[bool, Any, str]:
        """Run one transfer in the worker, waiting at most ``budget`` seconds: (ok, result, why not)."""
        worker = self.worker
        assert worker is not None
        if worker.busy_since is not None:
            hung = time.monotonic() - worker.busy_since
            left = self.interval * self.config.tko - hung
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

    def _note_error(self, text: str) -> None:
        if text != self.last_error:
            self.on_effects([Log(f"Quorum disk {self.device_name}: {text}", "warning")])
        self.last_error = text

    async def _lease_watch(self) -> None:
        """The votes are a lease renewed by each cycle. Whatever wakes first after the process was frozen
        (SIGSTOP, a stalled VM), this check withdraws them if cycles stopped long enough for the others to
        have declared this node dead, without waiting for a disk transfer to finish."""
        assert self.core is not None
        while not self.core.halted:
            await asyncio.sleep(self.interval / 4)
            effects = self.core.begin(time.monotonic())
            if effects:
                self.on_effects(effects)

    # ------------------------------------------------------------- heuristics

    async def _run_heuristics(self) -> None:
        """D-25: every second at most, start the heuristics that are due and not still running."""
        while True:
            now = time.monotonic()
            for index in self.tracker.due(now):
                self.tracker.started(index, now)
                task = asyncio.create_task(self._heuristic(index))
                self._heuristic_tasks.add(task)
                task.add_done_callback(self._heuristic_tasks.discard)
            upcoming = self.tracker.next_deadline()
            wait = 1.0 if upcoming is None else min(max(upcoming - time.monotonic(), 0.05), 1.0)
            await asyncio.sleep(wait)

    async def _heuristic(self, index: int) -> None:
        item = self.tracker.items[index]
        result = await run_agent(["/bin/sh", "-c", item.program], timeout=max(item.interval, 0.5))
        detail = result.error or ("timed out" if result.timed_out else f"exit status {result.returncode}")
        logs = self.tracker.finished(index, time.monotonic(), result.ok, "" if result.ok else detail)
        if logs:
            self.on_effects(list(logs))
