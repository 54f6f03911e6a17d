"""The resource manager's shell: the local executor and the wiring of the services core into the daemon.

The executor runs only what the coordinator commands, one operation per service at a time, and tells the
core what it really runs (its inventory). It also acts on its own in two cases, both about safety: when this
node loses quorum or is evicted it stops everything at once (S2, rgmanager's "#1: Quorum Dissolved"), and at
start it stops every configured service before the node may join (R-30), so a restarted daemon never
rejoins while something it started earlier still runs. While anything runs here the node is "Dirty", and
membership refuses a dirty node that is outside the view.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from quorate.core.effects import Log, Send
from quorate.core.placement import DomainSpec, ServiceSpec
from quorate.core.services import FenceForService, RequestDone, ServiceManager, StartLocal, StopLocal

if TYPE_CHECKING:
    from quorate.config.model import ClusterConfig
    from quorate.node.daemon import Daemon

Outcome = tuple[bool, str]


def service_specs(cfg: ClusterConfig) -> dict[str, ServiceSpec]:
    ids = {n.name: n.nodeid for n in cfg.nodes}
    specs: dict[str, ServiceSpec] = {}
    for svc in cfg.rm.managed:  # none when <rm disabled="1">; never a <vm>
        domain = None
        if svc.domain:
            d = cfg.rm.domain(svc.domain)
            if d is not None:
                priorities = {ids[m.name]: (m.priority if d.ordered else 0) for m in d.nodes if m.name in ids}
                domain = DomainSpec(d.name, d.ordered, d.restricted, d.nofailback, priorities)
        specs[svc.name] = ServiceSpec(
            name=svc.name,
            autostart=svc.autostart,
            domain=domain,
            recovery=svc.recovery,
            exclusive=svc.exclusive,
            max_restarts=svc.max_restarts,
            restart_expire_time=float(svc.restart_expire_time),
            depend=svc.depend,
            status_interval=float(cfg.rm.status_poll_interval),
        )
    return specs


class ResourceBackend:
    """Runs service trees through the resource agents (quorate.resources); one instance per daemon."""

    def __init__(self, daemon: Daemon) -> None:
        from quorate.resources import ResourceRunner, build_trees

        self.trees = build_trees(daemon.config)
        self.runner = ResourceRunner(
            node_name=daemon.local.name,
            is_member=lambda name: any(
                n.name == name and n.nodeid in daemon.membership.members for n in daemon.config.nodes
            ),
        )

    async def start(self, service: str) -> Outcome:
        result = await self.runner.start_service(self.trees[service])
        return result.ok, result.message

    async def stop(self, service: str, tree: Any | None = None) -> Outcome:
        result = await self.runner.stop_service(tree or self.trees[service])
        return result.ok and not result.resources_left, result.message

    def replace_trees(self, cfg: ClusterConfig) -> dict[str, Any]:
        """Trees of a new configuration; returns the old ones, which stops of removed or changed services use."""
        from quorate.resources import build_trees

        old, self.trees = self.trees, build_trees(cfg)
        return old

    async def status(self, service: str, now: float) -> Outcome:
        # `now` is the event loop's clock, which is time.monotonic(): the clock the runner's timers expect.
        result = await self.runner.status_service(self.trees[service], now)
        return result.ok, result.message


class ServicesShell:
    def __init__(self, daemon: Daemon, backend: Any | None = None) -> None:
        self.daemon = daemon
        cfg = daemon.config
        self.specs = service_specs(cfg)
        self.core = ServiceManager(self.specs, {n.nodeid: n.name for n in cfg.nodes}, daemon.local.nodeid)
        self.core.safely_gone = daemon.fencing.core.is_safely_gone
        self.backend = backend
        self.running: dict[str, str] = {}
        self.locks: dict[str, asyncio.Lock] = {name: asyncio.Lock() for name in self.specs}
        self.tasks: set[asyncio.Task[None]] = set()
        self.waiting: dict[int, asyncio.Future[RequestDone]] = {}
        self.ready = asyncio.Event()
        self.status_task: asyncio.Task[None] | None = None

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    # ----------------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Stop-before-start (R-30): nothing configured may run here before this node joins."""
        if self.backend is None and self.specs:
            try:
                self.backend = ResourceBackend(self.daemon)
            except ImportError as exc:
                self.daemon.log_line(f"resource agents unavailable ({exc}): services cannot run here", "warning")
        if self.specs and self.backend is not None:
            self.daemon.membership.set_dirty(self.now(), True)
            self.daemon.log_line(f"stopping {len(self.specs)} configured service(s) locally before joining (R-30)")
            await asyncio.gather(*(self._stop_quietly(name) for name in self.specs))
            self.daemon.membership.set_dirty(self.now(), False)
        self.ready.set()
        self.status_task = asyncio.get_running_loop().create_task(self._status_loop())

    async def _stop_quietly(self, name: str) -> None:
        assert self.backend is not None
        ok, message = await self.backend.stop(name)
        if not ok:
            self.daemon.log_line(f"initial stop of service:{name} failed: {message}", "warning")

    async def stop_everything(self, reason: str) -> None:
        names = [n for n, state in self.running.items() if state != "failed"]
        if names:
            self.daemon.log_line(f"emergency stop of {', '.join('service:' + n for n in names)}: {reason}", "warning")
        await asyncio.gather(*(self._run_stop(name, 0, report=False) for name in names))

    def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        if self.status_task is not None:
            self.status_task.cancel()

    # ------------------------------------------------------------------------------------- effects

    def carry_out(self) -> None:
        for effect in self.core.take_effects():
            if isinstance(effect, StartLocal):
                self._spawn(self._run_start(effect.service, effect.cmd))
            elif isinstance(effect, StopLocal):
                self._spawn(self._run_stop(effect.service, effect.cmd))
            elif isinstance(effect, FenceForService) and effect.nodeid == self.daemon.local.nodeid:
                # A stop failed here and this node coordinates: nobody else will fence it, so it fences itself.
                self.daemon.self_fence(effect.reason)
            elif isinstance(effect, FenceForService):
                stamp = self.daemon.membership.stamps().get(effect.nodeid, (0, 0))
                self.daemon.fencing.core.add_victim(
                    self.now(), effect.nodeid, stamp[0], stamp[1], effect.reason, force=True
                )
            elif isinstance(effect, RequestDone):
                future = self.waiting.pop(effect.req, None)
                if future is not None and not future.done():
                    future.set_result(effect)
            elif isinstance(effect, Send):
                self.daemon.send(effect)
            elif isinstance(effect, Log):
                self.daemon.log_line(effect.text, effect.level)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)  # type: ignore[arg-type]
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _set(self, name: str, state: str | None) -> None:
        if state is None:
            self.running.pop(name, None)
        else:
            self.running[name] = state
        self.daemon.membership.set_dirty(self.now(), bool(self.running))
        self.core.local_state(self.now(), self.running)
        self.daemon.flush()

    def _report(self, name: str, cmd: int, outcome: str, detail: str) -> None:
        self.core.executor_report(self.now(), name, cmd, outcome, detail)
        self.daemon.flush()

    async def _run_start(self, name: str, cmd: int) -> None:
        async with self.locks[name]:
            if self.backend is None:
                self._report(name, cmd, "start_failed", "resource agents are not available on this node")
                return
            if not self.daemon.membership.quorum.quorate:
                self._report(name, cmd, "start_failed", "this node is not quorate")
                return
            self._set(name, "starting")
            ok, message = await self.backend.start(name)
            self._set(name, "started" if ok else None)
            self.daemon.log_line(f"service:{name} started" if ok else f"#68: Failed to start service:{name}: {message}")
            self._report(name, cmd, "started" if ok else "start_failed", message)

    async def _run_stop(self, name: str, cmd: int, *, report: bool = True, tree: Any | None = None) -> None:
        async with self.locks.setdefault(name, asyncio.Lock()):
            if self.backend is None:
                if report:
                    self._report(name, cmd, "stopped", "nothing runs here")
                return
            self._set(name, "stopping")
            ok, message = await (self.backend.stop(name, tree) if tree is not None else self.backend.stop(name))
            self._set(name, None if ok else "failed")
            if not ok:
                self.daemon.log_line(f"#12: service:{name} failed to stop; intervention required: {message}", "warning")
            if report:
                self._report(name, cmd, "stopped" if ok else "stop_failed", message)

    def reconfigure(self, old: ClusterConfig, cfg: ClusterConfig) -> None:
        """A new cluster.conf is active (R-90): a removed service stops here if it runs here; a service whose
        resources changed restarts here, with the old tree's stop and the new tree's start; placement changes
        and added services are the core's (an added one stays stopped, R-92)."""
        from quorate.config.changes import plan_change

        change = plan_change(old, cfg)
        self.specs = service_specs(cfg)
        for name in self.specs:
            self.locks.setdefault(name, asyncio.Lock())
        old_trees: dict[str, Any] = {}
        if isinstance(self.backend, ResourceBackend):
            old_trees = self.backend.replace_trees(cfg)
        elif self.backend is None and self.specs:  # the first services of a cluster that started without any
            try:
                self.backend = ResourceBackend(self.daemon)
            except ImportError as exc:
                self.daemon.log_line(f"resource agents unavailable ({exc}): services cannot run here", "warning")
            if "rgmanager" not in self.daemon.subsystems:
                self.daemon.subsystems.add("rgmanager")
        for item in change.services:
            if item.action == "add" and self.backend is not None:
                # a new service is initialised by stopping its resources here, in case any is active
                self.daemon.log_line(f"Initializing service:{item.name}")
                self._spawn(self._run_stop(item.name, 0, report=False))
        for item in change.services:
            state = self.running.get(item.name)
            if item.action == "remove" and state is not None:
                self.daemon.log_line(f"service:{item.name} removed from the configuration: stopping it here")
                self._spawn(self._run_stop(item.name, 0, report=False, tree=old_trees.get(item.name)))
            elif item.action == "restart" and state == "started":
                why = "; ".join(item.causes) or "its resources changed"
                self.daemon.log_line(f"service:{item.name} restarts here for the new configuration: {why}")
                self._spawn(self._restart_for_config(item.name, old_trees.get(item.name)))
        self.core.reconfigure(self.now(), self.specs)

    async def _restart_for_config(self, name: str, old_tree: Any | None) -> None:
        await self._run_stop(name, 0, report=False, tree=old_tree)
        if name not in self.running and self.backend is not None and name in self.specs:
            async with self.locks[name]:
                self._set(name, "starting")
                ok, message = await self.backend.start(name)
                self._set(name, "started" if ok else None)
            failed = f"#68: Failed to start service:{name}: {message}"
            self.daemon.log_line(f"service:{name} restarted" if ok else failed)
            if not ok:
                self._report(name, 0, "status_failed", message)

    async def _status_loop(self) -> None:
        while True:
            interval = min((s.status_interval for s in self.specs.values()), default=10.0)
            await asyncio.sleep(max(interval, 1.0))
            for name, state in list(self.running.items()):
                if state != "started" or self.backend is None or self.locks[name].locked():
                    continue
                async with self.locks[name]:
                    if self.running.get(name) != "started":
                        continue
                    ok, message = await self.backend.status(name, self.now())
                if not ok:
                    self.daemon.log_line(f"status check of service:{name} failed: {message}", "warning")
                    self._report(name, 0, "status_failed", message)

    # ------------------------------------------------------------------------------------ requests

    async def request(self, op: str, service: str, target: int, timeout: float = 300.0) -> RequestDone:
        future: asyncio.Future[RequestDone] = asyncio.get_running_loop().create_future()
        req = self.core.request(self.now(), op, service, target)
        self.waiting[req] = future
        self.daemon.flush()
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return RequestDone(req, False, "Temporary failure; try again", 0)
        finally:
            self.waiting.pop(req, None)
