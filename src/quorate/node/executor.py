"""The service executor: runs the node core's `StartService`, `StopService` and `CheckService` through the
resource agents, one operation per service at a time, and reports what really happened.

Theory of operation: the node core decides what to start and stop; this module only carries it out and keeps
the ground truth (``running``: starting, started, stopping, failed). Every change of that truth is reported
at once (`ServicesRunning`), every finished operation too (`ServiceDone`), so the core's S1 decisions rest on
facts. Operations on one service are serialised with a lock (R-3); different services run concurrently.
A stop is carried out with the tree it was started with when the configuration changed in between
(``previous_tree``), so a removed or changed service stops what it really started.

Two guards, not decisions: a start is refused at the last moment when the node is no longer quorate (the core
said start while it was; quorum may have gone while an earlier stop of the service held its lock), and a
failed independent subtree is restarted in place within its budget before a status check is called failed
(rgmanager's ``__independent_subtree``, R-52).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from quorate.core.node_io import (
    Action,
    CheckService,
    ExecOutcome,
    Report,
    ServiceDone,
    ServicesRunning,
    StartService,
    StatusChecked,
    StopService,
)

if TYPE_CHECKING:
    from quorate.config.model import ClusterConfig

Outcome = tuple[bool, str]


class ResourceBackend:
    """Runs service trees through the resource agents (quorate.resources); one instance per daemon."""

    def __init__(self, config: ClusterConfig, node_name: str, is_member: Callable[[str], bool]) -> None:
        from quorate.resources import ResourceRunner, build_trees

        self.trees: dict[str, Any] = build_trees(config)
        self.previous: dict[str, Any] = {}
        self.runner = ResourceRunner(node_name=node_name, is_member=is_member)

    def replace_trees(self, config: ClusterConfig) -> None:
        """A new configuration: stops of removed or changed services use the trees they were started with."""
        from quorate.resources import build_trees

        old, self.trees = self.trees, build_trees(config)
        self.previous.update(old)

    async def start(self, service: str) -> Outcome:
        result = await self.runner.start_service(self.trees[service])
        return result.ok, result.message

    async def stop(self, service: str, previous: bool = False) -> Outcome:
        tree = self.previous.pop(service, None) if previous else None
        tree = tree or self.trees.get(service)
        if tree is None:
            return True, "nothing to stop: not in the configuration"
        result = await self.runner.stop_service(tree)
        return result.ok and not result.resources_left, result.message

    async def status(self, service: str, now: float) -> Outcome:
        """The due checks; a failed independent subtree is restarted (or, non-critical, stopped) in place."""
        tree = self.trees[service]
        result = await self.runner.status_service(tree, now)
        if result.failed is not None or not result.recoverable:
            return result.ok, result.message
        for top in result.recoverable:
            recovered = await self.runner.recover_subtree(tree, top)
            if not recovered.ok:
                return False, recovered.message
        return True, result.message


class Executor:
    """This node's executor; ``report`` hands each outcome to the node core (and flushes its effects)."""

    def __init__(self, report: Callable[[Report], None], may_start: Callable[[], bool]) -> None:
        self.report = report
        self.may_start = may_start
        self.backend: ResourceBackend | None = None
        self.unavailable = ""
        self.running: dict[str, str] = {}
        self.locks: dict[str, asyncio.Lock] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    def configure(self, config: ClusterConfig, node_name: str, is_member: Callable[[str], bool]) -> str | None:
        """Build (or rebuild) the trees of ``config``; returns why services cannot run here, if they cannot."""
        if not config.rm.managed and self.backend is None:
            return None
        try:
            if self.backend is None:
                self.backend = ResourceBackend(config, node_name, is_member)
            else:
                self.backend.replace_trees(config)
        except ImportError as exc:
            self.unavailable = f"resource agents unavailable ({exc}): services cannot run here"
            return self.unavailable
        return None

    # ---------------------------------------------------------------------------------------- effects

    def carry_out(self, effect: StartService | StopService | CheckService) -> None:
        if isinstance(effect, StartService):
            self._spawn(self._start(effect))
        elif isinstance(effect, StopService):
            self._spawn(self._stop(effect))
        else:
            lock = self.locks.get(effect.service)
            if self.running.get(effect.service) == "started" and not (lock and lock.locked()):
                self._spawn(self._check(effect.service))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _set(self, name: str, state: str | None) -> None:
        if state is None:
            self.running.pop(name, None)
        else:
            self.running[name] = state
        self.report(ServicesRunning(dict(self.running)))

    def _lock(self, name: str) -> asyncio.Lock:
        return self.locks.setdefault(name, asyncio.Lock())

    async def _start(self, effect: StartService) -> None:
        name = effect.service
        async with self._lock(name):
            if self.backend is None or name not in self.backend.trees:
                why = self.unavailable or "resource agents are not available on this node"
                self._done(effect.cmd, name, Action.START, ExecOutcome.START_FAILED, why)
                return
            if not self.may_start():
                self._done(effect.cmd, name, Action.START, ExecOutcome.START_FAILED, "this node is not quorate")
                return
            self._set(name, "starting")
            ok, message = await self.backend.start(name)
            self._set(name, "started" if ok else None)
            self._done(effect.cmd, name, Action.START, ExecOutcome.STARTED if ok else ExecOutcome.START_FAILED, message)

    async def _stop(self, effect: StopService) -> None:
        name = effect.service
        async with self._lock(name):
            if self.backend is None:
                self._done(effect.cmd, name, Action.STOP, ExecOutcome.STOPPED, "nothing runs here", effect)
                return
            self._set(name, "stopping")
            ok, message = await self.backend.stop(name, effect.previous_tree)
            self._set(name, None if ok else "failed")
            self._done(effect.cmd, name, Action.STOP, ExecOutcome.STOPPED if ok else ExecOutcome.STOP_FAILED, message,
                       effect)

    async def _check(self, name: str) -> None:
        async with self._lock(name):
            if self.running.get(name) != "started" or self.backend is None:
                return
            ok, message = await self.backend.status(name, asyncio.get_running_loop().time())
        self.report(StatusChecked(name, ok, message))

    def _done(
        self, cmd: int, name: str, action: Action, outcome: ExecOutcome, detail: str, stop: StopService | None = None
    ) -> None:
        self.report(ServiceDone(name, cmd, action, outcome, detail, stop.why if stop is not None else None))

    # ------------------------------------------------------------------------------------- shutting down

    async def idle(self, timeout: float) -> None:
        """Wait until every operation in flight ended (a self-fence waits for its stops), at most ``timeout``."""
        pending = [t for t in self.tasks if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout)

    def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
