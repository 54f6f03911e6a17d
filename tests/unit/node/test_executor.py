"""The executor carries out one operation per service at a time, in the order the node core gave them.

At a cold start the node core asks for the stop of every configured service (stop-before-start) and, once a
quorate view forms, the coordinator may give the node a start of one of them while that stop still runs. The
start must wait for the stop: otherwise the stop unmounts the file system the start has just mounted. These
tests drive the real `Executor` with a backend whose operations take time, on a real event loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

from quorate.core.node_io import Report, ServiceDone, ServicesRunning, StartService, StopService, StopWhy
from quorate.node.executor import Executor


class SlowBackend:
    """Records when each operation begins and ends; a stop takes ``stop_seconds``."""

    def __init__(self, stop_seconds: float) -> None:
        self.stop_seconds = stop_seconds
        self.trees: dict[str, Any] = {"db": object(), "web": object()}
        self.events: list[str] = []

    async def start(self, service: str) -> tuple[bool, str]:
        self.events.append(f"start {service} begins")
        await asyncio.sleep(0.01)
        self.events.append(f"start {service} ends")
        return True, "started"

    async def stop(self, service: str, previous: bool = False) -> tuple[bool, str]:
        self.events.append(f"stop {service} begins")
        await asyncio.sleep(self.stop_seconds)
        self.events.append(f"stop {service} ends")
        return True, "stopped"


def run(effects: list[StartService | StopService], backend: SlowBackend) -> list[Report]:
    reports: list[Report] = []

    async def main() -> None:
        executor = Executor(reports.append, may_start=lambda: True)
        executor.backend = backend  # type: ignore[assignment]
        for effect in effects:
            executor.carry_out(effect)
            await asyncio.sleep(0)  # the start arrives while the stop is running
        await executor.idle(timeout=10)

    asyncio.run(main())
    return reports


def test_a_start_given_during_the_initial_stop_waits_for_it() -> None:
    backend = SlowBackend(stop_seconds=0.3)
    reports = run([StopService("db", 0, StopWhy.INITIAL), StartService("db", 7)], backend)
    assert backend.events == ["stop db begins", "stop db ends", "start db begins", "start db ends"]
    done = [r for r in reports if isinstance(r, ServiceDone)]
    assert [(d.service, d.cmd, d.outcome.value) for d in done] == [("db", 0, "stopped"), ("db", 7, "started")]
    last = [r for r in reports if isinstance(r, ServicesRunning)][-1]
    assert last.running == {"db": "started"}


def test_different_services_run_side_by_side() -> None:
    backend = SlowBackend(stop_seconds=0.3)
    run([StopService("db", 0, StopWhy.INITIAL), StartService("web", 3)], backend)
    assert backend.events.index("start web ends") < backend.events.index("stop db ends")
