"""Carries out the fencing core's effects: runs fence passes as tasks, cancels them, keeps fenced runs out.

The core decides; this module only turns `RunFence` into an asyncio task around `fence_exec.fence_once`
and feeds the outcome back, so a slow or hung agent never blocks heartbeats. A fence_manual device is handled
here without a subprocess: the pass waits (forever) until `fence_ack_manual` confirms through the core, which
then cancels the task.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from quorate.core.effects import Log, Send
from quorate.core.fencing import CancelFence, FenceConfirmed, Fencing, FencingConfig, RunFence
from quorate.node import fence_exec

if TYPE_CHECKING:
    from quorate.config.model import ClusterConfig
    from quorate.node.daemon import Daemon

FENCE_AGENT_TIMEOUT = 120.0


def fencing_config(cfg: ClusterConfig) -> FencingConfig:
    fd = cfg.fence_daemon
    return FencingConfig(
        node_names={n.nodeid: n.name for n in cfg.nodes},
        post_join_delay=float(fd.post_join_delay),
        post_fail_delay=float(fd.post_fail_delay),
        clean_start=bool(fd.clean_start),
        override_time=float(fd.override_time),
        two_node=cfg.two_node,
    )


class FencingShell:
    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.core = Fencing(fencing_config(daemon.config), daemon.local.nodeid)
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self.on_confirmed: list[Callable[[FenceConfirmed], None]] = []

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def carry_out(self) -> None:
        for effect in self.core.take_effects():
            if isinstance(effect, RunFence):
                self._start(effect)
            elif isinstance(effect, CancelFence):
                task = self.tasks.pop(effect.nodeid, None)
                if task is not None:
                    task.cancel()
            elif isinstance(effect, FenceConfirmed):
                self.daemon.membership.bar_until_restart(effect.record.nodeid, effect.record.boot)
                for callback in self.on_confirmed:
                    callback(effect)
            elif isinstance(effect, Send):
                self.daemon.send(effect)
            elif isinstance(effect, Log):
                self.daemon.log_line(effect.text, effect.level)

    def _start(self, effect: RunFence) -> None:
        old = self.tasks.pop(effect.nodeid, None)
        if old is not None:
            old.cancel()
        self.tasks[effect.nodeid] = asyncio.get_running_loop().create_task(self._run(effect.nodeid, effect.name))

    async def _run(self, nodeid: int, name: str) -> None:
        async def manual_ack() -> None:
            self.core.manual_waiting(self.now(), nodeid)
            self.daemon.flush()
            await asyncio.Event().wait()  # ended by cancellation once the acknowledgement confirmed the fence

        outcome = await fence_exec.fence_once(
            self.daemon.config, name, timeout=FENCE_AGENT_TIMEOUT, manual_ack=manual_ack
        )
        if self.tasks.get(nodeid) is asyncio.current_task():
            del self.tasks[nodeid]
        for attempt in outcome.attempts:
            self.daemon.log_line(
                f"fence {name}: method {attempt.method}, device {attempt.device} ({attempt.agent}): "
                + ("ok" if attempt.returncode == 0 and not attempt.timed_out else "failed")
                + (f": {attempt.output_tail.strip()}" if attempt.output_tail.strip() else ""),
                "info",
            )
        duration = sum(a.duration for a in outcome.attempts)
        self.core.fence_result(
            self.now(),
            nodeid,
            ok=outcome.success,
            method=outcome.method or "",
            detail=outcome.reason,
            duration=duration,
        )
        self.daemon.flush()

    async def fence_now(self, name: str) -> tuple[bool, str]:
        """`fence_node NAME`: one pass now, whatever the quorum (F-40); a success also confirms a pending fence."""
        node = self.daemon.config.node_by_name(name)
        if node is None:
            return False, f"unknown node {name}"
        outcome = await fence_exec.fence_once(self.daemon.config, node.name, timeout=FENCE_AGENT_TIMEOUT)
        duration = sum(a.duration for a in outcome.attempts)
        self.core.fence_result(
            self.now(),
            node.nodeid,
            ok=outcome.success,
            method=outcome.method or "",
            detail=outcome.reason,
            duration=duration,
        )
        self.daemon.flush()
        return outcome.success, outcome.reason

    def cancel_all(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        self.tasks.clear()
