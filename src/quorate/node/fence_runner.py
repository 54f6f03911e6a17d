"""Carries out fencing: runs the node core's `RunFence` and `FenceOnce` as tasks, cancels them on `CancelFence`.

The core decides who is fenced and when; this module turns a pass over a node's fence methods into an asyncio
task around `fence_exec.fence_once`, so a slow or hung agent never blocks heartbeats, and reports the outcome
(`FenceDone`, with every attempt logged). A fence_manual device needs no subprocess: the pass reports
`FenceManualWaiting` and waits (for ever) until `fence_ack_manual` confirms through the core, which then cancels
the task.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from quorate.core.fencing import CancelFence, RunFence
from quorate.core.node_io import FenceDone, FenceManualWaiting, FenceOnce, Report
from quorate.node import fence_exec

if TYPE_CHECKING:
    from quorate.config.model import ClusterConfig

FENCE_AGENT_TIMEOUT = 120.0


class FenceRunner:
    def __init__(
        self, config: Callable[[], ClusterConfig], report: Callable[[Report], None], log: Callable[[str, str], None]
    ) -> None:
        self.config = config
        self.report = report
        self.log = log
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self.admin: set[asyncio.Task[None]] = set()

    def carry_out(self, effect: RunFence | CancelFence | FenceOnce) -> None:
        loop = asyncio.get_running_loop()
        if isinstance(effect, RunFence):
            old = self.tasks.pop(effect.nodeid, None)
            if old is not None:
                old.cancel()
            self.tasks[effect.nodeid] = loop.create_task(self._run(effect.nodeid, effect.name, 0))
        elif isinstance(effect, CancelFence):
            task = self.tasks.pop(effect.nodeid, None)
            if task is not None:
                task.cancel()
        else:
            task = loop.create_task(self._run(effect.nodeid, effect.name, effect.rid))
            self.admin.add(task)
            task.add_done_callback(self.admin.discard)

    async def _run(self, nodeid: int, name: str, rid: int) -> None:
        async def manual_ack() -> None:
            self.report(FenceManualWaiting(nodeid))
            await asyncio.Event().wait()  # ended by cancellation once the acknowledgement confirmed the fence

        outcome = await fence_exec.fence_once(
            self.config(), name, timeout=FENCE_AGENT_TIMEOUT, manual_ack=None if rid else manual_ack
        )
        if not rid and self.tasks.get(nodeid) is asyncio.current_task():
            del self.tasks[nodeid]
        for attempt in outcome.attempts:
            tail = attempt.output_tail.strip()
            verdict = "ok" if attempt.returncode == 0 and not attempt.timed_out else "failed"
            self.log(
                f"fence {name}: method {attempt.method}, device {attempt.device} ({attempt.agent}): {verdict}"
                + (f": {tail}" if tail else ""),
                "info",
            )
        duration = sum(a.duration for a in outcome.attempts)
        self.report(FenceDone(nodeid, outcome.success, outcome.method or "", outcome.reason, duration, rid))

    def cancel_all(self) -> None:
        for task in [*self.tasks.values(), *self.admin]:
            task.cancel()
        self.tasks.clear()
